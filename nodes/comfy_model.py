"""Read what c2d_core needs from a ComfyUI MODEL (ModelPatcher): family, UNet blocks, sigmas."""
from __future__ import annotations

from ..c2d_core.errors import UnsupportedModelError
from ..c2d_core.families import COMFY_CONFIG_FAMILY
from ..c2d_core.unet_blocks import discover_blocks


def model_family(model) -> str:
    """ComfyUI model_config class name → our family id, or a clear error naming the model."""
    name = type(model.model.model_config).__name__
    family = COMFY_CONFIG_FAMILY.get(name)
    if family is None:
        raise UnsupportedModelError(
            f"the model is {name}, but CLAP2Diffusion adapters currently support SD1.5-family models only "
            "(SD1.5 and SD1.5-inpainting); load an SD1.5 checkpoint")
    return family


def model_blocks(model):
    """(blocks, context_dim) of the model's UNet, asked from the UNet itself."""
    return discover_blocks(model.model.diffusion_model)


def sigma_window(model, start_percent: float, end_percent: float) -> tuple[float, float]:
    sampling = model.get_model_object("model_sampling")
    return float(sampling.percent_to_sigma(start_percent)), float(sampling.percent_to_sigma(end_percent))
