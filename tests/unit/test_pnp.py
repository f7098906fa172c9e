"""Plug-and-Play hooks copy the source row into the edit rows only where and when they are switched on;
the audio patch leaves the source row untouched."""
import pytest
import torch

from c2d_core.patch import AudioAttentionPatch
from c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState, source_row_to_edit_rows
from c2d_core.rows import SOURCE_KINDS
from helpers import extra, tiny_adapter


PLAN = [("null", 0), ("plain", -1), ("audio", 0)]  # uncond edit, the source (cond only), cond edit


def test_source_row_fills_edit_rows():
    t = torch.arange(3.0).view(3, 1)
    assert source_row_to_edit_rows(t, {"c2d_rows": PLAN}).flatten().tolist() == [1, 1, 1]
    assert t.flatten().tolist() == [0, 1, 2]  # input untouched
    assert source_row_to_edit_rows(t, {"cond_or_uncond": [0]}) is t  # no source row: nothing to copy


def test_feature_patch_acts_only_on_its_block_and_when_on():
    state = PnPState(features=True, feature_block=4)
    patch = PnPFeaturePatch(state)
    h, hsp = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    opts = {"block": ("output", 5), "c2d_rows": PLAN}
    out, out_hsp = patch(h, hsp, opts)
    assert all(torch.equal(out[r], h[1]) for r in range(3)) and out_hsp is hsp
    assert patch(h, hsp, {"block": ("output", 6), "c2d_rows": PLAN})[0] is h
    state.features = False
    assert patch(h, hsp, opts)[0] is h


def test_attention_patch_copies_query_and_key_inputs_not_values():
    state = PnPState(attention=True, attention_from=4)
    patch = PnPAttentionPatch(state)
    n = torch.randn(3, 5, 8)
    opts = {"block": ("output", 7), "c2d_rows": PLAN}
    q_in, k_in, v_in = patch(n, n, n, opts)
    assert torch.equal(q_in[0], n[1]) and torch.equal(q_in[2], n[1]) and k_in is q_in
    assert v_in is n  # values stay the edit's own
    assert patch(n, n, n, {"block": ("output", 3), "c2d_rows": PLAN})[0] is n
    assert patch(n, n, n, {"block": ("input", 7), "c2d_rows": PLAN})[0] is n


def test_audio_patch_follows_the_row_plan():
    adapter = tiny_adapter(gate=0.8)
    embeds = torch.randn(2, 16)                      # one embedding per edit image
    x = torch.randn(5, 10, 32)                       # block input_1_0 (width 32)
    plan = [("null", 0), ("null", 1), ("plain", -1), ("audio", 0), ("audio", 1)]
    out = AudioAttentionPatch(adapter, embeds)(x, {**extra(("input", 1)), "c2d_rows": plan})
    assert torch.equal(out[2], x[2])                 # the source row is untouched, bit for bit
    assert (out[3] - x[3]).abs().max() > 1e-4 and (out[4] - out[3]).abs().max() > 1e-6
    ref = AudioAttentionPatch(adapter, embeds)(x[[0, 1, 3, 4]], extra(("input", 1), cond_or_uncond=(1, 0)))
    torch.testing.assert_close(out[[0, 1, 3, 4]], ref, rtol=1e-5, atol=1e-6)


def test_source_row_runs_once_per_call_and_its_uncond_copy_gets_the_cond_output():
    """[source, edit, edit] per CFG chunk (cond, uncond): the UNet sees the source once, with a PLAIN row plan."""
    from c2d_core.rows import AUDIO, NULL, PLAIN
    from c2d_core.source_row import SourceRowOnce

    seen = {}

    def apply_model(x, t, **c):
        seen["rows"], seen["plan"] = x.shape[0], c["transformer_options"]["c2d_rows"]
        seen["cond"] = c["c_crossattn"]
        return x * 10 + t.view(-1, 1, 1, 1)

    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1)
    t = torch.full((6,), 0.5)
    ctx = torch.arange(6, dtype=torch.float32).view(6, 1, 1)
    out = SourceRowOnce()(apply_model, {"input": x, "timestep": t, "c": {"c_crossattn": ctx, "transformer_options": {}},
                                        "cond_or_uncond": [1, 0]})
    assert seen["rows"] == 5 and seen["plan"] == [(NULL, 0), (NULL, 1), (PLAIN, -1), (AUDIO, 0), (AUDIO, 1)]
    assert seen["cond"].flatten().tolist() == [1, 2, 3, 4, 5]          # the uncond chunk's source row (0) dropped
    assert out.flatten().tolist() == [30.5, 10.5, 20.5, 30.5, 40.5, 50.5]  # row 0 = the cond chunk's source output


