"""SDXL (base, its fine-tunes and inpainting checkpoints): 70 transformer blocks, context 2048, ADM `y` 2816."""
from ..pnp_blocks import PnPBlocks
from .layout import UNetLayout
from .spec import FamilySpec

SPEC = FamilySpec(
    name="sdxl",
    # comfy.supported_models.SDXL: transformer_depth [0, 0, 2, 2, 10, 10] per input block, 64-wide heads.
    layout=UNetLayout(name="SDXL", model_channels=320, channel_mult=(1, 2, 4), num_res_blocks=2,
                      transformer_depth=(0, 2, 10), transformer_depth_middle=10, num_head_channels=64,
                      context_dim=2048, adm_in_channels=2816),
    comfy_configs=("SDXL", "SDXL_instructpix2pix"),
    comfy_class="SDXL",
    # output block 1 is the place of SD1.5's block 4 (c2d_core/pnp_presets.py explains the correspondence)
    pnp=PnPBlocks(feature_blocks=(1,), attention_from=1),
    edit_presets={"sonicdiffusion": PnPBlocks(feature_blocks=(), attention_from=1, conv_blocks=(1, 2))},
)
