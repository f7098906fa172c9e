"""Qwen-Image (and Qwen-Image-Edit): 60 double-stream blocks, 3072 wide (24 heads of 128)."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="qwen_image",
    layout=DiTLayout(name="Qwen-Image", hidden_size=3072, num_heads=24, double_blocks=60,
                     double_attr="transformer_blocks"),
    comfy_configs=("QwenImage",),
    comfy_class="QwenImage",
    objective="flow",
    trains=False,  # the trainer on DiTs is not built yet
)
