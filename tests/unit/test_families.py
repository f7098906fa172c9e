"""Model families: one lookup from ComfyUI's model config to ours, shared by the nodes and the trainer."""
import pytest

from c2d_core.errors import UnsupportedModelError
from c2d_core.families import COMFY_CONFIG_FAMILY, family_from_comfy_config


def test_comfyui_configs_map_to_their_families():
    assert {name: family_from_comfy_config(name) for name in COMFY_CONFIG_FAMILY} == {
        "SD15": "sd15", "SD15_instructpix2pix": "sd15", "SDXL": "sdxl", "SDXL_instructpix2pix": "sdxl",
        "Flux": "flux", "FluxSchnell": "flux", "FluxInpaint": "flux", "Flux2": "flux2", "Chroma": "chroma",
        "SD3": "sd3", "QwenImage": "qwen_image", "ZImage": "z_image", "WAN21_T2V": "wan", "WAN21_I2V": "wan",
        "WAN22_T2V": "wan", "WAN21_Camera": "wan", "WAN22_Camera": "wan", "WAN21_FunControl2V": "wan"}


@pytest.mark.parametrize("what, fix", [("the model", "load an SD1.5 checkpoint"),
                                       ("the checkpoint", "give an SD1.5 checkpoint in model.checkpoint")])
def test_another_family_is_named_with_the_fix(what, fix):
    with pytest.raises(UnsupportedModelError) as info:
        family_from_comfy_config("SSD1B", what=what, fix=fix)
    message = str(info.value)
    assert message.startswith(f"{what} is a SSD1B model") and message.endswith(fix) and "'SD15'" in message


def test_a_new_family_is_one_spec_and_one_registry_line(monkeypatch):
    """A made-up family registered as the issue asks (a FamilySpec + a REGISTRY entry): every lookup the nodes and
    the trainer use finds it, with nothing else edited."""
    from c2d_core import families
    from c2d_core.config import AdapterConfig
    from c2d_core.errors import AdapterMismatchError, EditInputError
    from c2d_core.factory import new_adapter
    from c2d_core.families import FamilySpec, UNetLayout, family_layout, family_name, family_spec
    from c2d_core.pnp_blocks import PnPBlocks
    from c2d_core.pnp_presets import pnp_blocks
    from training.config import TinyUNetConfig
    from training.model import tiny_unet_config

    toy = FamilySpec(name="toy", layout=UNetLayout(name="ToyNet", model_channels=32, channel_mult=(1, 2),
                                                   num_res_blocks=1, transformer_depth=(0, 3),
                                                   transformer_depth_middle=1, num_head_channels=16, context_dim=96),
                     comfy_configs=("ToyConfig",), comfy_class="SD15",
                     pnp=PnPBlocks(feature_blocks=(0,), attention_from=0))
    monkeypatch.setitem(families.REGISTRY, "toy", toy)

    assert family_from_comfy_config("ToyConfig") == "toy" and family_name("toy") == "ToyNet"
    assert family_spec("toy") is toy and "ToyNet" in families.supported_names()
    blocks = family_layout("toy").blocks()
    assert [b.key for b in blocks] == ["input_3_0", "input_3_1", "input_3_2", "middle_0_0",  # 0 stem, 2 downsample
                                       "output_0_0", "output_0_1", "output_0_2", "output_1_0", "output_1_1",
                                       "output_1_2"]
    assert {(b.query_dim, b.heads) for b in blocks} == {(64, 4)}
    adapter = new_adapter(AdapterConfig(base_family="toy", hidden_dim=8, placement="up"))
    assert adapter.config.context_dim == 96 and len(adapter.config.blocks) == 6
    adapter.check_fits(blocks, 96, "toy")
    with pytest.raises(AdapterMismatchError, match=r"for ToyNet \(context width 96\) but the model is SDXL"):
        adapter.check_fits(family_layout("sdxl").blocks(), 2048, "sdxl")
    assert pnp_blocks("clap2diffusion", "toy") == toy.pnp
    with pytest.raises(EditInputError, match="SD1.5, SDXL"):   # the SonicDiffusion preset has no blocks for it
        pnp_blocks("sonicdiffusion", "toy")
    unet = tiny_unet_config(TinyUNetConfig(family="toy", model_channels=8, num_heads=2, context_dim=96))
    assert unet["transformer_depth"] == [0, 3] and unet["channel_mult"] == [1, 2] and unet["context_dim"] == 96


def test_the_objective_is_read_from_the_model_sampling_classes():
    from c2d_core.families import objective_of

    EPS = type("EPS", (), {})
    V_PREDICTION = type("V_PREDICTION", (EPS,), {})
    CONST = type("CONST", (), {})
    Discrete = type("ModelSamplingDiscrete", (), {})
    assert objective_of(type("ModelSampling", (Discrete, EPS), {})()) == "eps"
    assert objective_of(type("ModelSampling", (Discrete, V_PREDICTION), {})()) == "v"   # not its base EPS
    assert objective_of(type("ModelSampling", (Discrete, CONST), {})()) == "flow"
    assert objective_of(Discrete()) is None

