"""prepare for a DiT (Flux.1): ComfyUI's own Flux text encoders (CLIP-L's pooled vector, T5's tokens, at test width)
and a 16-channel VAE fill the cache the tiny Flux then trains on; a diffusion-model-only file without its encoder
files is refused naming the settings."""
import csv

import numpy as np
import pytest
import torch

from devtools.demo_audio import synth, write_wav

from .conftest import tiny_flux_encoders

CAPTIONS = ("rain on a window", "a bird", "rain on a window")


def _pairs(root):
    from PIL import Image

    rows = []
    for i, caption in enumerate(CAPTIONS):
        write_wav(root / f"s{i}.wav", synth("tone", 0.5, 16000, 1, seed=i) * 0.8, 16000)
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / f"s{i}.png")
        rows.append({"audio": str(root / f"s{i}.wav"), "image": str(root / f"s{i}.png"), "caption": caption})
    with open(root / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["audio", "image", "caption"])
        w.writeheader()
        w.writerows(rows)
    return root / "pairs.csv"


def test_prepare_caches_flux_tokens_and_pooled_vectors_and_trains(tmp_path, comfy_root):
    from devtools.standin_clap import make_random_clap_folder
    from training.cache_reader import load_cache
    from training.config_io import load_config
    from training.loop import train
    from training.model import Base
    from training.prepare import prepare

    ckpt = tmp_path / "flux1-tiny.safetensors"      # only its name and size identify the cache: `base` is given
    ckpt.write_bytes(b"stand-in")
    clip, vae = tiny_flux_encoders()
    base = Base(model=None, family="flux", kind="checkpoint", source=str(ckpt), clip=clip, vae=vae)
    cfg = load_config(None, {"model.checkpoint": str(ckpt), "clap.model": str(make_random_clap_folder(
        tmp_path / "clap", seed=0)), "data.source": str(_pairs(tmp_path)), "data.resolution": 64,
        "data.cache": str(tmp_path / "cache"), "data.val_fraction": 0.0, "train.progress": False,
        "train.run_dir": str(tmp_path / "run")})
    assert prepare(cfg, base=base).encoded == 3
    cache = load_cache(cfg.cache_dir)
    assert cache.text.shape == (2, 256, 32) and cache.pooled.shape == (2, 24)     # T5 pads to 256; 2 captions
    assert cache.latent.shape == (3, 16, 8, 8) and cache.null_pooled.shape == (24,)
    cond, pooled = clip.encode_from_tokens(clip.tokenize("a bird"), return_pooled=True)
    row = cache.batch(torch.tensor([1]))
    torch.testing.assert_close(row["text"][0], cond[0].float(), rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(row["pooled"][0], pooled[0].float(), rtol=2e-3, atol=2e-3)

    run = load_config(None, {"model.tiny": True, "model.tiny_dit.family": "flux", "data.cache": str(cfg.cache_dir),
                             "data.val_fraction": 0.0, "adapter.clap_dim": int(cache.clap.shape[1]),
                             "train.run_dir": str(tmp_path / "run"), "train.batch_size": 2, "train.progress": False,
                             "train.stages": ["align"], "stage.align.steps": 2, "train.warmup_steps": 0})
    result = train(run)
    assert result.step == 2 and result.adapter_path.is_file()


def test_a_diffusion_model_only_file_needs_its_encoder_files(tmp_path, comfy_root):
    from safetensors.torch import save_file

    from c2d_core.errors import UnsupportedModelError
    from training.config import ModelConfig
    from training.model import load_encoders
    from training.tiny_dit import build_dit

    path = tmp_path / "sd3-tiny.safetensors"
    save_file({k: v.contiguous() for k, v in build_dit("sd3").diffusion_model.state_dict().items()}, str(path))
    with pytest.raises(UnsupportedModelError, match=r"SD3\.5 diffusion model alone: prepare also needs "
                                                     r"model\.text_encoders and model\.vae.*CLIPLoader \(type sd3\)"):
        load_encoders(ModelConfig(checkpoint=str(path)))
    with pytest.raises(FileNotFoundError, match="nope.safetensors does not exist"):
        load_encoders(ModelConfig(checkpoint=str(path), text_encoders=(str(tmp_path / "nope.safetensors"),),
                                  vae=str(path)))
