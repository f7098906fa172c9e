"""Z-Image (ComfyUI 0.33+; Lumina 2's NextDiT at 3840 wide, 30 heads of 128, 30 layers). ComfyUI calls the
`patches["double_block"]` patch after each main layer with its image tokens: the branch attaches there."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="z_image",
    layout=DiTLayout(name="Z-Image", hidden_size=3840, num_heads=30, double_blocks=30, double_attr="layers",
                     attach="dit_after_block", lora_targets=("attention.qkv", "attention.out")),
    comfy_configs=("ZImage",),
    comfy_class="ZImage",
    objective="flow",
    clip_type="LUMINA2",
)
