"""The synthetic task (toy/task.py) on a tiny SDXL-structured UNet: SDXL's blocks and conditioning at toy width.

The base is ComfyUI's own SDXL model (`training.model.build_tiny` with `TinyUNetConfig(family="sdxl")`: 3 levels,
transformer depth 0/2/10 and 10 in the middle = SDXL's 70 transformer blocks, 2048-wide text context, the 2816-wide
ADM vector `y` made by ComfyUI's `encode_adm` from a 1280-d pooled caption and the image geometry) at
`model_channels` 32. Everything else is the SD1.5 toy's: tones → random-weight CLAP → adapter; 8×8 latents whose
square colour is the tone's class; held-out clips scored by the nearest-centroid classifier. One difference: the base
is pretrained with a caption per colour on half the rows (see `pretrain`), so that the colour is steerable through the
cross-attention levels, where the adapter's blocks are, as in a real SDXL. Measured: with the 1200-step base the
adapter learns the task (training/README.md, "SDXL learning evidence and placement ablation"); with a 400-step base,
which follows its captions on only 36 % of held-out samples, it did not.

Pretraining this base (every weight but the two that only ever see constants, below) takes minutes on a CPU, and
its fp16 weights are 114 MB, too big for the repository; so `ensure_base` builds it once per machine into
~/.cache/clap2diffusion/toy/ (keyed by a hash of the toy's sources and the pretraining settings) and reuses it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from training.config import Config, ModelConfig, TinyUNetConfig

from . import task as S
from .code_hash import code_of

log = logging.getLogger(__name__)

TINY_SDXL = TinyUNetConfig(family="sdxl", model_channels=32, num_heads=2, context_dim=2048)
POOLED_DIM = 1280                       # SDXL's pooled text embedding (CLIP-G); y = pooled ‖ 6 × 256 geometry
CACHE_DIR = Path(os.environ.get("C2D_TOY_CACHE", Path.home() / ".cache" / "clap2diffusion" / "toy"))
# Base pretraining leaves these at their seeded init: they only ever see five fixed captions' text tokens and one
# ADM vector, which random projections keep apart, so training them adds little the layers after them cannot learn;
# they are 60 % of the UNet's weights (the optimizer step over them would dominate a pretraining step).
FROZEN_IN_PRETRAINING = ("attn2.to_k.", "attn2.to_v.", "label_emb.0.0.")


def task(**kw) -> S.Task:
    """The synthetic task with SDXL's 2048-wide text context."""
    return S.Task(context_dim=TINY_SDXL.context_dim, **kw)


def pooled_caption() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed caption's pooled embedding (1280,) and the empty caption's (zeros)."""
    g = torch.Generator().manual_seed(4322)
    return torch.randn(POOLED_DIM, generator=g) * 0.5, torch.zeros(POOLED_DIM)


def class_captions(t: S.Task) -> torch.Tensor:
    """(4, L, D) one caption per colour ("a red square" …), only for pretraining the base (see `pretrain`)."""
    g = torch.Generator().manual_seed(4323)
    return torch.randn(S.N_CLASSES, t.context_len, t.context_dim, generator=g) * 0.5


def write_cache(cache: Path, t: S.Task, embeds: torch.Tensor, labels: list[int], x0: torch.Tensor,
                clap_model_id: str) -> None:
    """The trainer's cache as `prepare` writes it for SDXL: text (4, 2048), pooled (1280,), no geometry (the
    trainer then uses the latent's pixel size, uncropped: what ComfyUI's sampler gives a plain prompt)."""
    S.write_cache(cache, t, embeds, labels, x0, clap_model_id, pooled=pooled_caption())


def task_config(run_dir: Path, cache: Path, t: S.Task, *, steps: tuple[int, int, int], batch: int, lr: float,
                overrides: dict | None = None) -> Config:
    """The SD1.5 toy's trainer config (toy.task.task_config) on the tiny SDXL."""
    over = {"model.tiny_unet.family": TINY_SDXL.family, "model.tiny_unet.model_channels": TINY_SDXL.model_channels,
            "model.tiny_unet.num_heads": TINY_SDXL.num_heads}
    over.update(overrides or {})
    return S.task_config(run_dir, cache, t, steps=steps, batch=batch, lr=lr, overrides=over)


def adm_y(base_model, n: int, latent_size: int) -> torch.Tensor:
    """(n, 2816) the ADM vector of the fixed caption at the latent's pixel size, uncropped (what the trainer uses)."""
    from training.adm import adm_vector, default_sizes

    pooled, _ = pooled_caption()
    return adm_vector(base_model, pooled.expand(n, -1), default_sizes((latent_size, latent_size), n))


# ---- the base --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Pretraining:
    steps: int = 1200
    batch: int = 16
    lr: float = 3e-3
    train_per_class: int = 32
    named_fraction: float = 0.5     # rows captioned with their colour's caption; the rest get the task's one caption
    seed: int = 0


