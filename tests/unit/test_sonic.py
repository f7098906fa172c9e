"""SonicDiffusion's released adapters in our format: projector parity, conversion, the after-text hooks, bad files.

The reference (`sonic_reference.py`) is SonicDiffusion's code re-typed from its source (file:line there);
weights are random, in the released key layouts. Full-UNet parity inside ComfyUI: tests/host/test_sonicdiffusion.py.
"""
import json
import os

import pytest
import torch
from sonic_reference import SMALL, fake_adapter_tensors, their_projector

from c2d_core.adapter import AudioAdapter
from c2d_core.adapter_file import load_adapter, read_adapter_metadata, save_adapter
from c2d_core.config import AdapterConfig, BlockSpec
from c2d_core.errors import AdapterFileError, AdapterMismatchError
from c2d_core.families import family_layout
from c2d_core.patch import AudioAttentionPatch
from c2d_core.sonic_convert import (comfy_block_key, convert_sonicdiffusion, find_pair, load_sonicdiffusion,
                                    sonic_config)
from c2d_core.sonic_projector import SonicProjector



@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield



@pytest.fixture(scope="module")
def theirs():
    return their_projector(seed=3)


def test_projector_equals_their_class_and_loads_their_state_dict_strictly(theirs):
    """audio_projector_res.py:40-92 as built by app.py:72-73 (strict load of the flat state dict)."""
    ours = SonicProjector()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    e = torch.nn.functional.normalize(torch.randn(3, 1024, generator=torch.Generator().manual_seed(0)), dim=-1)
    want = theirs(e[:, None, :])                                   # their input (B, 1, 1024)
    got = ours(e)
    assert got.shape == want.shape == (3, 77, 768)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[0], got[1], atol=1e-3)           # the audio matters


def test_published_quirk_only_the_last_attention_layer_affects_the_tokens(theirs):
    """audio_projector_res.py:84-87: every layer reads audio_proj, so layers 0-2 do not change the output — in theirs
    and in ours; layer 3 does."""
    ours = SonicProjector()
    ours.load_state_dict(theirs.state_dict())
    e = torch.randn(2, 1024)
    before_theirs, before_ours = theirs(e[:, None]), ours(e)
    edited = {k: (v + 1.0 if k.startswith(("cross_attention.0", "between_attention.1", "cross_attention.2")) else v)
              for k, v in theirs.state_dict().items()}
    t2 = their_projector(seed=3)
    t2.load_state_dict(edited)
    ours.load_state_dict(edited)
    torch.testing.assert_close(t2(e[:, None]), before_theirs, rtol=0, atol=0)
    torch.testing.assert_close(ours(e), before_ours, rtol=0, atol=0)
    edited["cross_attention.3.to_v_adapter.weight"] = edited["cross_attention.3.to_v_adapter.weight"] + 1.0
    ours.load_state_dict(edited)
    assert (ours(e) - before_ours).abs().max() > 1e-3


def test_block_names_map_to_comfyui_keys():
    """app.py:47 use_adapter_list=[False, True, True]: mid block + up blocks 1-3 (3 attentions each)."""
    assert comfy_block_key("mid_block.attentions.0", 0) == "middle_0_0"
    assert [comfy_block_key(f"up_blocks.{i}.attentions.{j}", 0) for i in (1, 2, 3) for j in range(3)] == \
        [f"output_{n}_0" for n in range(3, 12)]
    assert [b.key for b in sonic_config().blocks] == ["middle_0_0"] + [f"output_{n}_0" for n in range(3, 12)]
    assert [b.query_dim for b in sonic_config().blocks] == [1280] + [1280] * 3 + [640] * 3 + [320] * 3


