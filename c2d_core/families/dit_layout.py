"""A DiT family's declared layout: double-stream then (optionally) single-stream blocks of one width.

Used where no model is loaded (`python -m training init --family flux` without a checkpoint); with a model the
blocks are asked from it (dit_blocks.discover_dit_blocks) and must match the adapter's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

from ..config import DIT_PLACEMENTS, BlockSpec, PlacementRule
from ..dit_blocks import discover_dit_blocks


@dataclass(frozen=True)
class DiTLayout:
    """name: shown to users ("Flux.1"); hidden_size: width of the image/text tokens inside the blocks (also the
    audio tokens' width, `context_dim`); num_heads: attention heads of every block; double_blocks / single_blocks:
    how many blocks of each stream the base model has; double_attr / single_attr: the model's ModuleLists of them
    (ComfyUI's names); attach: the host hook — "dit_replace" (ComfyUI's `patches_replace["dit"]` block replacement)
    or "dit_after_block" (Z-Image: the `patches["double_block"]` patch ComfyUI calls after each layer);
    pooled: the model reads a pooled text vector beside the tokens (Flux.1: CLIP-L's, SD3: CLIP-L/G's), so a training
    cache must hold one; lora_targets: the trainer's default LoRA linears (module path suffixes) on this family."""

    name: str
    hidden_size: int
    num_heads: int
    double_blocks: int
    single_blocks: int = 0
    double_attr: str = "double_blocks"
    single_attr: str = "single_blocks"
    attach: str = "dit_replace"
    pooled: bool = False
    lora_targets: tuple[str, ...] = ()
    placements: ClassVar[Mapping[str, PlacementRule]] = DIT_PLACEMENTS
    adm_in_channels: ClassVar[None] = None   # no ADM vector of the UNet kind
    decoder_blocks: ClassVar[int] = 0        # no UNet decoder: Plug-and-Play's blocks do not exist

    def __post_init__(self):
        if self.attach not in ("dit_replace", "dit_after_block"):
            raise ValueError(f"{self.name}: attach must be 'dit_replace' or 'dit_after_block', got {self.attach!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{self.name}: hidden_size {self.hidden_size} is not divisible by {self.num_heads} heads")

    def discover(self, model) -> tuple[tuple[BlockSpec, ...], int]:
        """(blocks, token width) of a loaded transformer of this family, asked from it."""
        return discover_dit_blocks(model, self.double_attr, self.single_attr)

    @property
    def context_dim(self) -> int:
        return self.hidden_size

    def blocks(self) -> tuple[BlockSpec, ...]:
        head = self.hidden_size // self.num_heads
        return tuple(BlockSpec(key=f"{stream}_{i}", query_dim=self.hidden_size, heads=self.num_heads, dim_head=head)
                     for stream, n in (("double", self.double_blocks), ("single", self.single_blocks))
                     for i in range(n))
