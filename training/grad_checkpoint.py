"""Gradient checkpointing of the frozen ComfyUI UNet for the trainer.

ComfyUI's own switch (`use_checkpoint`) goes through the old LDM `CheckpointFunction`, which recomputes with the
block's own parameters only: the audio adapter's weights, reached through transformer patches, would get no
gradient. So each ResBlock / SpatialTransformer forward is wrapped in `torch.utils.checkpoint` (non-reentrant),
which follows every tensor the recomputation touches.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def enable_gradient_checkpointing(unet: nn.Module) -> int:
    """Recompute each ResBlock / SpatialTransformer in the backward pass (torch.utils.checkpoint).

    ComfyUI mutates `transformer_options` as the UNet runs ("block", "block_index"), so each call
    gets its own shallow copy: the recomputation then sees the block ids of the original call."""
    from comfy.ldm.modules.attention import SpatialTransformer
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock
    from torch.utils.checkpoint import checkpoint

    n = 0
    for m in unet.modules():
        if isinstance(m, (SpatialTransformer, ResBlock)) and not hasattr(m, "_c2d_checkpointed"):
            inner = m.forward

            def forward(*args, _inner=inner, **kwargs):
                if not torch.is_grad_enabled():
                    return _inner(*args, **kwargs)
                args = tuple(dict(a) if isinstance(a, dict) else a for a in args)
                kwargs = {k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}
                return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

            m.forward = forward
            m._c2d_checkpointed = True
            n += 1
    return n
