"""Read what c2d_core needs from a ComfyUI MODEL (ModelPatcher): family, blocks, sigmas; install a patch."""
from __future__ import annotations

from ..c2d_core.families import comfy_config_family, family_from_comfy_config, family_layout


def model_family(model) -> str:
    """ComfyUI model_config class name → our family id, or a clear error naming the model."""
    return family_from_comfy_config(type(model.model.model_config).__name__)


def base_family(base) -> tuple[str | None, str]:
    """A ComfyUI BaseModel (model.model, or what a sampler's model wraps) → (our family id or None, its config name)."""
    name = type(getattr(base, "model_config", None)).__name__
    return comfy_config_family(name), name


def model_blocks(model, family: str | None = None):
    """(blocks, context / token width) of the model's UNet or DiT, asked from the model itself (its family's
    layout says how)."""
    return family_layout(family or model_family(model)).discover(model.model.diffusion_model)


def install_patches(patcher, patches: dict) -> None:
    """Install c2d_core's transformer_patches() on a cloned ModelPatcher through ComfyUI's own setters. A block
    another pack already replaced keeps that replacement, run inside ours (DiTBlockBranch.wrapping)."""
    for name, fns in patches.get("patches", {}).items():
        for fn in fns:
            patcher.set_model_patch(fn, name)
    for kind, entries in patches.get("patches_replace", {}).items():
        existing = patcher.model_options["transformer_options"].get("patches_replace", {}).get(kind, {})
        for (block_name, index), fn in entries.items():
            inner = existing.get((block_name, index))
            patcher.set_model_patch_replace(fn if inner is None else fn.wrapping(inner), kind, block_name, index)


def sigma_window(model, start_percent: float, end_percent: float) -> tuple[float, float]:
    sampling = model.get_model_object("model_sampling")
    return float(sampling.percent_to_sigma(start_percent)), float(sampling.percent_to_sigma(end_percent))