def test_sonicdiffusion_preset_source_row_hears_the_unconditional_audio():
    """SonicDiffusion's pnp.py:111-114: the source row's audio is the uncond one. With SOURCE_NULL the source row gets
    the same branch as an uncond edit row of the same hidden state (null tokens), where PLAIN gets none."""
    from c2d_core.rows import SOURCE_NULL
    adapter = tiny_adapter(gate=0.8)
    embeds = torch.randn(1, 16)
    x = torch.randn(3, 10, 32)
    x[1] = x[0]
    patch = AudioAttentionPatch(adapter, embeds)
    out = patch(x, {**extra(("input", 1)), "c2d_rows": [("null", 0), (SOURCE_NULL, -1), ("audio", 0)]})
    assert (out[1] - x[1]).abs().max() > 1e-4
    torch.testing.assert_close(out[1], out[0], rtol=0, atol=0)
    plain = patch(x, {**extra(("input", 1)), "c2d_rows": [("null", 0), ("plain", -1), ("audio", 0)]})
    assert torch.equal(plain[1], x[1]) and torch.equal(plain[[0, 2]], out[[0, 2]])
    t = torch.arange(3.0).view(3, 1)
    assert source_row_to_edit_rows(t, {"c2d_rows": [("null", 0), (SOURCE_NULL, -1), ("audio", 0)]}).flatten().tolist() \
        == [1, 1, 1]


def test_source_row_once_plans_the_preset_source_kind():
    from c2d_core.rows import AUDIO, NULL, SOURCE_NULL
    from c2d_core.source_row import SourceRowOnce

    seen = {}

    def apply_model(x, t, **c):
        seen["plan"] = c["transformer_options"]["c2d_rows"]
        return x * 10

    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1)
    out = SourceRowOnce(source=SOURCE_NULL)(apply_model, {"input": x, "timestep": torch.zeros(4),
                                                         "c": {"transformer_options": {}}, "cond_or_uncond": [1, 0]})
    assert seen["plan"] == [(NULL, 0), (SOURCE_NULL, -1), (AUDIO, 0)]
    assert out.flatten().tolist() == [20, 10, 20, 30]
    with pytest.raises(ValueError, match="source row kind"):
        SourceRowOnce(source="audio")


def test_sonicdiffusion_preset_copies_the_resblock_features_of_decoder_blocks_4_and_5():
    """pnp_utils.py:160-166: conv features of up_blocks[1].resnets[1, 2] = the first ResBlock of ComfyUI output blocks 4
    and 5 (diffusers up block i, resnet j is output block 3i + j); no block output is copied; q/k from output block 4
    on (pnp_utils.py:99)."""
    from c2d_core.pnp_presets import PRESETS, edit_preset, pnp_blocks
    from c2d_core.sonic_convert import comfy_block_key

    p = pnp_blocks("sonicdiffusion", "sd15", feature_block=1, attention_block=9)   # the inputs are ignored
    assert [comfy_block_key(f"up_blocks.1.attentions.{j}", 0) for j in (1, 2)] == \
        [f"output_{b}_0" for b in p.conv_blocks]                   # diffusers up block 1, index 1-2 = output 4-5
    assert comfy_block_key("up_blocks.1.attentions.1", 0) == f"output_{p.attention_from}_0"
    assert p.feature_blocks == ()
    state = PnPState(features=True, feature_block=None, conv_blocks=p.conv_blocks)
    patch = PnPFeaturePatch(state)
    h, hsp = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    copied = [b for b in range(12) if not torch.equal(patch(h, hsp, {"block": ("output", b), "c2d_rows": PLAN})[0], h)]
    assert copied == []
    assert state.options["c2d_rows"] == PLAN                      # the row plan the conv hook reads
    assert PRESETS["clap2diffusion"].blocks is None                # the default uses the sampler's own inputs
    with pytest.raises(Exception, match="unknown edit preset"):
        edit_preset("nope")


