"""Stable Diffusion 3 / 3.5 (MMDiT: joint blocks only, 64-wide heads; declared: SD3.5 Large, 38 blocks 2432 wide —
Medium's 24 blocks of 1536 are asked from the loaded model)."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="sd3",
    layout=DiTLayout(name="SD3.5", hidden_size=2432, num_heads=38, double_blocks=38, double_attr="joint_blocks",
                     pooled=True, lora_targets=("attn.qkv", "attn.proj")),
    comfy_configs=("SD3",),
    comfy_class="SD3",
    objective="flow",
    clip_type="SD3",
)
