import copy

import pytest
import torch

from c2d_core.errors import AdapterMismatchError, AudioInputError
from c2d_core.patch import AudioAttentionPatch

from helpers import extra, tiny_adapter


def _x(B=2, T=10, C=64, seed=0):
    return torch.randn(B, T, C, generator=torch.Generator().manual_seed(seed))


def test_zero_gate_returns_input_unchanged():
    patch = AudioAttentionPatch(tiny_adapter(gate=0.0), torch.randn(1, 16))
    x = _x()
    assert patch(x, extra()) is x


def test_zero_strength_and_empty_window_return_input_unchanged():
    a = tiny_adapter(gate=0.5)
    x = _x()
    assert AudioAttentionPatch(a, torch.randn(1, 16), strength=0.0)(x, extra()) is x
    assert AudioAttentionPatch(a, torch.randn(1, 16), enabled=False)(x, extra()) is x


def test_nonzero_gate_changes_output_and_matches_module_forward():
    a = tiny_adapter(gate=0.5)
    e = torch.randn(1, 16)
    x = _x()
    out = AudioAttentionPatch(a, e, strength=0.7)(x, extra())
    assert not torch.allclose(out, x)
    # one implementation: the block module's own forward gives the same result for cond rows
    ref = a.blocks["middle_0_0"](x, a.tokens(e).expand(2, -1, -1), strength=0.7)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_uncond_rows_get_null_tokens():
    a = tiny_adapter(gate=0.5)
    e = torch.randn(1, 16)
    x = _x(B=4)  # [uncond, uncond, cond, cond]
    out = AudioAttentionPatch(a, e)(x, extra(cond_or_uncond=(1, 0)))
    block = a.blocks["middle_0_0"]
    ref_u = block(x[:2], a.null_tokens[None].expand(2, -1, -1))
    ref_c = block(x[2:], a.tokens(e).expand(2, -1, -1))
    torch.testing.assert_close(out[:2], ref_u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[2:], ref_c, rtol=1e-5, atol=1e-6)


def test_per_image_embeddings_and_count_mismatch():
    a = tiny_adapter(gate=0.5)
    e = torch.randn(2, 16)
    x = _x(B=2)
    out = AudioAttentionPatch(a, e)(x, extra())
    block = a.blocks["middle_0_0"]
    torch.testing.assert_close(out, block(x, a.tokens(e)), rtol=1e-5, atol=1e-6)
    with pytest.raises(AudioInputError, match="3 audio embeddings for a batch of 2"):
        AudioAttentionPatch(a, torch.randn(3, 16))(x, extra())


def test_sigma_window():
    a = tiny_adapter(gate=0.5)
    x = _x()
    p = AudioAttentionPatch(a, torch.randn(1, 16), sigma_start=10.0, sigma_end=2.0)
    assert p(x, extra(sigma=20.0)) is x
    assert p(x, extra(sigma=1.0)) is x
    assert p(x, extra(sigma=5.0)) is not x


def test_unknown_block_passes_through():
    p = AudioAttentionPatch(tiny_adapter(gate=0.5), torch.randn(1, 16))
    x = _x(C=32)
    assert p(x, extra(block=("output", 7))) is x
    assert p(x, {}) is x


def test_clap_width_mismatch_is_clear():
    with pytest.raises(AdapterMismatchError, match="expects 16-d CLAP"):
        AudioAttentionPatch(tiny_adapter(), torch.randn(1, 1024))


def test_nan_embeddings_rejected():
    with pytest.raises(AudioInputError, match="NaN"):
        AudioAttentionPatch(tiny_adapter(), torch.full((1, 16), float("nan")))


def test_deepcopy_shares_weights():
    a = tiny_adapter(gate=0.5)
    p = AudioAttentionPatch(a, torch.randn(1, 16))
    q = copy.deepcopy({"patches": {"middle_patch": [p]}})["patches"]["middle_patch"][0]
    assert q is not p and q.adapter is a and q.embeds is p.embeds
    assert q.adapter.blocks["middle_0_0"].gate.data_ptr() == a.blocks["middle_0_0"].gate.data_ptr()


def test_train_mode_matches_cached_inference_and_has_gate_gradient_at_zero():
    a = tiny_adapter(gate=0.0)
    e = torch.randn(2, 16)
    x = _x(B=4)
    opts = extra(cond_or_uncond=(1, 0))
    a.requires_grad_(True)
    out = AudioAttentionPatch(a, e, train=True)(x, opts)
    out.sum().backward()
    assert a.blocks["middle_0_0"].gate.grad is not None and a.blocks["middle_0_0"].gate.grad.abs() > 0
    with torch.no_grad():
        a.blocks["middle_0_0"].gate.fill_(0.3)
    train_out = AudioAttentionPatch(a, e, train=True)(x, opts)
    infer_out = AudioAttentionPatch(a, e)(x, opts)
    torch.testing.assert_close(train_out.detach(), infer_out, rtol=1e-5, atol=1e-6)


