"""Plug-and-Play hooks copy the source row into the edit rows only where and when they are switched on;
the audio patch leaves the source row untouched."""
import torch

from c2d_core.patch import AudioAttentionPatch
from c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState, source_row_to_edit_rows
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
