"""prepare on the real encoders (random-weight SD1.5 stand-in through ComfyUI's loader, random CLAP):
unreadable samples are listed, re-runs are incremental; evaluate computes AIS / IIS / AIC / FID with
tiny random CLIP, Wav2CLIP and FID-Inception models given as local files."""
import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from devtools.demo_audio import synth, write_wav

REPO = Path(__file__).resolve().parents[2]
RES = 64   # 8×8 latents: the SD1.5 stand-in stays fast on the CPU


# ---- tiny random feature networks, written as the local files a user would give ------------------
def make_tiny_clip(path: Path) -> Path:
    """A random CLIP (projection 512, like ViT-B/32, so Wav2CLIP's space fits) with the real CLIP BPE
    tokenizer files ComfyUI ships."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from training.host import import_comfy
    tok_dir = import_comfy() / "comfy" / "sd1_tokenizer"
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=77),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=8),
                     projection_dim=512)
    CLIPModel(cfg).eval().save_pretrained(str(path))
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt")))
    processor.save_pretrained(str(path))
    return path


def make_tiny_wav2clip(path: Path) -> Path:
    """Random weights in the layout of the Wav2CLIP release checkpoint (audio_encoder.*, audio_transform.*)."""
    from wav2clip.model.encoder import MLPLayers, ResNetExtractor

    torch.manual_seed(0)
    enc = ResNetExtractor(scenario="supervise").encoder
    state = {f"audio_encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"audio_transform.{k}": v for k, v in MLPLayers().state_dict().items()})
    torch.save(state, path)
    return path


def make_random_fid_inception(path: Path) -> Path:
    """Random weights for torch-fidelity's FID InceptionV3 (the file layout of pt_inception-2015-12-05)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):   # keep the random init (the "file" below is empty)
            return None

    empty = path.with_suffix(".empty")
    torch.save({}, empty)
    torch.manual_seed(0)
    net = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    torch.save(net.state_dict(), path)
    return path


