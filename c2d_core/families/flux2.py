"""Flux.2 (dev; ComfyUI 0.33+): 8 double- + 48 single-stream blocks, 6144 wide (the Klein models are narrower:
their blocks are asked from the loaded model)."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="flux2",
    layout=DiTLayout(name="Flux.2", hidden_size=6144, num_heads=48, double_blocks=8, single_blocks=48),
    comfy_configs=("Flux2",),
    comfy_class="Flux2",
    objective="flow",
    clip_type="FLUX2",
    trains=False,  # no tiny Flux.2 to prove the trainer on yet
)
