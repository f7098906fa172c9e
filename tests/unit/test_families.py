"""Model families: one lookup from ComfyUI's model config to ours, shared by the nodes and the trainer."""
import pytest

from c2d_core.errors import UnsupportedModelError
from c2d_core.families import COMFY_CONFIG_FAMILY, family_from_comfy_config


def test_sd15_and_sdxl_configs_map_to_their_families():
    assert {name: family_from_comfy_config(name) for name in COMFY_CONFIG_FAMILY} == {
        "SD15": "sd15", "SD15_instructpix2pix": "sd15", "SDXL": "sdxl", "SDXL_instructpix2pix": "sdxl"}


@pytest.mark.parametrize("what, fix", [("the model", "load an SD1.5 checkpoint"),
                                       ("the checkpoint", "give an SD1.5 checkpoint in model.checkpoint")])
def test_another_family_is_named_with_the_fix(what, fix):
    with pytest.raises(UnsupportedModelError) as info:
        family_from_comfy_config("SSD1B", what=what, fix=fix)
    message = str(info.value)
    assert message.startswith(f"{what} is a SSD1B model") and message.endswith(fix) and "'SD15'" in message
