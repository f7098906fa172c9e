"""LAION-CLAP `.pt` state dict → transformers ClapAudioModelWithProjection (c2d_core.clap.laion_convert).

The LAION layout comes from tests/fixtures/laion_clap_htsat_tiny_audio_keys.json (key → shape of a
laion-clap 1.1.7 HTSAT-tiny checkpoint's audio side, "module." prefixed), never from the converter
or from transformers, so these tests do not check the mapping against its own inverse.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from c2d_core.errors import ClapModelError
from c2d_core.clap.laion_convert import convert_laion_state_dict, is_laion_state_dict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "laion_clap_htsat_tiny_audio_keys.json"


def tiny_layout() -> dict[str, list[int]]:
    return json.loads(FIXTURE.read_text())


# LAION keys the converter must drop (transformers has no such weights): documented in the module
DROPPED = ("spectrogram_extractor.", "logmel_extractor.", "attn_mask", "tscam_conv.", "audio_branch.head.",
           "audio_transform.", "logit_scale")


def make_tensor(key: str, shape, g: torch.Generator | None) -> torch.Tensor:
    """A plausible tensor for a LAION key: ints for indices / counters, positive BN variances.
    g=None, or a key that is dropped anyway: a broadcast zero (right shape, no memory, no time)."""
    if key.endswith("num_batches_tracked"):
        return torch.tensor(7, dtype=torch.long)
    if key.endswith("relative_position_index"):  # indexes the bias table: (w², w²) into (2w-1)² rows
        rows = (2 * int(round(shape[0] ** 0.5)) - 1) ** 2
        return torch.randint(0, rows, shape, generator=g) if g else torch.zeros((), dtype=torch.long).expand(shape)
    if g is None or any(s in key for s in DROPPED):
        return torch.zeros(()).expand(shape)
    t = torch.randn(shape, generator=g) * 0.05
    if key.endswith("running_var"):
        return t.abs() + 0.5
    # 1-D weights are LayerNorm / BatchNorm scales: near 1, as in a trained model
    return t + 1.0 if key.endswith(".weight") and len(shape) == 1 else t


def laion_state(layout: dict, seed: int | None = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    return {k: make_tensor(k, shape, g) for k, shape in layout.items()}


def aff_2d_layout(width: int = 96, r: int = 4) -> dict[str, list[int]]:
    """Keys laion-clap adds for enable_fusion=True, fusion_type="aff_2d" (htsat.PatchEmbed + feature_fusion.AFF)."""
    p, inter = "module.audio_branch.patch_embed.", width // r
    out = {p + "mel_conv2d.weight": [width, 1, 4, 12], p + "mel_conv2d.bias": [width]}
    # local_att = Conv, BN, ReLU, Conv, BN; global_att = AvgPool, Conv, BN, ReLU, Conv, BN
    for branch, (c1, b1, c2, b2) in {"local_att": (0, 1, 3, 4), "global_att": (1, 2, 4, 5)}.items():
        q = f"{p}fusion_model.{branch}."
        out |= {f"{q}{c1}.weight": [inter, width, 1, 1], f"{q}{c1}.bias": [inter],
                f"{q}{c2}.weight": [width, inter, 1, 1], f"{q}{c2}.bias": [width]}
        for bn, ch in ((b1, inter), (b2, width)):
            out |= {f"{q}{bn}.{s}": [ch] for s in ("weight", "bias", "running_mean", "running_var")}
            out[f"{q}{bn}.num_batches_tracked"] = []
    return out


def scaled_layout(width: int, depths: list[int]) -> dict[str, list[int]]:
    """HTSAT layout of another width / depth, derived from the tiny fixture (width 96, depths 2,2,6,2):
    every dimension that is a multiple of 96 scales by width/96 (qkv 3C, fc1 4C, merges 2C/4C, norms 8C;
    64 mel bins, 225 table rows, 8×8 windows, 527 classes, 512 projection are not multiples of 96), and
    stage i gets depths[i] blocks, block j copying fixture block j % 2 (odd blocks carry the shift mask)."""
    def scale(shape):
        return [d * width // 96 if d % 96 == 0 else d for d in shape]

    out = {}
    for k, shape in tiny_layout().items():
        parts = k.split(".")
        if "blocks" in parts:
            i, j = int(parts[parts.index("layers") + 1]), int(parts[parts.index("blocks") + 1])
            if j >= 2:
                continue  # rebuilt below from blocks 0 / 1
            for jj in range(j, depths[i], 2):
                parts[parts.index("blocks") + 1] = str(jj)
                out[".".join(parts)] = scale(shape)
        else:
            out[k] = scale(shape)
    return out


@pytest.fixture(scope="module")
def tiny():
    sd = laion_state(tiny_layout(), seed=0)
    config, hf = convert_laion_state_dict({"state_dict": sd, "epoch": 3})
    return sd, config, hf


def test_tiny_loads_strictly_and_weights_land_in_place(tiny):
    from transformers import ClapAudioModelWithProjection, ClapFeatureExtractor
    sd, config, hf = tiny
    assert (config.patch_embeds_hidden_size, config.hidden_size, list(config.depths)) == (96, 768, [2, 2, 6, 2])
    assert (list(config.num_attention_heads), config.window_size, config.projection_dim) == ([4, 8, 16, 32], 8, 512)
    assert (config.num_mel_bins, config.spec_size, config.enable_fusion) == (64, 256, False)

    model = ClapAudioModelWithProjection(config).eval()
    model.load_state_dict(hf, strict=True)
    enc = model.audio_model.audio_encoder
    a = "module.audio_branch."
    qkv_w, qkv_b = sd[a + "layers.2.blocks.5.attn.qkv.weight"], sd[a + "layers.2.blocks.5.attn.qkv.bias"]  # (1152, 384)
    att = enc.layers[2].blocks[5].attention
    for n, part in enumerate((att.self.query, att.self.key, att.self.value)):
        assert torch.equal(part.weight, qkv_w[384 * n:384 * (n + 1)])
        assert torch.equal(part.bias, qkv_b[384 * n:384 * (n + 1)])
    assert torch.equal(att.output.dense.weight, sd[a + "layers.2.blocks.5.attn.proj.weight"])
    table = sd[a + "layers.2.blocks.5.attn.relative_position_bias_table"]  # (225, 16)
    assert torch.equal(att.self.relative_position_bias_table, table)
    assert torch.equal(att.self.relative_position_index, sd[a + "layers.2.blocks.5.attn.relative_position_index"])
    blk = enc.layers[1].blocks[1]
    assert torch.equal(blk.layernorm_before.weight, sd[a + "layers.1.blocks.1.norm1.weight"])
    assert torch.equal(blk.layernorm_after.bias, sd[a + "layers.1.blocks.1.norm2.bias"])
    assert torch.equal(blk.intermediate.dense.weight, sd[a + "layers.1.blocks.1.mlp.fc1.weight"])
    assert torch.equal(blk.output.dense.weight, sd[a + "layers.1.blocks.1.mlp.fc2.weight"])
    assert torch.equal(enc.layers[0].downsample.reduction.weight, sd[a + "layers.0.downsample.reduction.weight"])
    assert torch.equal(enc.batch_norm.weight, sd[a + "bn0.weight"])
    assert torch.equal(enc.batch_norm.running_var, sd[a + "bn0.running_var"])
    assert torch.equal(enc.patch_embed.proj.weight, sd[a + "patch_embed.proj.weight"])
    assert torch.equal(enc.patch_embed.norm.bias, sd[a + "patch_embed.norm.bias"])
    assert torch.equal(enc.norm.weight, sd[a + "norm.weight"])
    assert torch.equal(model.audio_projection.linear1.weight, sd["module.audio_projection.0.weight"])
    assert torch.equal(model.audio_projection.linear2.bias, sd["module.audio_projection.2.bias"])

    noise = np.random.default_rng(0).standard_normal(48_000).astype(np.float32) * 0.1  # 1 s at 48 kHz
    feats = ClapFeatureExtractor()(noise, sampling_rate=48_000, truncation="rand_trunc", return_tensors="pt")
    assert feats["input_features"].shape == (1, 1, 1001, 64)
    with torch.no_grad():
        emb = model(input_features=feats["input_features"]).audio_embeds
    assert emb.shape == (1, 512) and torch.isfinite(emb).all()


def test_dropped_keys_are_only_the_documented_ones(tiny):
    sd, _, hf = tiny
    assert not any(s in k for k in hf for s in DROPPED + ("head.", "qkv", "bn0"))
    # the 2 qkv tensors of a block become 6; everything else is 1:1 except the documented drops
    n_blocks = sum(1 for k in sd if k.endswith("attn.qkv.weight"))
    dropped = [k for k in sd if any(s in k for s in DROPPED)]
    assert len(dropped) == 2 + 1 + 5 + 2 + 2 + 4 + 1  # stft 2, melW, 5 shift masks, tscam 2, head 2, transform 4, scale
    assert len(hf) == len(sd) - len(dropped) + 4 * n_blocks


def test_prefix_and_nesting_do_not_change_the_result(tiny):
    sd, config, hf = tiny
    plain = {k.removeprefix("module."): v for k, v in sd.items()}
    for variant in (plain, {"state_dict": plain, "optimizer": {}}):
        assert is_laion_state_dict(variant)
        c2, hf2 = convert_laion_state_dict(variant)
        assert c2.to_dict() == config.to_dict()
        assert hf2.keys() == hf.keys() and all(torch.equal(hf2[k], hf[k]) for k in hf)


def test_base_width_config_is_read_from_shapes():
    from transformers import ClapAudioModelWithProjection
    layout = scaled_layout(128, [2, 2, 12, 2])  # HTSAT-base (music_audioset_epoch_15_esc_90.14.pt)
    assert layout["module.audio_branch.layers.2.blocks.11.attn.qkv.weight"] == [1536, 512]
    assert layout["module.audio_projection.0.weight"] == [512, 1024]
    config, hf = convert_laion_state_dict(laion_state(layout, seed=None))
    assert config.patch_embeds_hidden_size == 128 and config.hidden_size == 1024
    assert list(config.depths) == [2, 2, 12, 2] and list(config.num_attention_heads) == [4, 8, 16, 32]
    assert config.projection_dim == 512 and config.window_size == 8 and config.mlp_ratio == 4.0
    with torch.device("meta"):  # strict key / shape check without allocating ~80 M parameters
        model = ClapAudioModelWithProjection(config)
    model.load_state_dict(hf, strict=True, assign=True)
    assert model.audio_model.audio_encoder.layers[2].blocks[11].attention.self.value.weight.shape == (512, 512)


def test_fused_aff_2d_checkpoint_converts_and_runs(tiny):
    from transformers import ClapAudioModelWithProjection, ClapFeatureExtractor
    sd = tiny[0] | laion_state(aff_2d_layout(), seed=1)  # the tiny tower + the fused stem
    config, hf = convert_laion_state_dict(sd)
    assert config.enable_fusion and config.aff_block_r == 4
    with torch.device("meta"):
        model = ClapAudioModelWithProjection(config)
    model.load_state_dict(hf, strict=True, assign=True)  # every tensor real after this (all buffers persistent)
    pe = model.audio_model.audio_encoder.patch_embed
    p = "module.audio_branch.patch_embed."
    assert torch.equal(pe.mel_conv2d.weight, sd[p + "mel_conv2d.weight"])
    assert torch.equal(pe.fusion_model.local_att[3].weight, sd[p + "fusion_model.local_att.3.weight"])
    assert torch.equal(pe.fusion_model.global_att[5].running_var, sd[p + "fusion_model.global_att.5.running_var"])

    noise = np.random.default_rng(1).standard_normal(48_000 * 12).astype(np.float32) * 0.1  # 12 s: longer than 10
    feats = ClapFeatureExtractor()(noise, sampling_rate=48_000, truncation="fusion", return_tensors="pt")
    # 4 mel channels: the whole clip squeezed to 10 s (global) + 3 random 10 s crops (local, through mel_conv2d)
    assert feats["input_features"].shape == (1, 4, 1001, 64) and bool(feats["is_longer"].all())
    # only the fused stem (the rest of the tower is the unfused one, run in the tiny test): a full
    # forward costs seconds on a shared CPU
    enc = model.eval().audio_model.audio_encoder
    with torch.no_grad():
        image = enc.reshape_mel2img(feats["input_features"])  # (1, 4, 256, 256)
        fused = enc.patch_embed(image.clone(), torch.tensor([0]))  # (1, 64·64 patches, 96)
        plain = enc.patch_embed(image.clone(), torch.tensor([], dtype=torch.long))
    assert fused.shape == (1, 4096, 96) and torch.isfinite(fused).all()
    assert not torch.allclose(fused, plain)  # the converted mel_conv2d / AFF weights took part


# ------------------------------------------------------------------------------------------ errors
@pytest.fixture(scope="module")
def shapes_only():
    return laion_state(tiny_layout(), seed=None)


def test_text_only_dict_is_refused():
    sd = {"text_branch.embeddings.word_embeddings.weight": torch.zeros(4, 2),
          "text_projection.0.weight": torch.zeros(2, 2)}
    assert not is_laion_state_dict(sd) and not is_laion_state_dict({"state_dict": sd}) and not is_laion_state_dict([1])
    with pytest.raises(ClapModelError, match=r"audio_branch"):
        convert_laion_state_dict({"state_dict": sd})


@pytest.mark.parametrize("block,shape", [("2.blocks.3", [1152, 383]), ("2.blocks.3", [1151, 384]),
                                         ("0.blocks.0", [288, 95])], ids=["wrong-width", "not-3x", "stage-0"])
def test_corrupt_qkv_shape_is_a_clear_error(shapes_only, block, shape):
    key = f"audio_branch.layers.{block}.attn.qkv.weight"
    with pytest.raises(ClapModelError, match=re.escape(key)):  # a ValueError subclass, not RuntimeError / KeyError
        convert_laion_state_dict(shapes_only | {"module." + key: torch.zeros(shape)})


@pytest.mark.parametrize("key,value,message", [
    ("module.audio_projection.2.weight", None, r"audio_projection\.2\.weight is missing"),
    ("module.audio_branch.bn0.weight", None, r"audio_branch\.bn0\.weight is missing"),
    ("module.audio_branch.patch_embed.proj.weight", torch.zeros(96, 16), r"patch_embed\.proj\.weight is \[96, 16\]"),
    ("module.audio_branch.norm.weight", [1.0], r"audio_branch\.norm\.weight is a list"),
], ids=["no-projection", "no-bn0", "2d-patch-embed", "not-a-tensor"])
def test_missing_or_malformed_weight_is_a_clear_error(shapes_only, key, value, message):
    sd = {k: v for k, v in shapes_only.items() if k != key} | ({} if value is None else {key: value})
    with pytest.raises(ClapModelError, match=message):
        convert_laion_state_dict(sd)


def test_projection_dim_mismatch_is_refused(shapes_only):
    assert convert_laion_state_dict(shapes_only, projection_dim=512)[0].projection_dim == 512
    with pytest.raises(ClapModelError, match=r"512 dims but 768"):
        convert_laion_state_dict(shapes_only, projection_dim=768)


@pytest.mark.parametrize("extra,kind", [
    ({"patch_embed.fusion_model.local_att2.0.weight": [24, 96, 1, 1]}, "iaff_2d"),
    ({"mel_conv1d.0.weight": [64, 64, 5]}, "1d"),
    ({"patch_embed.mel_conv2d.weight": [96, 1, 4, 12]}, "daf_2d"),
    ({"absolute_pos_embed": [1, 4096, 96]}, "ape=True"),
    ({"layers.0.blocks.0.attn.extra_gate": [96]}, "does not know"),
], ids=["iaff_2d", "aff_1d", "daf_2d", "ape", "unknown-key"])
def test_unsupported_variants_are_refused(shapes_only, extra, kind):
    more = {"module.audio_branch." + k: torch.zeros(s) for k, s in extra.items()}
    if kind == "iaff_2d":  # an iAFF checkpoint has mel_conv2d and local_att too
        more |= {k: torch.zeros(s) for k, s in aff_2d_layout().items()}
    with pytest.raises(ClapModelError, match=kind):
        convert_laion_state_dict(shapes_only | more)


def test_laion_pt_file_loads_through_the_encoder(tmp_path, tiny):
    """A checkpoint saved the way laion-clap saves it ({"epoch", "state_dict", "optimizer"}, "module." keys)
    loads through load_audio_encoder (weights_only) and embeds audio."""
    from c2d_core.encoder_registry import load_audio_encoder
    state = {f"module.{k}" if not k.startswith("module.") else k: v for k, v in laion_state(tiny_layout()).items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(77)[None]
    torch.save({"epoch": 45, "state_dict": state, "optimizer": {"state": {}, "param_groups": []}},
               tmp_path / "630k-audioset-best.pt")
    enc = load_audio_encoder(tmp_path / "630k-audioset-best.pt")
    assert enc.model_id == "630k-audioset-best" and enc.embed_dim == 512 and not enc.fused
    e = enc.encode(torch.randn(2, 1, 48_000) * 0.1, 48_000)  # (B, C, T)
    assert e.shape == (2, 512) and torch.allclose(e.norm(dim=-1), torch.ones(2)) and (e[0] - e[1]).abs().max() > 0
