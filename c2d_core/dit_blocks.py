"""Ask a DiT which blocks it has (no hard-coded block lists).

Duck typing on ComfyUI's transformers: a ModuleList of double-stream blocks (image and text streams apart) and
optionally one of single-stream blocks (one joint text+image sequence), named per family (Flux / Flux.2 / Chroma:
`double_blocks`, `single_blocks`; SD3: `joint_blocks`; Qwen-Image: `transformer_blocks`; Z-Image: `layers`; Wan:
`blocks`). Width and heads are read from the block where it keeps them (`hidden_size` / `hidden_dim` / `dim`,
`num_heads` / `num_attention_heads`), else from the model (`hidden_size` / `inner_dim` / `dim`, `num_heads` /
`n_heads`). Imports nothing from ComfyUI.
"""
from __future__ import annotations

import torch.nn as nn

from .config import BlockSpec
from .errors import UnsupportedModelError

WIDTH_NAMES = ("hidden_size", "hidden_dim", "dim", "inner_dim")
HEADS_NAMES = ("num_heads", "num_attention_heads", "n_heads")


def _read(block: nn.Module, model: nn.Module, names: tuple[str, ...]) -> int:
    for source in (block, model):
        for name in names:
            value = getattr(source, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return 0


def discover_dit_blocks(model: nn.Module, double_attr: str = "double_blocks",
                        single_attr: str = "single_blocks") -> tuple[tuple[BlockSpec, ...], int]:
    """(blocks, token width): "double_<i>" then "single_<i>", in the order the model runs them; the audio tokens are
    as wide as the hidden states (the width the text tokens have inside the joint attention)."""
    if getattr(model, double_attr, None) is None:
        raise UnsupportedModelError(
            f"diffusion model {type(model).__name__} has no '{double_attr}': it is not a model of the adapter's "
            "family; load a model of that family")
    blocks = []
    for stream, attr in (("double", double_attr), ("single", single_attr)):
        for i, block in enumerate(getattr(model, attr, None) or ()):
            width, heads = _read(block, model, WIDTH_NAMES), _read(block, model, HEADS_NAMES)
            if width <= 0 or heads <= 0 or width % heads:
                raise UnsupportedModelError(f"{attr}[{i}] of {type(model).__name__} has no readable width")
            blocks.append(BlockSpec(key=f"{stream}_{i}", query_dim=width, heads=heads, dim_head=width // heads))
    widths = {b.query_dim for b in blocks}
    if not blocks or len(widths) != 1:
        raise UnsupportedModelError(
            f"{type(model).__name__}: found no blocks, or blocks of several widths {sorted(widths)}")
    return tuple(blocks), widths.pop()
