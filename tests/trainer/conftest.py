"""Fixtures for the trainer's tests: a tiny UNet (built by ComfyUI's own classes from a config) and a
small prepared cache of synthetic samples. No weights are downloaded; everything runs on the CPU."""
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _threads():
    # One thread: the tiny models gain little from two, and on a shared 2-core machine a second OpenMP
    # thread that has to wait for a busy core makes small ops ~10× slower.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def comfy_root():
    from devtools.comfy_host import find_comfyui

    root = find_comfyui()
    if root is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH; trainer tests did NOT run")
    from training.host import import_comfy
    import_comfy(root, cpu=True)
    return root


@pytest.fixture(scope="module")
def pack_host(tmp_path_factory, comfy_root):
    """The in-process ComfyUI with this pack loaded (shared with tests/host when they ran first)."""
    import devtools.comfy_host as ch

    host = ch.current_host() or ch.get_host(tmp_path_factory.mktemp("models"), tmp_path_factory.mktemp("work"),
                                            load_pack=False, comfy_root=comfy_root)
    host.load_pack()
    return host


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory, comfy_root):
    """A prepared cache: 48 synthetic samples (4 classes), 64-d stand-in embeddings, 8×8 latents."""
    from toy import task as S

    root = tmp_path_factory.mktemp("tiny")
    task = S.Task(train_per_class=12)
    labels = [k for k in range(4) for _ in range(task.train_per_class)]
    S.write_cache(root / "cache", task, S.fake_embed(labels, 64, seed=2), labels, S.latents(labels, task, seed=1),
                  "stand-in")
    return root / "cache"


@pytest.fixture
def make_config(tiny_cache):
    """make_config(run_dir, steps=(a, b, c), **overrides) → a Config for the tiny UNet and tiny_cache."""
    from toy import task as S

    def make(run_dir, steps=(4, 4, 4), **overrides):
        over = {"adapter.clap_dim": 64, "model.tiny_weights": "", "train.batch_size": 4, "train.log_every": 1,
                "train.checkpoint_every": 2, "train.keep_checkpoints": 2, "train.warmup_steps": 2,
                "stage.gates.eval_every": 2, "data.val_fraction": 0.1}
        over.update({k.replace("__", "."): v for k, v in overrides.items()})
        return S.task_config(Path(run_dir), tiny_cache, S.Task(), steps=steps, batch=4, overrides=over)

    return make



def adamw_reach(run_dir: Path) -> float:
    """Σ_t lr_t over a run's steps (from its CSV log, one row per step): the farthest AdamW can move any weight.

    Two runs that train the same thing in float32 differ only by summation order. Adam divides each gradient by
    its own running RMS, so an element whose gradient is at rounding level can take a visibly different step:
    the difference is bounded by this reach, not by float32's epsilon, and it differs between CPUs. A real
    difference in what is trained (other samples, a wrong scale) moves weights by about the reach itself.
    """
    from training.logs import RunLog

    rows = [r for r in RunLog.read(Path(run_dir) / "logs" / "train.csv") if r["lr"]]
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, len(steps) + 1)), f"need one log row per step (train.log_every=1), got {steps}"
    return sum(float(r["lr"]) for r in rows)


def assert_same_training(got: dict, want: dict, reach: float, fraction: float = 0.01) -> float:
    """Every tensor of `got` within fraction × reach of `want` (absolute); returns the tolerance used."""
    tol = fraction * reach
    assert set(got) == set(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=tol, msg=lambda m, k=k: f"{k}: {m} (tolerance "
                                   f"{fraction} × AdamW reach {reach:.3g})")
    return tol


def write_sdxl_cache(cache: Path, n: int = 16, context_dim: int = 2048, latent: int = 8, clap_dim: int = 64,
                     seed: int = 0) -> Path:
    """A cache as `prepare` writes it for SDXL: (4, context_dim) text, 1280-d pooled text, per-image geometry
    (original size, crop, target), 4 classes of latents / stand-in embeddings; two captions."""
    from training.cache import CacheWriter

    g = torch.Generator().manual_seed(seed)
    texts = [torch.randn(4, context_dim, generator=g) * 0.5 for _ in range(2)]
    pooled = [torch.randn(1280, generator=g) for _ in range(2)]
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": "stand-in",
                            "clap_dim": clap_dim}, shard_size=256)
    centres = torch.randn(4, clap_dim, generator=g)
    for i in range(n):
        k = i % 4
        clap = torch.nn.functional.normalize(centres[k] + 0.3 * torch.randn(clap_dim, generator=g), dim=0)
        x0 = torch.randn(4, latent, latent, generator=g) * 0.5 + (k - 1.5)
        w.add(f"s{i:03d}", "synthetic", clap=clap, latent=x0, text=texts[i % 2], pooled=pooled[i % 2],
              size=(480 + 16 * i, 640, 8 * (i % 3), 0, 8 * latent, 8 * latent), label=str(k))
    w.set_null_text(torch.zeros(4, context_dim), torch.zeros(1280))
    w.close()
    return cache


