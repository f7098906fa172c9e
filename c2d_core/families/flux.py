"""Flux.1 (dev, schnell, Fill/inpaint, Kontext and their fine-tunes): 19 double- + 38 single-stream blocks, 3072 wide."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="flux",
    layout=DiTLayout(name="Flux.1", hidden_size=3072, num_heads=24, double_blocks=19, single_blocks=38, pooled=True,
                     lora_targets=("img_attn.qkv", "img_attn.proj", "txt_attn.qkv", "txt_attn.proj", "linear1", "linear2")),
    comfy_configs=("Flux", "FluxSchnell", "FluxInpaint"),
    comfy_class="Flux",
    objective="flow",
    clip_type="FLUX",
)
