"""Declared UNet layouts of the supported model families, for making an adapter without a model.

The block list is derived from the family's UNet config by the same rule the LDM UNet uses to
build itself; tests check it against block discovery on the real ComfyUI UNet.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import BlockSpec
from .errors import UnsupportedModelError


@dataclass(frozen=True)
class UNetLayout:
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[int, ...]   # levels (0-based) whose blocks have a SpatialTransformer
    num_heads: int
    context_dim: int
    transformer_depth: int = 1
    middle_attention: bool = True

    def blocks(self) -> tuple[BlockSpec, ...]:
        def spec(stage, number, width):
            return [BlockSpec(key=f"{stage}_{number}_{i}", query_dim=width, heads=self.num_heads,
                              dim_head=width // self.num_heads) for i in range(self.transformer_depth)]
        out, number = [], 1  # input block 0 is the stem conv
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                if level in self.attention_levels:
                    out += spec("input", number, self.model_channels * mult)
                number += 1
            if level != len(self.channel_mult) - 1:
                number += 1  # downsample block
        if self.middle_attention:
            out += spec("middle", 0, self.model_channels * self.channel_mult[-1])
        number = 0
        for level in reversed(range(len(self.channel_mult))):
            for _ in range(self.num_res_blocks + 1):
                if level in self.attention_levels:
                    out += spec("output", number, self.model_channels * self.channel_mult[level])
                number += 1
        return tuple(out)


FAMILIES = {
    "sd15": UNetLayout(model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                       attention_levels=(0, 1, 2), num_heads=8, context_dim=768),
}

# ComfyUI model_config class names → family ids (the node layer reads the class name).
COMFY_CONFIG_FAMILY = {"SD15": "sd15", "SD15_instructpix2pix": "sd15"}


def family_from_comfy_config(config_name: str, *, what: str = "the model", fix: str = "load an SD1.5 checkpoint") -> str:
    """ComfyUI model_config class name (e.g. "SD15") → our family id, or an error naming the model and the fix."""
    family = COMFY_CONFIG_FAMILY.get(config_name)
    if family is None:
        raise UnsupportedModelError(
            f"{what} is a {config_name} model, but CLAP2Diffusion supports SD1.5-family models only (SD1.5 and "
            f"SD1.5-inpainting; supported ComfyUI configs: {sorted(COMFY_CONFIG_FAMILY)}); {fix}")
    return family


def family_layout(family: str) -> UNetLayout:
    if family not in FAMILIES:
        raise UnsupportedModelError(
            f"model family {family!r} is not supported yet; supported: {sorted(FAMILIES)} "
            "(SD1.5 and SD1.5-inpainting checkpoints)")
    return FAMILIES[family]
