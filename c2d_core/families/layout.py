"""A UNet family's declared layout: which transformer blocks exist and how wide they are, without a model.

The block list is derived from the family's UNet config by the same rule the LDM UNet uses to
build itself (ComfyUI's `UNetModel`); tests check it against block discovery on ComfyUI's own UNet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

from ..config import UNET_PLACEMENTS, BlockSpec, PlacementRule
from ..unet_blocks import discover_blocks


@dataclass(frozen=True)
class UNetLayout:
    """The UNet config fields that decide which transformer blocks exist and how wide they are.

    transformer_depth: transformer blocks per SpatialTransformer at each resolution level (0 = no attention);
    the decoder uses the same depth per level, the middle block `transformer_depth_middle`.
    Heads: `num_heads` fixed per block (SD1.5: 8), or width // `num_head_channels` (SDXL: 64-wide heads).
    adm_in_channels: width of the vector conditioning `y` (SDXL: 2816 = pooled 1280 + 6 × 256 size/crop
    embeddings); None when the family has none.
    """

    name: str                          # shown to users: "SD1.5", "SDXL"
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    transformer_depth: tuple[int, ...]
    transformer_depth_middle: int
    context_dim: int
    num_heads: int = -1
    num_head_channels: int = -1
    adm_in_channels: int | None = None

    # The branch attaches through ComfyUI's transformer-block patches (patch.AudioAttentionPatch.hooks)
    attach: ClassVar[str] = "unet_transformer"
    placements: ClassVar[Mapping[str, PlacementRule]] = UNET_PLACEMENTS
    discover = staticmethod(discover_blocks)  # (loaded UNet) → (blocks, context_dim), asked from the model

    def __post_init__(self):
        if len(self.transformer_depth) != len(self.channel_mult):
            raise ValueError("transformer_depth needs one entry per channel_mult level")
        if (self.num_heads > 0) == (self.num_head_channels > 0):
            raise ValueError("give exactly one of num_heads and num_head_channels")

    @property
    def decoder_blocks(self) -> int:
        """How many output (decoder) blocks the UNet has (SD1.5 12, SDXL 9)."""
        return len(self.channel_mult) * (self.num_res_blocks + 1)

    def _specs(self, stage: str, number: int, width: int, depth: int) -> list[BlockSpec]:
        heads = self.num_heads if self.num_heads > 0 else width // self.num_head_channels
        return [BlockSpec(key=f"{stage}_{number}_{i}", query_dim=width, heads=heads, dim_head=width // heads)
                for i in range(depth)]

    def blocks(self) -> tuple[BlockSpec, ...]:
        """Every transformer block, in the order the UNet runs them."""
        out, number = [], 1  # input block 0 is the stem conv
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                out += self._specs("input", number, self.model_channels * mult, self.transformer_depth[level])
                number += 1
            if level != len(self.channel_mult) - 1:
                number += 1  # downsample block
        out += self._specs("middle", 0, self.model_channels * self.channel_mult[-1], self.transformer_depth_middle)
        number = 0
        for level in reversed(range(len(self.channel_mult))):
            for _ in range(self.num_res_blocks + 1):
                out += self._specs("output", number, self.model_channels * self.channel_mult[level],
                                   self.transformer_depth[level])
                number += 1
        return tuple(out)