def test_conv_feature_hook_copies_the_source_rows_residual_branch_only_while_features_are_on():
    from c2d_core.pnp import install_conv_hooks

    class Res(torch.nn.Module):                                   # ComfyUI's ResBlock shape: skip(x) + out_layers(...)
        def __init__(self):
            super().__init__()
            self.out_layers = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Conv2d(3, 3, 1))
            self.skip_connection = torch.nn.Identity()

        def forward(self, x):
            return self.skip_connection(x) + self.out_layers(x)

    unet = torch.nn.Module()
    unet.output_blocks = torch.nn.ModuleList([torch.nn.Sequential(Res()) for _ in range(6)])
    state = PnPState(features=True, conv_blocks=(4,), options={"c2d_rows": PLAN})
    x = torch.randn(3, 3, 4, 4)
    plain = [unet.output_blocks[b](x) for b in (3, 4)]
    handles = install_conv_hooks(unet, state)
    src = [r for r, (k, _) in enumerate(PLAN) if k in SOURCE_KINDS][0]
    branch = unet.output_blocks[4][0].out_layers(x)
    out = unet.output_blocks[4](x)
    assert torch.equal(out[src], plain[1][src])
    for r in range(3):
        if r != src:
            assert torch.allclose(out[r], x[r] + branch[src])        # their: input_tensor + hidden_states[source]
    assert torch.equal(unet.output_blocks[3](x), plain[0])           # other blocks untouched
    state.features = False
    assert torch.equal(unet.output_blocks[4](x), plain[1])
    for handle in handles:
        handle.remove()
    state.features = True
    assert torch.equal(unet.output_blocks[4](x), plain[1])           # removed: no hook left behind


def _decoder_place(family: str, block: int) -> tuple[int, int, int]:
    """(width, downsampling factor, position in its level) of output block `block`, from the declared layout."""
    from c2d_core.families import family_layout

    lay = family_layout(family)
    per = lay.num_res_blocks + 1
    level = len(lay.channel_mult) - 1 - block // per
    return lay.model_channels * lay.channel_mult[level], 2 ** level, block % per


def _first_attention_level_start(family: str) -> int:
    from c2d_core.families import family_layout

    lay = family_layout(family)
    levels = list(reversed(range(len(lay.channel_mult))))
    first = next(i for i, level in enumerate(levels) if lay.transformer_depth[level] > 0)
    return first * (lay.num_res_blocks + 1)


def test_family_pnp_blocks_sit_at_the_same_place_of_each_decoder():
    """SDXL's Plug-and-Play blocks are SD1.5's at the same place: the middle block of the first decoder level with
    attention (1280 wide, latent / 4), q/k from there on; AUTO inputs resolve to them, explicit inputs win."""
    from c2d_core.pnp_presets import AUTO, PNP_BLOCKS, PnPBlocks, pnp_blocks

    assert set(PNP_BLOCKS) == {"sd15", "sdxl"}
    for family, b in PNP_BLOCKS.items():
        [feature] = b.feature_blocks
        assert feature == b.attention_from == _first_attention_level_start(family) + 1, family
    assert _decoder_place("sdxl", PNP_BLOCKS["sdxl"].feature_blocks[0]) == \
        _decoder_place("sd15", PNP_BLOCKS["sd15"].feature_blocks[0]) == (1280, 4, 1)
    assert pnp_blocks("clap2diffusion", "sdxl") == PNP_BLOCKS["sdxl"] != PNP_BLOCKS["sd15"]
    assert pnp_blocks("clap2diffusion", "sd15", AUTO, AUTO) == PnPBlocks((4,), 4)
    assert pnp_blocks("clap2diffusion", "sdxl", 3, AUTO) == PnPBlocks((3,), 1)
    assert pnp_blocks("clap2diffusion", None, 2, 2) == PnPBlocks((2,), 2)   # a model of no family: explicit works
    sonic_xl = pnp_blocks("sonicdiffusion", "sdxl")
    assert [_decoder_place("sdxl", k) for k in sonic_xl.conv_blocks] == \
        [_decoder_place("sd15", k) for k in pnp_blocks("sonicdiffusion", "sd15").conv_blocks]


def test_pnp_blocks_of_an_unknown_family_are_asked_for():
    from c2d_core.errors import EditInputError
    from c2d_core.pnp_presets import pnp_blocks

    with pytest.raises(EditInputError, match=r"the model \(SD3\) is not a model family with known Plug-and-Play "
                                             r"blocks \(SD1\.5, SDXL\); set feature_block and attention_block"):
        pnp_blocks("clap2diffusion", None, model="the model (SD3)")
    with pytest.raises(EditInputError, match="use the clap2diffusion preset and set feature_block"):
        pnp_blocks("sonicdiffusion", None, 4, 4)