def test_train_null_rows_dropout():
    a = tiny_adapter(gate=0.5)
    e = torch.randn(2, 16)
    x = _x(B=2)
    out = AudioAttentionPatch(a, e, train=True, null_rows=torch.tensor([True, False]))(x, extra())
    block = a.blocks["middle_0_0"]
    torch.testing.assert_close(out[:1], block(x[:1], a.null_tokens[None]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[1:], block(x[1:], a.tokens(e[1:])), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_activations_with_fp32_weights(dtype):
    a = tiny_adapter(gate=0.5)
    x = _x() * 0.01   # small h: LayerNorm keeps the branch's size, so the rounding allowed is far below it
    e = torch.randn(1, 16)
    out = AudioAttentionPatch(a, e)(x.to(dtype), extra())
    assert out.dtype == dtype and torch.isfinite(out).all()
    ref = AudioAttentionPatch(a, e)(x, extra())
    tol = 4 * torch.finfo(dtype).eps * float(ref.abs().max())
    torch.testing.assert_close(out.float(), ref, rtol=0, atol=tol)
    assert float((ref - x).abs().max()) > 10 * tol   # the audio branch is far above the rounding allowed


def test_folded_attention_equals_the_reference_attention():
    """Inference folds the fixed audio K/V into W_q / W_out; same values as the plain attention."""
    from c2d_core.audio_attention import GatedAudioAttention
    torch.manual_seed(0)
    m = GatedAudioAttention(query_dim=64, context_dim=32, heads=4, dim_head=16, gate_init=0.7)
    torch.nn.init.normal_(m.attn.to_out.bias)
    h, tokens = torch.randn(3, 50, 64), torch.randn(3, 8, 32)
    k, v = m.attn.kv(tokens)
    ref = m.branch(h, k, v, 0.5)
    got = m.branch_folded(h, *m.attn.fold(k, v, 0.5))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert (ref.abs() > 1e-3).any()
    half = m.branch_folded(h.half(), *m.attn.fold(k.half(), v.half(), 0.5))
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), ref, rtol=2e-2, atol=2e-2)


def _moved_like_comfyui(patches: dict) -> dict:
    """What ComfyUI does to transformer patches when it moves a model (ModelPatcher.model_patches_to, and
    comfy.samplers before sampling): each patch with a .to() is replaced by what .to(device) / .to(dtype) returns."""
    for cast in (torch.device("cpu"), torch.float16):
        patches = {name: [p.to(cast) if hasattr(p, "to") else p for p in fns] for name, fns in patches.items()}
    return patches


def test_patches_survive_comfyui_moving_them():
    from c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState
    from c2d_core.source_row import SourceRowOnce

    patch = AudioAttentionPatch(tiny_adapter(gate=0.5), torch.randn(1, 16))
    x = _x()
    before = patch(x, extra())
    state = PnPState()
    hooks = {**patch.hooks(), "attn1_patch": [PnPAttentionPatch(state)], "output_block_patch": [PnPFeaturePatch(state)]}
    moved = _moved_like_comfyui(hooks)
    assert all(a is b for name in hooks for a, b in zip(hooks[name], moved[name]))   # the same objects stay in place
    assert torch.equal(moved["middle_patch"][0](x, extra()), before)                 # and compute the same
    inner = SourceRowOnce()
    wrapper = SourceRowOnce(inner)
    assert wrapper.to(torch.float16) is wrapper and wrapper.inner is inner
    from c2d_core.adapter import AudioAdapter
    from c2d_core.sonic_convert import sonic_config
    after_text = AudioAttentionPatch(AudioAdapter(sonic_config()), torch.randn(1, 1024)).hooks()   # two hooks
    moved = _moved_like_comfyui(after_text)
    assert all(a is b for name in after_text for a, b in zip(after_text[name], moved[name]))


@pytest.mark.parametrize("block, folded", [(("middle", 0), True), (("output", 10), False)])
def test_inference_folds_kv_only_where_cheaper_and_both_equal_the_training_path(block, folded):
    """SonicDiffusion's 77 tokens: folding K/V into W_q/W_out pays in the wide blocks only; either way the
    inference branch is the training path's value."""
    from c2d_core.adapter import AudioAdapter
    from c2d_core.patch import _InferencePath
    from c2d_core.sonic_convert import sonic_config

    torch.manual_seed(0)
    a = AudioAdapter(sonic_config())
    with torch.no_grad():
        for p in a.parameters():
            p.normal_(std=0.05)
        for blk in a.blocks.values():
            blk.gate.fill_(0.6)
    key = f"{block[0]}_{block[1]}_0"
    assert _InferencePath.folds(a.blocks[key], 77) is folded
    e = torch.randn(1, 1024)
    x = torch.randn(2, 16, a.blocks[key].attn.to_q.in_features)
    opts = {"block": block, "block_index": 0, "cond_or_uncond": [1, 0]}
    got = AudioAttentionPatch(a, e).branch(x, opts)
    want = AudioAttentionPatch(a, e, train=True).branch(x, opts)
    torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-5)
    assert float(got.abs().max()) > 1e-3
