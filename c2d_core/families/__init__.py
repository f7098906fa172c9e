"""The model families the pack adapts, one declared FamilySpec each (families/spec.py), and the lookups from a
family id or a ComfyUI model config to them. A new family: one module with its SPEC + one REGISTRY line."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from . import chroma, flux, flux2, qwen_image, sd3, sd15, sdxl, wan, z_image
from .dit_layout import DiTLayout
from .layout import UNetLayout
from .spec import FamilySpec, objective_of

REGISTRY: dict[str, FamilySpec] = {spec.name: spec for spec in (
    sd15.SPEC,
    sdxl.SPEC,
    flux.SPEC,
    flux2.SPEC,
    chroma.SPEC,
    sd3.SPEC,
    qwen_image.SPEC,
    z_image.SPEC,
    wan.SPEC,
)}

# Derived views (read by the CLI's choices, the nodes and tests)
FAMILIES: dict[str, UNetLayout | DiTLayout] = {name: spec.layout for name, spec in REGISTRY.items()}
# ComfyUI model_config class names → family ids. Inpainting checkpoints use the same classes (ComfyUI tells them
# apart by the UNet's input channels); fine-tunes use their base's class.
COMFY_CONFIG_FAMILY: dict[str, str] = {c: spec.name for spec in REGISTRY.values() for c in spec.comfy_configs}

__all__ = ["COMFY_CONFIG_FAMILY", "FAMILIES", "REGISTRY", "DiTLayout", "FamilySpec", "UNetLayout", "comfy_config_family",
           "family_from_comfy_config", "family_layout", "family_name", "family_spec", "objective_of",
           "supported_names"]


def _joined(names: list[str], word: str) -> str:
    return f"{', '.join(names[:-1])} {word} {names[-1]}" if len(names) > 1 else "".join(names)


def supported_names(word: str = "or", suffix: str = "", *, trainable: bool = False) -> str:
    """"SD1.5, SDXL, … or Chroma" (the registered families' display names, each + suffix; trainable: only those the
    trainer trains)."""
    return _joined([spec.display_name + suffix for spec in REGISTRY.values() if spec.trains or not trainable], word)


def family_name(family: str) -> str:
    """"sdxl" → "SDXL" (the id itself for an unknown family)."""
    return REGISTRY[family].display_name if family in REGISTRY else family


def family_spec(family: str) -> FamilySpec:
    if family not in REGISTRY:
        raise UnsupportedModelError(
            f"model family {family!r} is not supported; supported: {sorted(REGISTRY)} "
            f"({supported_names()} checkpoints, their fine-tunes and inpainting versions)")
    return REGISTRY[family]


def family_layout(family: str) -> UNetLayout | DiTLayout:
    return family_spec(family).layout


def comfy_config_family(config_name: str) -> str | None:
    """ComfyUI model_config class name → our family id, None when no registered family has it."""
    return next((spec.name for spec in REGISTRY.values() if config_name in spec.comfy_configs), None)


def family_from_comfy_config(config_name: str, *, what: str = "the model", fix: str | None = None) -> str:
    """ComfyUI model_config class name (e.g. "SD15", "SDXL") → our family id, or an error naming the model and the fix
    (default: load a checkpoint of a supported family)."""
    family = comfy_config_family(config_name)
    if family is None:
        configs = sorted(c for spec in REGISTRY.values() for c in spec.comfy_configs)
        raise UnsupportedModelError(
            f"{what} is a {config_name} model, but CLAP2Diffusion supports {supported_names('and', '-family')} "
            "models only "
            f"(base models, their fine-tunes and inpainting checkpoints; supported ComfyUI configs: {configs}); "
            f"{fix or f'load an {supported_names()} checkpoint'}")
    return family
