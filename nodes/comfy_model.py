"""Read what c2d_core needs from a ComfyUI MODEL (ModelPatcher): family, UNet blocks, sigmas."""
from __future__ import annotations

from ..c2d_core.families import comfy_config_family, family_from_comfy_config
from ..c2d_core.unet_blocks import discover_blocks


def model_family(model) -> str:
    """ComfyUI model_config class name → our family id, or a clear error naming the model."""
    return family_from_comfy_config(type(model.model.model_config).__name__)


def base_family(base) -> tuple[str | None, str]:
    """A ComfyUI BaseModel (model.model, or what a sampler's model wraps) → (our family id or None, its config name)."""
    name = type(getattr(base, "model_config", None)).__name__
    return comfy_config_family(name), name


def model_blocks(model):
    """(blocks, context_dim) of the model's UNet, asked from the UNet itself."""
    return discover_blocks(model.model.diffusion_model)


def sigma_window(model, start_percent: float, end_percent: float) -> tuple[float, float]:
    sampling = model.get_model_object("model_sampling")
    return float(sampling.percent_to_sigma(start_percent)), float(sampling.percent_to_sigma(end_percent))
