"""Which kind of model the trainer holds, from its declared family (c2d_core.families), never from its keys."""
from __future__ import annotations

from c2d_core.families import comfy_config_family, family_spec


def model_family(base_model) -> str | None:
    """Our family id of a ComfyUI BaseModel (its model_config class), None for one the pack does not know."""
    return comfy_config_family(type(base_model.model_config).__name__)


def is_dit(base_model) -> bool:
    """Whether the model's family attaches the branch to DiT blocks (and takes its conditioning from extra_conds)."""
    family = model_family(base_model)
    return family is not None and family_spec(family).layout.attach != "unet_transformer"


def caches_pooled(family: str) -> bool:
    """Whether a family's training cache holds pooled text vectors: SDXL's ADM, Flux.1's and SD3's `y`."""
    layout = family_spec(family).layout
    return layout.adm_in_channels is not None or getattr(layout, "pooled", False)


def reads_pooled(base_model) -> bool:
    """Whether a DiT reads a pooled text vector beside the tokens (Flux.1, SD3): its training cache must hold one."""
    return is_dit(base_model) and caches_pooled(model_family(base_model))
