"""prepare for SDXL: ComfyUI's SDXL text encoders (both, through comfy.sd.CLIP around SDXLClipModel at test depth)
give the (77, 2048) context and the 1280-d pooled embedding; each image's original size and crop offset are kept
for SDXL's size/crop conditioning; the cache trains the reduced-width SDXL."""
import csv

import numpy as np
import pytest
import torch

from devtools.demo_audio import synth, write_wav

from .conftest import sdxl_config, tiny_sdxl_encoders

RES = 64
IMAGES = {"wide": (80, 48), "tall": (48, 96), "square": (64, 64)}     # (width, height) before prepare's resize
CAPTIONS = {"wide": "rain on a window", "tall": "a bird", "square": "rain on a window"}


def _png(path, w, h, seed):
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def sdxl_prepared(tmp_path_factory, comfy_root):
    from devtools.standin_clap import make_random_clap_folder
    from training.config_io import load_config
    from training.model import Base
    from training.prepare import prepare

    root = tmp_path_factory.mktemp("sdxl_prep")
    rows = []
    for i, (name, (w, h)) in enumerate(IMAGES.items()):
        write_wav(root / f"{name}.wav", synth("tone", 0.5, 16000, 1, seed=i) * 0.8, 16000)
        _png(root / f"{name}.png", w, h, i)
        rows.append({"audio": str(root / f"{name}.wav"), "image": str(root / f"{name}.png"), "caption": CAPTIONS[name]})
    with open(root / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["audio", "image", "caption"])
        writer.writeheader()
        writer.writerows(rows)
    ckpt = root / "tiny_sdxl.safetensors"       # only its name and size identify the cache: `base` is given
    ckpt.write_bytes(b"stand-in")
    clip, vae = tiny_sdxl_encoders()
    base = Base(model=None, family="sdxl", kind="checkpoint", source=str(ckpt), clip=clip, vae=vae)
    clap = make_random_clap_folder(root / "clap-random", seed=0)
    cfg = load_config(None, {"model.checkpoint": str(ckpt), "clap.model": str(clap), "data.source": str(root / "pairs.csv"),
                             "data.resolution": RES, "data.cache": str(root / "cache"), "data.val_fraction": 0.0,
                             "train.progress": False, "train.run_dir": str(root / "run")})
    report = prepare(cfg, base=base)
    return {"cfg": cfg, "report": report, "clip": clip, "vae": vae, "root": root}


def test_prepare_caches_both_encoders_pooled_text_and_image_geometry(sdxl_prepared):
    from training.cache_reader import load_cache
    from training.data import load_image

    cfg, clip = sdxl_prepared["cfg"], sdxl_prepared["clip"]
    assert sdxl_prepared["report"].encoded == 3
    cache = load_cache(cfg.cache_dir)
    assert cache.text.shape == (2, 77, 2048) and cache.null_text.shape == (77, 2048)   # two distinct captions
    assert cache.pooled.shape == (2, 1280) and cache.null_pooled.shape == (1280,)
    for sid in cache.ids:
        name = sid.split("/")[-1].split(".")[0]   # ids of manifest rows name the image file
        i = cache.ids.index(sid)
        cond, pooled = clip.encode_from_tokens(clip.tokenize(CAPTIONS[name]), return_pooled=True)
        b = cache.batch(torch.tensor([i]))
        torch.testing.assert_close(b["text"][0], cond[0].float(), rtol=2e-3, atol=2e-3)
        torch.testing.assert_close(b["pooled"][0], pooled[0].float(), rtol=2e-3, atol=2e-3)
        # original size (h, w) before the short-side resize, the centre crop's (top, left) in the resized image
        w, h = IMAGES[name]
        rw, rh = max(RES, round(w * RES / min(w, h))), max(RES, round(h * RES / min(w, h)))
        assert b["size"][0].tolist() == [h, w, (rh - RES) // 2, (rw - RES) // 2, RES, RES]
        want = sdxl_prepared["vae"].encode(load_image(sdxl_prepared["root"] / f"{name}.png", RES)[None]).float()
        torch.testing.assert_close(b["latent"], want.detach(), rtol=2e-3, atol=2e-3)
    empty_cond, empty_pooled = clip.encode_from_tokens(clip.tokenize(""), return_pooled=True)
    torch.testing.assert_close(cache.null_pooled, empty_pooled[0].float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cache.null_text, empty_cond[0].float(), rtol=1e-5, atol=1e-5)
    sizes = {tuple(s) for s in cache.size.tolist()}
    assert len(sizes) == 3 and any(s[2] or s[3] for s in sizes)      # the geometry differs and a crop is recorded


def test_the_sdxl_cache_trains_the_reduced_width_sdxl(sdxl_prepared, tmp_path):
    from training.loop import Trainer

    cfg = sdxl_config(tmp_path / "run", sdxl_prepared["cfg"].cache_dir, adapter__clap_dim=512,
                      data__val_fraction=0.0, train__stages=("align",))
    tr = Trainer(cfg)
    run = tr.begin_stage(tr.stages[0])
    b = tr._batch(tr.sampler.indices(0, 0, 0))
    assert b["latent"].shape[1:] == (4, RES // 8, RES // 8) and b["size"].shape == (2, 6)
    loss, _ = tr.train_step(run)
    assert 0 < loss < 10