def pretrain(t: S.Task, p: Pretraining, out: Path, log_fn=log.info) -> dict:
    """Train the tiny SDXL (no audio, the fixed ADM vector) to draw the task's squares; save fp16.

    Half the rows are captioned with their colour's caption (`class_captions`), the rest with the task's one caption
    (so with it the base draws a random colour). SDXL has no attention at its full-resolution level, and an 8×8
    latent is small enough for that level's convolutions to decide the colour alone, where no adapter block can
    reach. A real SDXL is steered by text through its cross-attention levels; the named captions make the toy base
    the same, the more the longer it is pretrained: it follows a colour's caption on 36 % of held-out samples after
    400 steps, 55 % after 1200 (training/README.md, SDXL learning evidence)."""
    from safetensors.torch import save_file

    from training.model import build_tiny
    from training.objective import draw_noise, predict_eps

    t = _base_task(t, p)
    labels = [k for k in range(S.N_CLASSES) for _ in range(p.train_per_class)]
    x0 = S.latents(labels, t, t.seed + 1)
    base = build_tiny(ModelConfig(tiny=True, tiny_unet=dataclasses.replace(TINY_SDXL, in_channels=t.channels)),
                      seed=p.seed)
    unet, ms = base.unet, base.model_sampling
    unet.train()
    params = []
    for name, w in unet.named_parameters():
        w.requires_grad_(not any(f in name for f in FROZEN_IN_PRETRAINING))
        if w.requires_grad:
            params.append(w)
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.0, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / p.steps))))
    text, _ = S.caption(t)
    named = class_captions(t)
    y = adm_y(base.model, p.batch, t.latent_size)
    g = torch.Generator().manual_seed(p.seed + 99)
    losses, t0 = [], time.perf_counter()
    for step in range(p.steps):
        idx = torch.randint(0, len(x0), (p.batch,), generator=g)
        rnd = draw_noise(g, (p.batch,) + tuple(x0.shape[1:]), len(ms.sigmas), 0.0, 0.0)
        named_rows = torch.rand(p.batch, generator=g) < p.named_fraction
        context = torch.where(named_rows.view(-1, 1, 1), named[torch.tensor(labels)[idx]], text[None])
        sigma = ms.sigmas[rnd.t].float()
        eps = predict_eps(base.model, None, ms.noise_scaling(sigma, rnd.noise, x0[idx]), sigma, context, None, y=y)
        loss = F.mse_loss(eps, rnd.noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            log_fn(f"tiny SDXL base: step {step + 1}/{p.steps}, loss {sum(losses[-50:]) / 50:.4f}, "
                   f"{time.perf_counter() - t0:.0f} s")
    unet.eval().requires_grad_(False)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    save_file({k: v.to(torch.float16).contiguous() for k, v in unet.state_dict().items()}, str(tmp))
    os.replace(tmp, out)
    return {"steps": p.steps, "loss_start": sum(losses[:10]) / 10, "loss_end": sum(losses[-20:]) / 20,
            "seconds": time.perf_counter() - t0}


def _base_task(t: S.Task, p: Pretraining) -> S.Task:
    """The task the base is pretrained on: t's latents and caption, its own sample count (so runs of other sizes
    share one base)."""
    return dataclasses.replace(t, train_per_class=p.train_per_class, test_per_class=0)


def _key(t: S.Task, p: Pretraining) -> str:
    """What the pretrained base depends on: the settings and the code of every function that makes it."""
    h = hashlib.sha256(json.dumps([dataclasses.asdict(_base_task(t, p)), dataclasses.asdict(p),
                                   dataclasses.asdict(TINY_SDXL), FROZEN_IN_PRETRAINING, torch.__version__],
                                  sort_keys=True, default=str).encode())
    for f in (S.latents, S.colours, S.caption, class_captions, pooled_caption, adm_y, _base_task, pretrain):
        h.update(code_of(f).encode())
    return h.hexdigest()[:16]


def ensure_base(t: S.Task, p: Pretraining = Pretraining(), cache_dir: Path | None = None, log_fn=log.info,
                built: list | None = None) -> Path:
    """The pretrained tiny-SDXL base for task t: built once per machine (says so through log_fn, and appends that
    line to `built`, as devtools.standin_sdxl.ensure_sdxl_standins does: tests show it), then reused."""
    path = Path(cache_dir or CACHE_DIR) / f"tiny_sdxl_base_{_key(t, p)}.safetensors"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        log_fn(f"tiny SDXL base: reusing {path} (pretrained {json.loads(meta.read_text())['seconds']:.0f} s)")
        return path
    log_fn(f"tiny SDXL base: not cached yet, pretraining it ({p.steps} steps, once per machine) into {path}")
    info = pretrain(t, p, path, log_fn)
    meta.write_text(json.dumps(info, indent=1))
    line = f"tiny SDXL base: built, loss {info['loss_start']:.3f} → {info['loss_end']:.3f} in {info['seconds']:.0f} s"
    log_fn(line)
    if built is not None:
        built.append(line)
    return path


def load_base(weights: Path, t: S.Task):
    """The pretrained tiny SDXL (training.model.Base); its samplers take `y=adm_y(...)`."""
    from training.model import build_tiny

    return build_tiny(ModelConfig(tiny=True, tiny_weights=str(weights),
                                  tiny_unet=dataclasses.replace(TINY_SDXL, in_channels=t.channels)))
