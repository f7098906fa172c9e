"""prepare for video (Wan): each video's first frames at data.fps through a Wan VAE (ComfyUI's own WanVAE, narrow,
random weights) into one video latent, and one audio embedding per frame from its sound track (the Audio Timeline's
windows); the tiny Wan trains on that cache. Frame counts Wan's VAE does not take, and videos on image families,
are refused naming the fix; evaluate scores the generated videos' sync with AV-Align."""
import math

import pytest
import torch

from .conftest import tiny_flux_encoders
from .test_data import write_video


def _tiny_wan_vae():
    """ComfyUI's Wan 2.1 VAE with random weights, narrow (16) where the host reads the width from the weights (0.33+;
    0.3.64 fixes it at Wan's 96)."""
    import inspect

    import comfy.sd
    from comfy.ldm.wan.vae import WanVAE

    g = torch.Generator().manual_seed(0)
    dim = 16 if 'sd["decoder.head.0.gamma"]' in inspect.getsource(comfy.sd.VAE.__init__) else 96
    net = WanVAE(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                 temperal_downsample=[False, True, True])
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.05 if p.dim() > 1 else 0.0) + (1.0 if "gamma" in name else 0.0))
    return comfy.sd.VAE(sd=net.state_dict())


def test_video_frames_are_read_at_the_asked_rate(tmp_path):
    from training.data import SampleError, load_video_frames

    path = write_video(tmp_path / "v.mp4", seconds=1.0, fps=10)            # red rises 0 → 255 over 10 frames
    every_other = load_video_frames(path, 5, 5.0, 32)                      # frames 0, 2, 4, 6, 8
    red = every_other[..., 0].mean(dim=(1, 2)) * 255
    assert every_other.shape == (5, 32, 32, 3)
    assert torch.allclose(red, torch.tensor([255 * i / 9 for i in (0, 2, 4, 6, 8)]), atol=12)
    with pytest.raises(SampleError, match=r"too short: data.video_frames=13 at data.fps=10 needs 1.20 s"):
        load_video_frames(path, 13, 10.0, 32)


def test_prepare_encodes_videos_and_per_frame_audio_and_trains_wan(tmp_path, comfy_root):
    import inspect

    import comfy.ldm.wan.model

    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.timeline import encode_timeline
    from devtools.standin_clap import make_random_clap_folder
    from training.cache_reader import load_cache
    from training.config_io import load_config
    from training.data import DataError, load_audio
    from training.loop import train
    from training.model import Base
    from training.prepare import prepare

    data = tmp_path / "data"
    data.mkdir()
    for name in ("rain", "bird"):
        write_video(data / f"{name}.mp4", seconds=1.5, fps=16)
    ckpt = tmp_path / "wan-tiny.safetensors"           # only its name and size identify the cache: `base` is given
    ckpt.write_bytes(b"stand-in")
    clip, _ = tiny_flux_encoders()                     # a text encoder of the tiny Wan's width (32)
    base = Base(model=None, family="wan", kind="checkpoint", source=str(ckpt), clip=clip, vae=_tiny_wan_vae())
    clap = make_random_clap_folder(tmp_path / "clap", seed=0)
    over = {"model.checkpoint": str(ckpt), "clap.model": str(clap), "data.source": str(data),
            "data.resolution": 64, "data.cache": str(tmp_path / "cache"), "data.val_fraction": 0.0,
            "data.video_frames": 9, "data.fps": 8.0, "data.audio_window": 0.5, "data.default_caption": "rain",
            "train.progress": False, "train.run_dir": str(tmp_path / "run")}
    cfg = load_config(None, over)
    assert prepare(cfg, base=base).encoded == 2
    cache = load_cache(cfg.cache_dir)
    assert cache.latent_shape == (16, 3, 8, 8) and cache.clap.shape == (2, 9, 512)   # 9 frames = 3 latent frames
    wav, rate = load_audio(data / "rain.mp4", 10.0)
    want, _ = encode_timeline(load_audio_encoder(str(clap)), wav, rate, 8.0, 0.5, n_frames=9)
    torch.testing.assert_close(cache.batch(torch.tensor([cache.ids.index("rain")]))["clap"][0], want.float(),
                               rtol=1e-4, atol=1e-5)
    for bad, message in ((10, r"Wan's VAE takes 4·k \+ 1 frames; use 9 or 13"), ):
        with pytest.raises(DataError, match=message):
            prepare(load_config(None, {**over, "data.video_frames": bad, "data.cache": str(tmp_path / "c2")}),
                    base=base)
    image_base = Base(model=None, family="flux", kind="checkpoint", source=str(ckpt), clip=clip, vae=base.vae)
    with pytest.raises(DataError, match="Flux.1 is an image model; set data.video_frames=0"):
        prepare(load_config(None, {**over, "data.cache": str(tmp_path / "c3")}), base=image_base)

    if 'transformer_options["grid_sizes"]' not in inspect.getsource(comfy.ldm.wan.model.WanModel.forward_orig):
        pytest.skip("training with frame-local audio needs ComfyUI 0.33+ (the cache part above ran)")
    run = load_config(None, {"model.tiny": True, "model.tiny_dit.family": "wan", "data.cache": str(cfg.cache_dir),
                             "data.val_fraction": 0.0, "adapter.clap_dim": 512, "train.run_dir": str(tmp_path / "run"),
                             "train.batch_size": 2, "train.progress": False, "train.stages": ["align"],
                             "stage.align.steps": 2, "train.warmup_steps": 0})
    assert train(run).step == 2

    from training.evaluate import evaluate
    from training.model import build_tiny
    scored = build_tiny(run.model)
    scored.vae = base.vae
    ev = load_config(None, {**{k: v for k, v in over.items() if k.startswith("data.")}, "model.tiny": True,
                            "model.tiny_dit.family": "wan", "eval.sample_steps": 2, "eval.max_samples": 2,
                            "train.run_dir": str(tmp_path / "run")})
    result = evaluate(ev, adapter_path=str(tmp_path / "run" / "adapter.safetensors"), base=scored)
    assert 0.0 <= result["AV_align"] <= 1.0 and 0.0 <= result["AV_align_real"] <= 1.0
    assert len(result["AV_align_per_clip"]) == 2 and result["fps"] == 8.0
    assert math.isfinite(result["loss_audio"]) and "AV-Align" in result["not_computed"]["FID"]
