"""A model family, declared: what the nodes and the trainer need to know about it, in one place.

Adding a family is one module that defines `SPEC = FamilySpec(...)` and one line in `families/__init__.py`'s
REGISTRY; nothing else branches on the family's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..pnp_blocks import PnPBlocks
from .dit_layout import DiTLayout
from .layout import UNetLayout

# ComfyUI model_sampling classes → the training objective they define (the most derived class in the MRO wins:
# V_PREDICTION derives from EPS). Read by name, so c2d_core imports nothing of ComfyUI.
OBJECTIVES = {"EPS": "eps", "V_PREDICTION": "v", "CONST": "flow", "EDM": "edm"}


@dataclass(frozen=True)
class FamilySpec:
    """name: the family id in adapter files (`base_family`), configs and the CLI ("sd15");
    layout: the declared block layout (display name, widths, token width, ADM width; blocks() without a model), and
            through its kind: how blocks are asked from the loaded model (`discover`), the placement presets
            (`placements`) and the host hook that attaches the branch (`attach`: UNet transformer patches or DiT
            block replacement);
    comfy_configs: ComfyUI `model_config` class names of this family (base, fine-tunes, inpainting, pix2pix);
    comfy_class: the `comfy.supported_models` class the trainer builds its tiny model from;
    objective: what the trainer's loss predicts ("eps"; OBJECTIVES), checked against the checkpoint's model_sampling;
    pnp: the Plug-and-Play blocks the edit copies by default, or None (the sampler then needs explicit blocks);
    edit_presets: an edit preset's own blocks on this family ("sonicdiffusion");
    trains: whether `python -m training` trains on this family yet (`init` makes adapters for every family);
    frame_stride: video families: video frames per latent frame (Wan's VAE: 4, the first frame alone); 0 = images;
    clip_type: ComfyUI's CLIPType name for this family's separate text encoder files (CLIPLoader's "type"), which
               `prepare` loads beside a diffusion-model-only file ("FLUX"); "" for families whose checkpoints
               carry their encoders.
    Blocks are always discovered from the loaded model (`layout.discover`); `layout` is checked against it.
    """

    name: str
    layout: UNetLayout | DiTLayout
    comfy_configs: tuple[str, ...]
    comfy_class: str
    objective: str = "eps"
    pnp: PnPBlocks | None = None
    edit_presets: Mapping[str, PnPBlocks] = field(default_factory=dict)
    trains: bool = True
    frame_stride: int = 0
    clip_type: str = ""

    def __post_init__(self):
        if self.objective not in OBJECTIVES.values():
            raise ValueError(f"{self.name}: objective must be one of {sorted(set(OBJECTIVES.values()))}")

    @property
    def display_name(self) -> str:
        return self.layout.name


def objective_of(model_sampling) -> str | None:
    """The objective of a ComfyUI model_sampling object ("eps", "v", "flow", "edm"), None when none is known."""
    for cls in type(model_sampling).__mro__:
        if cls.__name__ in OBJECTIVES:
            return OBJECTIVES[cls.__name__]
    return None
