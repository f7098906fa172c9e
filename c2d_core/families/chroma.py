"""Chroma (Flux.1-schnell-derived, T5 only): 19 double- + 38 single-stream blocks, 3072 wide."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="chroma",
    layout=DiTLayout(name="Chroma", hidden_size=3072, num_heads=24, double_blocks=19, single_blocks=38,
                     lora_targets=("img_attn.qkv", "img_attn.proj", "txt_attn.qkv", "txt_attn.proj", "linear1", "linear2")),
    comfy_configs=("Chroma",),
    comfy_class="Chroma",
    objective="flow",
    clip_type="CHROMA",
)
