"""Gradient checkpointing of the frozen ComfyUI UNet or DiT for the trainer.

ComfyUI's own switch (`use_checkpoint`) goes through the old LDM `CheckpointFunction`, which recomputes with the
block's own parameters only: the audio adapter's weights, reached through transformer patches, would get no
gradient. So each ResBlock / SpatialTransformer forward is wrapped in `torch.utils.checkpoint` (non-reentrant),
which follows every tensor the recomputation touches.

DiT blocks (ComfyUI's Flux, SD3, Qwen-Image … blocks) update their own inputs in place (`img += attn`), which
torch.utils.checkpoint would recompute from the updated values. They are recomputed by `RecomputeBlock` instead: the
forward pass runs the block without a graph on copies of its inputs; the backward pass runs it again with a graph
(objective.inplace_safe_autograd) and backpropagates through it, as torch's reentrant checkpoint does.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def _is_dit(layout) -> bool:
    return layout is not None and layout.attach != "unet_transformer"


def checkpointed_modules(net: nn.Module, layout=None) -> list[nn.Module]:
    """The modules recomputed: a UNet's ResBlocks / SpatialTransformers, or the blocks of a DiT `layout`
    (c2d_core.families.DiTLayout: its double_attr / single_attr ModuleLists)."""
    if _is_dit(layout):
        return [m for attr in (layout.double_attr, layout.single_attr) for m in getattr(net, attr, None) or ()]
    from comfy.ldm.modules.attention import SpatialTransformer
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock
    return [m for m in net.modules() if isinstance(m, (SpatialTransformer, ResBlock))]


def enable_gradient_checkpointing(unet: nn.Module, layout=None) -> int:
    """Recompute each module of `checkpointed_modules` in the backward pass (torch.utils.checkpoint).

    ComfyUI mutates `transformer_options` as the model runs ("block", "block_index"), so each call
    gets its own shallow copy: the recomputation then sees the block ids of the original call."""
    from torch.utils.checkpoint import checkpoint

    recompute = _is_dit(layout)
    anchor = torch.zeros((), requires_grad=True)   # gives every recomputed block a backward (LoRA weights inside)
    n = 0
    for m in checkpointed_modules(unet, layout):
        if not hasattr(m, "_c2d_checkpointed"):
            inner = m.forward

            def forward(*args, _inner=inner, **kwargs):
                if not torch.is_grad_enabled():
                    return _inner(*args, **kwargs)
                if recompute:
                    return recompute_block(_inner, anchor, args, kwargs)
                args = tuple(dict(a) if isinstance(a, dict) else a for a in args)
                kwargs = {k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}
                return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

            m.forward = forward
            m._c2d_checkpointed = True
            n += 1
    return n


class RecomputeBlock(torch.autograd.Function):
    """run(*tensors) → a tensor or a tuple of tensors. Forward: without a graph, on copies of the tensors (the block's
    in-place updates never reach the caller's). Backward: run again with a graph on fresh copies, in-place safe, and
    backpropagate; gradients reach the inputs and every weight inside (LoRA layers) directly."""

    @staticmethod
    def forward(ctx, run, anchor, *tensors):
        ctx.run = run
        ctx.save_for_backward(*tensors)
        with torch.no_grad():
            out = run(*[t.clone() for t in tensors])
        ctx.single = torch.is_tensor(out)
        return (out,) if ctx.single else tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        from .objective import inplace_safe_autograd

        inputs = [t.detach().requires_grad_(t.requires_grad) for t in ctx.saved_tensors]
        with torch.enable_grad(), inplace_safe_autograd():
            out = ctx.run(*[t.clone() if t.requires_grad else t for t in inputs])
        outs = (out,) if ctx.single else tuple(out)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        if pairs:
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, *[t.grad if t.requires_grad else None for t in inputs])


def recompute_block(inner, anchor: torch.Tensor, args: tuple, kwargs: dict):
    """inner(*args, **kwargs) through RecomputeBlock: its tensor arguments (top level) are the Function's inputs;
    dict arguments (transformer_options) are copied per call, as ComfyUI mutates them."""
    values = list(args) + list(kwargs.values())
    keys = list(kwargs)
    where = [i for i, v in enumerate(values) if torch.is_tensor(v)]
    single = []

    def run(*tensors):
        vals = list(values)
        for i, t in zip(where, tensors):
            vals[i] = t
        vals = [dict(v) if isinstance(v, dict) else v for v in vals]
        out = inner(*vals[:len(args)], **dict(zip(keys, vals[len(args):])))
        single[:] = [torch.is_tensor(out)]
        return out

    out = RecomputeBlock.apply(run, anchor, *[values[i] for i in where])
    return out[0] if single[0] else out
