"""Ask a UNet which transformer blocks it has (no hard-coded block lists).

Works by duck typing on the LDM/ComfyUI `UNetModel` layout (`input_blocks`, `middle_block`,
`output_blocks`, SpatialTransformer modules with `transformer_blocks` whose `attn2` is the text
cross-attention); imports nothing from ComfyUI.
"""
from __future__ import annotations

import torch.nn as nn

from .config import BlockSpec
from .errors import UnsupportedModelError


def _attn_dims(block: nn.Module) -> tuple[int, int, int, int]:
    """(query_dim, context_dim, heads, dim_head) of a BasicTransformerBlock's text cross-attention."""
    attn2 = block.attn2
    query_dim = attn2.to_q.in_features
    context_dim = attn2.to_k.in_features
    heads = attn2.heads
    dim_head = attn2.dim_head
    return query_dim, context_dim, heads, dim_head


def discover_blocks(unet: nn.Module) -> tuple[tuple[BlockSpec, ...], int]:
    """Return (blocks, context_dim) in the order the UNet runs them.

    Block keys match ComfyUI's transformer_options: ("input", 1) with block_index 0 → "input_1_0".
    """
    stages = []
    for stage, attr in (("input", "input_blocks"), ("middle", "middle_block"), ("output", "output_blocks")):
        container = getattr(unet, attr, None)
        if container is None:
            raise UnsupportedModelError(
                f"diffusion model {type(unet).__name__} has no '{attr}': only UNet (SD1.x-style) models "
                "are supported by this adapter")
        numbered = [(0, container)] if stage == "middle" else list(enumerate(container))
        stages.append((stage, numbered))

    blocks, contexts = [], set()
    for stage, numbered in stages:
        for number, module in numbered:
            for sub in module.modules():
                tblocks = getattr(sub, "transformer_blocks", None)
                if tblocks is None:
                    continue
                for index, tb in enumerate(tblocks):
                    if getattr(tb, "attn2", None) is None:
                        continue
                    q, c, h, dh = _attn_dims(tb)
                    contexts.add(c)
                    blocks.append(BlockSpec(key=f"{stage}_{number}_{index}", query_dim=q, heads=h, dim_head=dh))
    if not blocks:
        raise UnsupportedModelError("this UNet has no cross-attention transformer blocks to attach audio to")
    if len(contexts) != 1:
        raise UnsupportedModelError(f"UNet blocks disagree on the context width: {sorted(contexts)}")
    return tuple(blocks), contexts.pop()