@pytest.fixture(scope="session")
def tiny_sdxl_cache(tmp_path_factory, comfy_root):
    """A prepared SDXL-style cache: 16 samples, 2048-wide text, pooled text and image sizes, 8×8 latents."""
    return write_sdxl_cache(tmp_path_factory.mktemp("tiny_sdxl") / "cache")


def sdxl_config(run_dir, cache, steps=(3, 2, 2), **overrides):
    """Trainer config of the reduced-width SDXL (model.tiny_unet.family=sdxl, context 2048) on `cache`."""
    from training.config_io import load_config

    over = {"model.tiny": True, "model.tiny_unet.family": "sdxl", "model.tiny_unet.context_dim": 2048,
            "adapter.clap_dim": 64, "adapter.hidden_dim": 32, "adapter.n_tokens": 4, "adapter.n_mlps": 2,
            "adapter.placement": "light", "data.cache": str(cache), "data.val_fraction": 0.2,
            "train.run_dir": str(run_dir), "train.batch_size": 2, "train.log_every": 1, "train.warmup_steps": 0,
            "train.checkpoint_every": 2, "train.keep_checkpoints": 2, "train.progress": False,
            "train.tensorboard": False, "stage.align.steps": steps[0], "stage.joint.steps": steps[1],
            "stage.gates.steps": steps[2], "stage.gates.eval_every": 1}
    over.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(None, overrides=over)


def _fast_init(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights for ComfyUI modules (which allocate uninitialised storage): norms 1/0, the rest N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 0:      # CLIP's logit_scale
                continue
            if p.dim() == 1:
                p.fill_(1.0 if name.endswith("weight") and "norm" in name else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
    return module.requires_grad_(False)


def tiny_sdxl_encoders(seed: int = 0):
    """(clip, vae) as ComfyUI's checkpoint loader makes them for SDXL, at test size: `comfy.sd.CLIP` around
    ComfyUI's own SDXLClipModel (CLIP-L 768 + CLIP-G 1280 wide → (77, 2048) context and 1280-d pooled, the real
    tokenizers) made 3 layers deep through ComfyUI's `clip_l_model_config` / `clip_g_model_config` options (3: the
    penultimate layer SDXL reads must exist), and a `comfy.sd.VAE` with a narrow AutoencoderKL (ch 32, factor 8).
    Random weights (seeded)."""
    import comfy.sd
    import comfy.sdxl_clip
    from comfy.supported_models_base import ClipTarget

    small = {"num_hidden_layers": 3, "intermediate_size": 64}
    clip = comfy.sd.CLIP(target=ClipTarget(comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLClipModel),
                         model_options={"clip_l_model_config": small, "clip_g_model_config": small,
                                        "dtype": torch.float32})
    _fast_init(clip.cond_stage_model, seed)
    return clip, narrow_vae(4, seed + 1)


def narrow_vae(channels: int, seed: int):
    """A `comfy.sd.VAE` with a narrow AutoencoderKL (ch 32, factor 8) of `channels` latent channels, random weights."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    params = {"embed_dim": channels, "ddconfig": {"double_z": True, "z_channels": channels, "resolution": 64,
                                                  "in_channels": 3, "out_ch": 3, "ch": 32, "ch_mult": [1, 1, 1, 1],
                                                  "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}}
    weights = _fast_init(AutoencoderKL(**params), seed).state_dict()
    return comfy.sd.VAE(sd=weights, config={"params": params}, dtype=torch.float32)


def tiny_flux_encoders(seed: int = 0):
    """(clip, vae) for Flux.1 at test size: `comfy.sd.CLIP` around ComfyUI's own FluxClipModel (CLIP-L for the
    pooled vector, T5-XXL for the tokens, the real tokenizers: T5 pads to 256 tokens) narrowed through ComfyUI's
    `clip_l_model_config` / `t5xxl_model_config` options to the tiny Flux's widths (pooled 24, tokens 32,
    training/tiny_dit.py), and a `comfy.sd.VAE` with a narrow 16-channel AutoencoderKL (Flux's latent channels).
    Random weights (seeded)."""
    import comfy.sd
    import comfy.text_encoders.flux
    from comfy.supported_models_base import ClipTarget

    from training.tiny_dit import POOLED_WIDTH, TEXT_WIDTH

    clip_l = {"num_hidden_layers": 2, "hidden_size": POOLED_WIDTH, "intermediate_size": 48, "num_attention_heads": 2,
              "projection_dim": POOLED_WIDTH}
    t5 = {"num_layers": 2, "d_model": TEXT_WIDTH, "d_ff": 64, "d_kv": 16, "num_heads": 2}
    clip = comfy.sd.CLIP(target=ClipTarget(comfy.text_encoders.flux.FluxTokenizer,
                                           comfy.text_encoders.flux.FluxClipModel),
                         model_options={"clip_l_model_config": clip_l, "t5xxl_model_config": t5,
                                        "dtype": torch.float32})
    _fast_init(clip.cond_stage_model, seed)
    return clip, narrow_vae(16, seed + 1)
