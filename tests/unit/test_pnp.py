"""Plug-and-Play hooks copy the source row into the edit rows only where and when they are switched on;
the audio patch leaves the source row untouched."""
import torch

from c2d_core.patch import AudioAttentionPatch
from c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState, source_rows_to_edit_rows
from helpers import extra, tiny_adapter


def test_source_rows_fill_edit_rows_per_chunk():
    t = torch.arange(6.0).view(6, 1)                   # chunks: uncond [0,1,2], cond [3,4,5]
    assert source_rows_to_edit_rows(t, 2).flatten().tolist() == [0, 0, 0, 3, 3, 3]
    assert t.flatten().tolist() == [0, 1, 2, 3, 4, 5]  # input untouched


def test_feature_patch_acts_only_on_its_block_and_when_on():
    state = PnPState(features=True, feature_block=4)
    patch = PnPFeaturePatch(state)
    h, hsp = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    opts = {"block": ("output", 5), "cond_or_uncond": [0]}
    out, out_hsp = patch(h, hsp, opts)
    assert torch.equal(out[1], h[0]) and torch.equal(out[0], h[0]) and out_hsp is hsp
    assert patch(h, hsp, {"block": ("output", 6), "cond_or_uncond": [0]})[0] is h
    state.features = False
    assert patch(h, hsp, opts)[0] is h


def test_attention_patch_copies_query_and_key_inputs_not_values():
    state = PnPState(attention=True, attention_from=4)
    patch = PnPAttentionPatch(state)
    n = torch.randn(4, 5, 8)
    opts = {"block": ("output", 7), "cond_or_uncond": [1, 0]}
    q_in, k_in, v_in = patch(n, n, n, opts)
    assert torch.equal(q_in[1], n[0]) and torch.equal(q_in[3], n[2]) and k_in is q_in
    assert v_in is n  # values stay the edit's own
    assert patch(n, n, n, {"block": ("output", 3), "cond_or_uncond": [1, 0]})[0] is n
    assert patch(n, n, n, {"block": ("input", 7), "cond_or_uncond": [1, 0]})[0] is n


def test_audio_patch_skips_plain_source_rows():
    adapter = tiny_adapter(gate=0.8)
    embeds = torch.randn(2, 16)                      # one embedding per edit image
    patch = AudioAttentionPatch(adapter, embeds)
    x = torch.randn(6, 10, 32)  # block input_1_0 (width 32); chunks [src, e1, e2] × (uncond, cond)
    opts = {**extra(("input", 1), 0, cond_or_uncond=(1, 0)), "c2d_plain_rows": (0,)}
    out = patch(x, opts)
    assert torch.equal(out[0], x[0]) and torch.equal(out[3], x[3])     # source rows unchanged, bit for bit
    assert (out[4] - x[4]).abs().max() > 1e-4 and (out[5] - out[4]).abs().max() > 1e-6  # edit rows hear their own clip
    ref = AudioAttentionPatch(adapter, embeds)(x[[1, 2, 4, 5]], {**opts, "c2d_plain_rows": ()})
    torch.testing.assert_close(out[[1, 2, 4, 5]], ref, rtol=1e-5, atol=1e-6)