@pytest.mark.parametrize("whole_unet", [False, True])
def test_convert_released_pair(tmp_path, theirs, whole_unet):
    """Files read with torch.load(weights_only=True); tokens = their projector; uncond = projector(zeros) (app.py:93-94);
    a whole-UNet state dict works the same (only its '*adapter*' tensors are used)."""
    tensors = fake_adapter_tensors(1)
    saved = dict(tensors)
    if whole_unet:
        saved["mid_block.attentions.0.transformer_blocks.0.attn2.to_q.weight"] = torch.randn(1280, 1280)
        saved["conv_in.weight"] = torch.randn(320, 4, 3, 3)
    torch.save(theirs.state_dict(), tmp_path / "audio_projector_landscape.pth")
    torch.save(saved, tmp_path / "landscape.pt")
    loaded = load_sonicdiffusion(tmp_path / "audio_projector_landscape.pth", tmp_path / "landscape.pt")
    a = loaded.adapter
    cfg = a.config
    assert (cfg.projector, cfg.position, cfg.uncond, cfg.clap_model_id, cfg.placement) == \
        ("sonic77", "after_text", "projector_zeros", "msclap-2022", "sonic_mid_up")
    assert not hasattr(a, "null_tokens")
    e = torch.randn(2, 1024)
    torch.testing.assert_close(a.tokens(e), theirs(e[:, None]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.uncond_tokens(), theirs(torch.zeros(1, 1, 1024)), rtol=1e-5, atol=1e-5)
    gate_key = "up_blocks.2.attentions.1.transformer_blocks.0.gate_adapter"
    assert a.gates()["output_7_0"] == pytest.approx(float(tensors[gate_key]))
    blk = a.blocks["output_4_0"]
    p = "up_blocks.1.attentions.1.transformer_blocks.0."
    assert torch.equal(blk.attn.to_out.weight, tensors[p + "attn_adapter.to_out.0.weight"])
    assert torch.equal(blk.norm.bias, tensors[p + "norm_adapter.bias"])
    assert torch.equal(blk.attn.to_k.weight, tensors[p + "attn_adapter.to_k.weight"])
    # fits an SD1.x UNet (SD1.4 and SD1.5 share the layout); a UNet of other widths gets a clear error
    a.check_fits(family_layout("sd15").blocks(), 768, "sd15")
    small = tuple(BlockSpec(key=k, query_dim=w, heads=8, dim_head=w // 8) for k, w in SMALL.items())
    with pytest.raises(AdapterMismatchError, match="block middle_0_0: adapter expects width 1280"):
        a.check_fits(small, 768, "sd15")


def test_cli_writes_a_self_describing_file(tmp_path, theirs):
    from training.cli import main

    torch.save(theirs.state_dict(), tmp_path / "p.pth")
    torch.save(fake_adapter_tensors(2), tmp_path / "a.pt")
    out = tmp_path / "landscape.safetensors"
    assert main(["convert-sonicdiffusion", "--projector", str(tmp_path / "p.pth"), "--adapter", str(tmp_path / "a.pt"),
                 "--out", str(out)]) == 0
    meta = read_adapter_metadata(out)
    assert (meta["projector"], meta["position"], meta["uncond"], meta["clap_model_id"]) == \
        ("sonic77", "after_text", "projector_zeros", "msclap-2022")
    direct = load_sonicdiffusion(tmp_path / "p.pth", tmp_path / "a.pt").adapter
    assert json.loads(meta["gates"]) == pytest.approx(direct.gates())
    again = load_adapter(out).adapter
    assert again.config == direct.config
    for k, v in direct.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k
    assert main(["convert-sonicdiffusion", "--projector", str(tmp_path / "a.pt"), "--adapter", str(tmp_path / "a.pt"),
                 "--out", str(tmp_path / "x.safetensors")]) == 2          # clear error, exit 2, nothing written
    assert not (tmp_path / "x.safetensors").exists()


def test_old_adapter_configs_load_with_the_defaults_and_default_configs_stay_readable_by_old_packs(tmp_path):
    old_json = json.dumps({"clap_dim": 512, "context_dim": 768, "n_tokens": 8, "n_mlps": 4, "hidden_dim": 1024,
                           "gate_init": 0.0, "placement": "all", "base_family": "sd15", "clap_model_id": "", "blocks": []})
    cfg = AdapterConfig.from_json(old_json)
    assert (cfg.projector, cfg.position, cfg.uncond) == ("mlp4", "before_text", "null_tokens")
    assert set(json.loads(AdapterConfig().to_json())) == set(json.loads(old_json))     # no new keys by default
    assert json.loads(sonic_config().to_json())["projector"] == "sonic77"
    with pytest.raises(ValueError, match="projector must be one of"):
        AdapterConfig(projector="mlp5")
    with pytest.raises(ValueError, match="1024-d CLAP"):
        AdapterConfig(projector="sonic77", clap_dim=512, n_tokens=77)


def test_after_text_hooks_compose_to_their_block_order():
    """ComfyUI's BasicTransformerBlock: x = attn1_out + x; middle_patch(x); n = attn2(...); attn2_output_patch(n);
    x = n + x. With our two hooks that must equal SonicDiffusion's h = x + n; h + tanh(g)·Attn(LN(h), A)
    (attention_custom.py:381-387), cond rows with audio tokens, uncond rows with projector(zeros)."""
    a = AudioAdapter(sonic_config(SMALL))
    with torch.no_grad():
        for p in a.parameters():
            p.normal_(std=0.05, generator=torch.Generator().manual_seed(p.numel()))
        for blk in a.blocks.values():
            blk.gate.fill_(0.7)
    e = torch.randn(1, 1024)
    patch = AudioAttentionPatch(a, e)
    hooks = patch.hooks()
    assert set(hooks) == {"middle_patch", "attn2_output_patch"}
    x, n = torch.randn(2, 6, 32), torch.randn(2, 6, 32)
    opts = {"block": ("output", 10), "block_index": 0, "cond_or_uncond": [1, 0]}
    for fn in hooks["middle_patch"]:
        x = fn(x, opts)
    out = n
    for fn in hooks["attn2_output_patch"]:
        out = fn(out, opts)
    got = out + x
    h = x + n
    blk = a.blocks["output_10_0"]
    tokens = torch.cat([a.uncond_tokens(), a.tokens(e)])
    want = h + torch.tanh(torch.tensor(0.7)) * blk.attn(blk.norm(h), *blk.attn.kv(tokens))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert patch._hidden == {}                       # nothing kept after the block
    # strength 0 → the text attention output is returned untouched (bit for bit)
    off = AudioAttentionPatch(a, e, strength=0.0).hooks()
    x2 = off["middle_patch"][0](x, opts)
    assert off["attn2_output_patch"][0](n, opts) is n and x2 is x


# ---- bad inputs (issue #10, deliverable 7) ---------------------------------------------------------------------
def _pair(tmp_path, theirs, projector=None, adapter=None):
    torch.save(projector if projector is not None else theirs.state_dict(), tmp_path / "audio_projector_x.pth")
    torch.save(adapter if adapter is not None else fake_adapter_tensors(0), tmp_path / "x.pt")
    return tmp_path / "audio_projector_x.pth", tmp_path / "x.pt"


def test_projector_tensor_of_the_wrong_shape_names_it_and_both_shapes(tmp_path, theirs):
    sd = dict(theirs.state_dict())
    sd["audio_emb_projection.0.weight"] = torch.randn(64, 1, 17)
    with pytest.raises(AdapterFileError, match=r"audio_emb_projection\.0\.weight has shape \(64, 1, 17\) but .* "
                                               r"needs \(77, 1, 17\)"):
        load_sonicdiffusion(*_pair(tmp_path, theirs, projector=sd))


def test_adapter_tensor_of_the_wrong_shape_and_a_missing_one(tmp_path, theirs):
    t = fake_adapter_tensors(0)
    k = "up_blocks.3.attentions.2.transformer_blocks.0.attn_adapter.to_k.weight"
    t[k] = torch.randn(320, 1024)
    with pytest.raises(AdapterFileError, match=rf"{k} has shape \(320, 1024\) but .* needs \(320, 768\)"):
        convert_sonicdiffusion(theirs.state_dict(), t)
    t = fake_adapter_tensors(0)
    gone = "up_blocks.1.attentions.0.transformer_blocks.0.norm_adapter.bias"
    del t[gone]
    with pytest.raises(AdapterFileError, match=rf"{gone} is missing"):
        load_sonicdiffusion(*_pair(tmp_path, theirs, adapter=t))
    t = fake_adapter_tensors(0)
    t["down_blocks.0.attentions.0.transformer_blocks.0.gate_adapter"] = torch.zeros(1)
    with pytest.raises(AdapterFileError, match="not part of SonicDiffusion's adapter layout"):
        convert_sonicdiffusion(theirs.state_dict(), t)
    with pytest.raises(AdapterFileError, match="no SonicDiffusion adapter tensors"):
        convert_sonicdiffusion(theirs.state_dict(), {"conv_in.weight": torch.zeros(1)})


class _Payload:
    """Unpickling this would create the marker file: proof that the pickle's code never runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_adapter_pt_that_needs_unsafe_unpickling_is_refused_and_its_code_never_runs(tmp_path, theirs):
    marker = tmp_path / "pwned"
    t = fake_adapter_tensors(0)
    t["payload"] = _Payload(str(marker))
    proj, adapter = _pair(tmp_path, theirs)
    torch.save(t, adapter)
    assert not marker.exists()
    with pytest.raises(AdapterFileError, match="needs unsafe unpickling .* refused"):
        load_sonicdiffusion(proj, adapter)
    assert not marker.exists()
    torch.load(adapter, weights_only=False)     # the payload is real: a plain unpickle would have run it
    assert marker.exists()


def test_512d_clap_with_a_1024d_sonicdiffusion_adapter(tmp_path, theirs):
    a = load_sonicdiffusion(*_pair(tmp_path, theirs)).adapter
    with pytest.raises(AdapterMismatchError, match=r"512-d but the adapter expects 1024-d .*msclap-2022"):
        AudioAttentionPatch(a, torch.randn(1, 512))


def test_folder_with_two_projectors_or_two_adapters(tmp_path, theirs):
    proj, adapter = _pair(tmp_path, theirs)
    assert find_pair(tmp_path) == (proj, adapter)
    torch.save(theirs.state_dict(), tmp_path / "audio_projector_gh.pth")
    with pytest.raises(AdapterFileError, match=r"exactly one audio projector .* has 2: \['audio_projector_gh.pth', "
                                               r"'audio_projector_x.pth'\]"):
        find_pair(tmp_path)
    os.remove(tmp_path / "audio_projector_gh.pth")
    torch.save({}, tmp_path / "greatest_hits.pt")
    with pytest.raises(AdapterFileError, match="exactly one UNet adapter"):
        find_pair(tmp_path)


def test_converted_adapter_survives_our_own_file_round_trip_strictly(tmp_path, theirs):
    a = load_sonicdiffusion(*_pair(tmp_path, theirs)).adapter
    save_adapter(tmp_path / "s.safetensors", a)
    b = load_adapter(tmp_path / "s.safetensors").adapter
    e = torch.randn(2, 1024)
    torch.testing.assert_close(b.tokens(e), a.tokens(e), rtol=0, atol=0)


def test_hooks_on_another_device_than_the_adapter(monkeypatch):
    """ComfyUI 0.33 runs the UNet on other devices (multi-GPU work units, each in a thread; Select Model Device) while
    the adapter stays where its patcher loaded it. The tokens are computed on the projector's device (SonicDiffusion's
    plain Conv1d / LayerNorm take no inputs from elsewhere) and moved to the hidden states'; the after_text hooks
    keep one hidden state per device, so two devices running the same block do not take each other's rows."""
    a = AudioAdapter(sonic_config(SMALL))
    patch = AudioAttentionPatch(a, torch.randn(1, 1024))
    seen = []
    a.projector.register_forward_pre_hook(lambda module, args: seen.append(args[0].device.type))
    tokens, null = patch._tokens(torch.device("meta"))            # "meta" stands in for a second GPU here
    assert seen and set(seen) == {"cpu"}
    assert tokens.device.type == null.device.type == "meta" and tokens.shape[1:] == null.shape[1:]
    record, output = patch.hooks()["middle_patch"][0], patch.hooks()["attn2_output_patch"][0]
    opts = {"block": ("output", 10), "block_index": 0, "cond_or_uncond": [0]}
    x_cpu, x_meta = torch.randn(1, 6, 32), torch.empty(3, 6, 32, device="meta")
    record(x_cpu, opts)
    record(x_meta, opts)                                          # the other device's thread, same block
    branched = []
    monkeypatch.setattr(patch, "branch", lambda h, extra: branched.append(h) or None)
    output(torch.empty(3, 6, 32, device="meta"), opts)
    output(torch.zeros(1, 6, 32), opts)
    assert [h.shape[0] for h in branched] == [3, 1] and [h.device.type for h in branched] == ["meta", "cpu"]
    torch.testing.assert_close(branched[1], x_cpu)
    record(x_cpu, opts)
    patch.cleanup()                                               # ComfyUI 0.33 calls it after sampling
    assert patch._hidden == {}
