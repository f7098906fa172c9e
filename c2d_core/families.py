"""Declared UNet layouts of the supported model families, for making an adapter without a model.

The block list is derived from the family's UNet config by the same rule the LDM UNet uses to
build itself (ComfyUI's `UNetModel`); tests check it against block discovery on ComfyUI's own UNet.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import BlockSpec
from .errors import UnsupportedModelError


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

    def __post_init__(self):
        if len(self.transformer_depth) != len(self.channel_mult):
            raise ValueError("transformer_depth needs one entry per channel_mult level")
        if (self.num_heads > 0) == (self.num_head_channels > 0):
            raise ValueError("give exactly one of num_heads and num_head_channels")

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


FAMILIES = {
    "sd15": UNetLayout(name="SD1.5", model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                       transformer_depth=(1, 1, 1, 0), transformer_depth_middle=1, num_heads=8, context_dim=768),
    # comfy.supported_models.SDXL: transformer_depth [0, 0, 2, 2, 10, 10] per input block, 64-wide heads.
    "sdxl": UNetLayout(name="SDXL", model_channels=320, channel_mult=(1, 2, 4), num_res_blocks=2,
                       transformer_depth=(0, 2, 10), transformer_depth_middle=10, num_head_channels=64,
                       context_dim=2048, adm_in_channels=2816),
}

# ComfyUI model_config class names → family ids (the node layer reads the class name). Inpainting checkpoints
# use the same classes (ComfyUI tells them apart by the UNet's input channels); SDXL fine-tunes are "SDXL".
COMFY_CONFIG_FAMILY = {"SD15": "sd15", "SD15_instructpix2pix": "sd15",
                       "SDXL": "sdxl", "SDXL_instructpix2pix": "sdxl"}


def family_name(family: str) -> str:
    """"sdxl" → "SDXL" (the id itself for an unknown family)."""
    return FAMILIES[family].name if family in FAMILIES else family


def family_from_comfy_config(config_name: str, *, what: str = "the model",
                             fix: str = "load an SD1.5 or SDXL checkpoint") -> str:
    """ComfyUI model_config class name (e.g. "SD15", "SDXL") → our family id, or an error naming the model and the fix."""
    family = COMFY_CONFIG_FAMILY.get(config_name)
    if family is None:
        raise UnsupportedModelError(
            f"{what} is a {config_name} model, but CLAP2Diffusion supports SD1.5-family and SDXL-family UNets only "
            f"(base models, their fine-tunes and inpainting checkpoints; supported ComfyUI configs: "
            f"{sorted(COMFY_CONFIG_FAMILY)}); {fix}")
    return family


def family_layout(family: str) -> UNetLayout:
    if family not in FAMILIES:
        raise UnsupportedModelError(
            f"model family {family!r} is not supported; supported: {sorted(FAMILIES)} "
            "(SD1.5 and SDXL checkpoints, their fine-tunes and inpainting versions)")
    return FAMILIES[family]
