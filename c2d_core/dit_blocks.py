"""Ask a Flux-style DiT which blocks it has (no hard-coded block lists).

Duck typing on ComfyUI's Flux / Flux.2 / Chroma transformers (`comfy/ldm/flux/model.py`, `comfy/ldm/chroma/model.py`):
`double_blocks` (image and text streams apart) and `single_blocks` (one joint text+image sequence), each block
with `num_heads` and its width (`hidden_size`, or `hidden_dim` on single blocks). Imports nothing from ComfyUI.
"""
from __future__ import annotations

import torch.nn as nn

from .config import BlockSpec
from .errors import UnsupportedModelError

STREAMS = (("double", "double_blocks"), ("single", "single_blocks"))


def _width(block: nn.Module, model: nn.Module) -> int:
    width = getattr(block, "hidden_size", None) or getattr(block, "hidden_dim", None) or getattr(model, "hidden_size", 0)
    return int(width)


def discover_dit_blocks(model: nn.Module) -> tuple[tuple[BlockSpec, ...], int]:
    """(blocks, token width): "double_<i>" then "single_<i>", in the order the model runs them; the audio tokens are
    as wide as the hidden states (the width the text tokens have inside the joint attention)."""
    if getattr(model, "double_blocks", None) is None:
        raise UnsupportedModelError(
            f"diffusion model {type(model).__name__} has no 'double_blocks': this adapter attaches to Flux-style "
            "transformers (Flux, Flux.2, Chroma); load a model of the adapter's family")
    blocks = []
    for stream, attr in STREAMS:
        for i, block in enumerate(getattr(model, attr, None) or ()):
            width, heads = _width(block, model), int(block.num_heads)
            if width <= 0 or width % heads:
                raise UnsupportedModelError(f"{attr}[{i}] of {type(model).__name__} has no readable width")
            blocks.append(BlockSpec(key=f"{stream}_{i}", query_dim=width, heads=heads, dim_head=width // heads))
    widths = {b.query_dim for b in blocks}
    if not blocks or len(widths) != 1:
        raise UnsupportedModelError(f"{type(model).__name__}: found no blocks, or blocks of several widths {sorted(widths)}")
    return tuple(blocks), widths.pop()
