"""Qwen-Image (and Qwen-Image-Edit): 60 double-stream blocks, 3072 wide (24 heads of 128)."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="qwen_image",
    layout=DiTLayout(name="Qwen-Image", hidden_size=3072, num_heads=24, double_blocks=60,
                     double_attr="transformer_blocks",
                     lora_targets=("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj",
                                   "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out")),
    comfy_configs=("QwenImage",),
    comfy_class="QwenImage",
    objective="flow",
    clip_type="QWEN_IMAGE",
)