# ---- data ------------------------------------------------------------------------------------------
def write_png(path: Path, rgb, seed: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.clip(np.array(rgb)[None, None] + rng.normal(0, 20, (72, 80, 3)), 0, 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def make_dataset(root: Path) -> Path:
    for i in range(3):
        write_wav(root / "low" / f"l{i}.wav", synth("tone", 0.6, 16000, 1, seed=i) * 0.8, 16000)
        write_png(root / "low" / f"l{i}.png", (200, 40, 40), i)
        write_wav(root / "high" / f"h{i}.wav", synth("chirp", 0.6, 22050, 2, seed=i), 22050)
        write_png(root / "high" / f"h{i}.png", (40, 40, 200), 10 + i)
    (root / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    write_png(root / "low" / "broken.png", (0, 0, 0), 99)
    write_wav(root / "low" / "silent.wav", np.zeros((1, 8000), np.float32), 16000)
    write_png(root / "low" / "silent.png", (0, 0, 0), 98)
    write_wav(root / "high" / "lonely.wav", synth("noise", 0.3, 16000, 1), 16000)   # no image
    return root


@pytest.fixture(scope="module")
def sd15(comfy_root, tmp_path_factory):
    """The stand-in SD1.5 checkpoint loaded once (UNet, CLIP text encoder, VAE) and a random CLAP folder."""
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_sd15 import ensure_standins
    from training.config import ModelConfig
    from training.model import load_checkpoint

    ckpt = ensure_standins()["sd15"]
    base = load_checkpoint(ModelConfig(checkpoint=str(ckpt)), clip=True, vae=True)
    clap = make_random_clap_folder(tmp_path_factory.mktemp("clap") / "clap-random", seed=0)
    return {"ckpt": ckpt, "base": base, "clap": clap}


@pytest.fixture(scope="module")
def prepared(sd15, tmp_path_factory):
    from training.config_io import load_config
    from training.prepare import prepare

    root = tmp_path_factory.mktemp("prep")
    data = make_dataset(root / "data")
    cfg = load_config(None, {"model.checkpoint": str(sd15["ckpt"]), "clap.model": str(sd15["clap"]),
                             "data.source": str(data), "data.resolution": RES, "data.cache": str(root / "cache"),
                             "data.val_fraction": 0.5, "data.shard_size": 4, "train.progress": False,
                             "train.run_dir": str(root / "run"), "data.default_caption": "a photo"})
    report = prepare(cfg, base=sd15["base"])
    return {"cfg": cfg, "report": report, "root": root, "data": data}


def test_prepare_caches_real_encoders_and_lists_unreadable_samples(prepared, sd15):
    from training.cache_reader import load_cache

    cfg, report = prepared["cfg"], prepared["report"]
    assert report.encoded == report.total == 6
    assert set(report.skipped) == {"low/broken", "low/silent", "high/lonely"}
    assert "broken.wav" in report.skipped["low/broken"] and "silent" in report.skipped["low/silent"]
    listed = {r["id"] for r in json.loads((cfg.cache_dir / "skipped.json").read_text())}
    assert listed == set(report.skipped)
    cache = load_cache(cfg.cache_dir)
    assert len(list((cfg.cache_dir / "shards").glob("*.safetensors"))) == 2      # shard_size 4
    assert cache.clap.shape == (6, 512) and cache.latent.shape == (6, 4, RES // 8, RES // 8)
    assert cache.text.shape[-2:] == (77, 768) and cache.null_text.shape == (77, 768)
    torch.testing.assert_close(cache.clap.norm(dim=-1), torch.ones(6))
    assert sorted(set(cache.labels)) == ["high", "low"]
    # the latents are the checkpoint's VAE encoding of the images (as VAEEncode makes them)
    from training.data import load_image
    i = cache.ids.index("low/l0")
    want = sd15["base"].vae.encode(load_image(prepared["data"] / "low" / "l0.png", RES)[None]).float()
    torch.testing.assert_close(cache.latent[i:i + 1].float(), want, rtol=2e-3, atol=2e-3)


def test_two_prepare_processes_write_one_cache(prepared, tmp_path):
    """`torchrun --nproc_per_node 2 -m training prepare`: each process encodes every other new sample into its own
    files, process 0 merges the manifests; the cache equals the one-process cache sample by sample, one caption's
    conditioning is stored once per process at most, and only the merged manifest is left."""
    from training.cache_reader import load_cache
    from training.config_io import to_toml

    cfg = dataclasses.replace(prepared["cfg"], data=dataclasses.replace(prepared["cfg"].data,
                                                                           cache=str(tmp_path / "cache")))
    (tmp_path / "cfg.toml").write_text(to_toml(cfg))
    env = dict(__import__("os").environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "training",
                        "prepare", "--config", str(tmp_path / "cfg.toml")], cwd=REPO, capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    shards = sorted(p.stem for p in (tmp_path / "cache" / "shards").glob("*.safetensors"))
    assert {s[:3] for s in shards} == {"r0-", "r1-"}                      # both processes wrote
    assert sorted(p.name for p in (tmp_path / "cache").glob("manifest*.json")) == ["manifest.json"]
    one, two = load_cache(prepared["cfg"].cache_dir), load_cache(tmp_path / "cache")
    assert sorted(two.ids) == sorted(one.ids) and set(json.loads((tmp_path / "cache" / "skipped.json").read_text())
                                                      [0].keys()) == {"id", "reason"}
    order = torch.tensor([two.ids.index(i) for i in one.ids])
    a, b = one.batch(torch.arange(len(one))), two.batch(order)
    for k in ("clap", "latent", "text"):
        torch.testing.assert_close(b[k], a[k], rtol=2e-3, atol=2e-3)
    assert len(two.text) == 1 and len(json.loads((tmp_path / "cache" / "manifest.json").read_text())["texts"]) <= 2


def test_prepare_and_a_new_adapter_on_imagebind_features(prepared, sd15, tmp_path):
    """clap.model may be any audio encoder file the nodes read: ImageBind gives 1024-d rows an adapter is sized from,
    equal to what the nodes' encoder makes of the same clip."""
    from c2d_core.encoder_registry import load_audio_encoder
    from devtools.standin_imagebind import make_random_imagebind_file
    from training.adapter_setup import build_adapter_for
    from training.cache_reader import load_cache
    from training.data import load_audio
    from training.prepare import prepare

    imagebind = make_random_imagebind_file(tmp_path / "imagebind_huge.pth", seed=1)
    base_cfg = prepared["cfg"]
    cfg = dataclasses.replace(base_cfg, clap=dataclasses.replace(base_cfg.clap, model=str(imagebind)),
                              data=dataclasses.replace(base_cfg.data, cache=str(tmp_path / "cache")),
                              adapter=dataclasses.replace(base_cfg.adapter, clap_dim=1024))
    report = prepare(cfg, base=sd15["base"])
    cache = load_cache(cfg.cache_dir)
    assert report.encoded == 6 and cache.clap.shape == (6, 1024)
    assert cache.encoders["clap_model_id"] == "imagebind_huge"
    i = cache.ids.index("high/h1")
    wave, rate = load_audio(prepared["data"] / "high" / "h1.wav", cfg.data.max_audio_seconds)
    torch.testing.assert_close(cache.clap[i], load_audio_encoder(imagebind).encode(wave, rate)[0], atol=1e-5, rtol=1e-4)
    adapter = build_adapter_for(cfg, sd15["base"], cache)
    assert adapter.config.clap_dim == 1024 and adapter.config.clap_model_id == "imagebind_huge"


def test_prepare_is_incremental(prepared, sd15, tmp_path, monkeypatch):
    import training.model
    from training.cache_reader import load_cache
    from training.config_io import to_toml
    from training.prepare import prepare

    cfg, data = prepared["cfg"], prepared["data"]
    work = tmp_path / "cache"
    shutil.copytree(cfg.cache_dir, work)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, cache=str(work)))
    # nothing changed: no re-encoding, no retry of the unreadable files, not even a checkpoint load
    with monkeypatch.context() as m:
        def no_load(*args, **kwargs):
            raise AssertionError("prepare loaded the checkpoint although nothing changed")
        m.setattr(training.model, "load_checkpoint", no_load)
        again = prepare(cfg)
    assert again.encoded == 0 and again.total == 6 and set(again.skipped) == set(prepared["report"].skipped)
    (tmp_path / "cfg.toml").write_text(to_toml(cfg))
    r = subprocess.run([sys.executable, "-m", "training", "prepare", "--config", str(tmp_path / "cfg.toml")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "prepared 6 samples" in r.stderr and "(0 new, 3 skipped" in r.stderr
    # one new pair, one changed caption, one removed pair: only two encodings
    write_wav(data / "high" / "h9.wav", synth("chirp", 0.5, 16000, 1, seed=9), 16000)
    write_png(data / "high" / "h9.png", (40, 40, 200), 19)
    (data / "low" / "l1.txt").write_text("a red square")
    moved = data.parent / "removed"
    moved.mkdir(exist_ok=True)
    shutil.move(str(data / "high" / "h2.wav"), moved / "h2.wav")
    try:
        report = prepare(cfg, base=sd15["base"])
    finally:
        shutil.move(str(moved / "h2.wav"), data / "high" / "h2.wav")
        (data / "low" / "l1.txt").unlink()
        for f in ("h9.wav", "h9.png"):
            (data / "high" / f).unlink()
    assert report.encoded == 2 and report.total == 6
    assert "high/h2" in report.skipped and "no audio" in report.skipped["high/h2"]   # h2.png has no partner now
    cache = load_cache(work)
    assert "high/h9" in cache.ids and "high/h2" not in cache.ids
    assert json.loads((work / "manifest.json").read_text())["samples"]["low/l1"]["caption"] == "a red square"


def _need_metric_packages():
    """torchmetrics / torch-fidelity (FID) and wav2clip (AIS) come from training/requirements.txt."""
    for name in ("torchmetrics", "torch_fidelity", "wav2clip"):
        pytest.importorskip(name, reason=f"{name} is not installed: pip install -r training/requirements.txt")


def test_evaluate_metrics_with_local_feature_networks(prepared, sd15, tmp_path):
    _need_metric_packages()
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.placement import select_blocks
    from c2d_core.unet_blocks import discover_blocks
    from training.config_io import load_config
    from training.evaluate import evaluate

    base = sd15["base"]
    blocks, ctx = discover_blocks(base.unet)
    adapter = new_adapter(AdapterConfig(clap_dim=512, context_dim=ctx, gate_init=0.5, hidden_dim=64,
                                        blocks=select_blocks(blocks, "mid_up")), seed=0)
    save_adapter(tmp_path / "a.safetensors", adapter)
    from devtools import standin_packs
    from devtools.standin_imagebind import make_random_imagebind_file
    files = {"eval.clip": str(make_tiny_clip(tmp_path / "clip")),
             "eval.wav2clip": str(make_tiny_wav2clip(tmp_path / "Wav2CLIP.pt")),
             "eval.fid_weights": str(make_random_fid_inception(tmp_path / "pt_inception.pth")),
             "eval.imagebind": str(make_random_imagebind_file(tmp_path / "imagebind_huge.pth")),   # the judge
             "eval.clip_vision": str(standin_packs.ensure("clip_vision", standin_packs.clip_vision_h))}
    cfg = load_config(None, {**files, "model.checkpoint": str(sd15["ckpt"]), "data.source": str(prepared["data"]),
                             "data.cache": str(prepared["cfg"].cache_dir), "data.resolution": RES,
                             "data.val_fraction": 0.5, "eval.sample_steps": 2, "train.batch_size": 4,
                             "eval.class_prompt": "a {label} sound"})
    scores = evaluate(cfg, adapter_path=str(tmp_path / "a.safetensors"), out=str(tmp_path / "s.json"), base=base,
                      k_timesteps=1)
    assert "not_computed" not in scores, scores.get("not_computed")
    assert scores["samples"] == 3 and scores["real_images"] == "data.source files"
    for k in ("AIS", "IIS"):
        assert -1.0 <= scores[k] <= 1.0 and math.isfinite(scores[k]), (k, scores[k])
    assert scores["pairs"] == 3 and 0.0 <= scores["AIS_imagebind"] <= scores["AIS_imagebind_perfect"] == 2 / 3
    assert any(scores["AIC"] == pytest.approx(v) for v in (0.0, 1 / 3, 2 / 3, 1.0)), scores["AIC"]
    assert math.isfinite(scores["FID"]) and scores["FID"] >= 0
    assert scores["loss_audio"] != scores["loss_shuffled"]          # the audio reaches the SD1.5 UNet
    assert json.loads((tmp_path / "s.json").read_text())["FID"] == scores["FID"]


class PixelFeatures(torch.nn.Module):
    """A stand-in FID feature network: (N, 3, H, W) uint8 → (N, 12) fixed random projection of 4×4 means."""

    def __init__(self):
        super().__init__()
        self.register_buffer("proj", torch.randn(48, 12, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1) @ self.proj


def test_metric_functions_behave(tmp_path):
    _need_metric_packages()
    from training import metrics as M

    g = torch.Generator().manual_seed(0)
    real = torch.rand(16, 32, 32, 3, generator=g)
    other = (real * 0.3 + 0.6).clamp(0, 1)
    feature = PixelFeatures()
    assert abs(M.fid(real, real, feature=feature)) < 1e-3
    assert M.fid(real, other, feature=feature) > 1.0
    e = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
    assert M.iis(e, e) == pytest.approx(1.0)
    assert M.aic(e, e, torch.arange(4)) == 1.0 and M.aic(e, e, torch.tensor([1, 0, 3, 2])) == 0.0
    with pytest.raises(M.MetricModelError, match="ViT-B/32"):
        M.ais(torch.zeros(2, 512), torch.zeros(2, 768))
    with pytest.raises(M.MetricModelError, match="eval.clip"):
        M.ClipScorer.from_path(tmp_path / "no_clip")
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(M.MetricModelError, match="audio_encoder"):
        M.Wav2ClipEncoder.from_path(tmp_path / "bad.pt")
    torch.save({"audio_encoder.w": torch.zeros(1), "hook": PixelFeatures}, tmp_path / "unsafe.pt")  # pickles a class
    with pytest.raises(M.MetricModelError, match="unsafe.pt needs unsafe unpickling.*refused unread"):
        M.Wav2ClipEncoder.from_path(tmp_path / "unsafe.pt")
    with pytest.raises(M.MetricModelError, match="eval.fid_weights"):
        M.fid(real, other, weights=tmp_path / "no_inception.pth")
