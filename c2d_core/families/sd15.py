"""Stable Diffusion 1.x (SD1.4, SD1.5, their fine-tunes and inpainting checkpoints)."""
from ..pnp_blocks import PnPBlocks
from .layout import UNetLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="sd15",
    layout=UNetLayout(name="SD1.5", model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                      transformer_depth=(1, 1, 1, 0), transformer_depth_middle=1, num_heads=8, context_dim=768),
    comfy_configs=("SD15", "SD15_instructpix2pix"),
    comfy_class="SD15",
    # Plug-and-Play's own blocks (features after output block 4, q/k from 4 on); SonicDiffusion's conv features of
    # diffusers up_blocks[1].resnets[1, 2] = output blocks 4 and 5 (c2d_core/pnp_presets.py)
    pnp=PnPBlocks(feature_blocks=(4,), attention_from=4),
    edit_presets={"sonicdiffusion": PnPBlocks(feature_blocks=(), attention_from=4, conv_blocks=(4, 5))},
)
