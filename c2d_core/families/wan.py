"""Wan 2.1 / 2.2 video (T2V, I2V, TI2V 5B, Camera, Fun Control; a 14B high/low-noise pair is two models of one
layout: one adapter applies to both). Declared: the 14B models, 40 blocks 5120 wide (40 heads of 128); 1.3B
(30 × 1536) and 5B (30 × 3072) are asked from the loaded model. One embedding: every video token hears it; one per
video frame (an Audio Timeline at the video's fps): each latent frame hears the frames it encodes (frame_audio.py)."""
from .dit_layout import DiTLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="wan",
    layout=DiTLayout(name="Wan", hidden_size=5120, num_heads=40, double_blocks=40, double_attr="blocks",
                     lora_targets=("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                   "cross_attn.k", "cross_attn.v", "cross_attn.o")),
    comfy_configs=("WAN21_T2V", "WAN21_I2V", "WAN22_T2V", "WAN21_Camera", "WAN22_Camera", "WAN21_FunControl2V"),
    comfy_class="WAN21_T2V",
    objective="flow",
    clip_type="WAN",
    frame_stride=4,
)
