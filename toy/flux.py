"""The synthetic task (toy/task.py) on a tiny Flux: ComfyUI's own Flux model at toy size, trained with flow matching.

The base is `training.model.build_tiny` with `model.tiny_dit.family = "flux"` (training/tiny_dit.py: 2 double- and
2 single-stream blocks, 64 wide, 4 heads, RoPE, modulation, Flux-dev's guidance input and its 24-wide pooled vector
`y`), Flux's sigmas with its shift, 16 latent channels, patch 2 (an 8×8 latent is 16 image tokens). The base is
pretrained here with flow matching (v = ε − x0) on the task's squares with one caption and no audio, so it draws a
square of a random one of the four colours; the adapter, trained through the real trainer (`training.loop.train`,
the same flow-matching loss), must pick the colour the sound says. Held-out clips are sampled with the trainer's
Euler sampler (training/sampling.py) at audio CFG 4 and scored by the task's nearest-centroid classifier.

Pretraining takes about a minute on a CPU and the base is 1.5 MB, so each run makes its own (no cache).
`run(..., two_factor=True)` is the seeds' "4 MLPs are richer" test: pitch → colour and pulse rate → position.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.config import Config, ModelConfig, TinyDiTConfig

from . import task as S
from .experiment import embedding_accuracy

log = logging.getLogger(__name__)

TINY_FLUX = TinyDiTConfig(family="flux", double_blocks=2, single_blocks=2)
CHANNELS, TEXT_DIM, POOLED_DIM = 16, 32, 24      # Flux's latent channels; the tiny Flux's text and pooled widths


def task(**kw) -> S.Task:
    """The synthetic task in Flux's 16-channel latent space with the tiny Flux's 32-wide text tokens."""
    return S.Task(channels=CHANNELS, context_dim=TEXT_DIM, **kw)


def pooled_caption() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed caption's pooled vector (24,) (Flux reads CLIP-L's as `y`) and the empty caption's (zeros)."""
    g = torch.Generator().manual_seed(4324)
    return torch.randn(POOLED_DIM, generator=g) * 0.5, torch.zeros(POOLED_DIM)


def write_cache(cache: Path, t: S.Task, embeds: torch.Tensor, labels: list[int], x0: torch.Tensor,
                clap_model_id: str) -> None:
    """The trainer's cache as `prepare` writes it for Flux: text tokens (4, 32) and the pooled vector (24,)."""
    S.write_cache(cache, t, embeds, labels, x0, clap_model_id, pooled=pooled_caption(), id_prefix="clip")


def task_config(run_dir: Path, cache: Path, t: S.Task, *, steps: tuple[int, int, int], batch: int, lr: float,
                overrides: dict | None = None) -> Config:
    """The SD1.5 toy's trainer config (toy.task.task_config) on the tiny Flux: plain flow matching (no min-SNR)."""
    over = {"model.tiny_dit.family": TINY_FLUX.family, "model.tiny_dit.double_blocks": TINY_FLUX.double_blocks,
            "model.tiny_dit.single_blocks": TINY_FLUX.single_blocks, "train.snr_gamma": 0.0}
    over.update(overrides or {})
    return S.task_config(run_dir, cache, t, steps=steps, batch=batch, lr=lr, overrides=over)


# ---- the base --------------------------------------------------------------------------------
def pretrain(x0: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor | None, out: Path, *, steps: int,
             batch: int = 32, lr: float = 3e-3, seed: int = 0, tiny: TinyDiTConfig = TINY_FLUX) -> dict:
    """Train every weight of a tiny DiT (default: the tiny Flux; the tiny Wan for toy/video_sync.py) without audio,
    with flow matching, on latents x0 (N, C, …) with one caption (context (L, D), pooled (P,) or None); save its
    state dict."""
    from safetensors.torch import save_file

    from training.host import differentiable_kernels
    from training.model import build_tiny
    from training.objective import draw_noise, predict_dit

    base = build_tiny(ModelConfig(tiny=True, tiny_dit=tiny), seed=seed)
    net, ms = base.unet, base.model_sampling
    net.train().requires_grad_(True)
    params = list(net.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / steps))))
    g = torch.Generator().manual_seed(seed + 99)
    losses, t0 = [], time.perf_counter()
    with differentiable_kernels():
        for _ in range(steps):
            idx = torch.randint(0, len(x0), (batch,), generator=g)
            rnd = draw_noise(g, (batch,) + tuple(x0.shape[1:]), len(ms.sigmas), 0.0, 0.0)
            sigma = ms.sigmas[rnd.t].float()
            x = x0[idx]
            v = predict_dit(base.model, None, ms.noise_scaling(sigma, rnd.noise, x), sigma,
                            context.expand(batch, -1, -1), None, pooled=None if pooled is None else pooled.expand(batch, -1))
            loss = F.mse_loss(v, rnd.noise - x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    net.eval().requires_grad_(False)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out))
    return {"steps": steps, "loss_start": float(np.mean(losses[:10])), "loss_end": float(np.mean(losses[-20:])),
            "seconds": time.perf_counter() - t0}


# ---- scoring ---------------------------------------------------------------------------------
@torch.no_grad()
def generate(base, adapter, embeds: torch.Tensor | None, t: S.Task, *, steps: int, audio_cfg: float,
             seed: int = 7) -> torch.Tensor:
    """One latent per embedding (or per seed row when embeds is None): (B, 16, S, S), the task's caption."""
    from training.sampling import sample

    text, _ = S.caption(t)
    pooled, _ = pooled_caption()
    B = len(embeds)
    return sample(base.model, adapter, (B, t.channels, t.latent_size, t.latent_size), text.expand(B, -1, -1), embeds,
                  steps=steps, audio_cfg=audio_cfg, seed=seed, pooled=pooled.expand(B, -1))


@dataclass(frozen=True)
class Budget:
    """Sizes of one run (the CI test uses QUICK)."""

    train_per_class: int = 32
    test_per_class: int = 16
    pretrain_steps: int = 600
    steps: tuple[int, int, int] = (400, 0, 0)
    batch: int = 16
    lr: float = 3e-3
    audio_cfg: tuple[float, ...] = (1.0, 4.0)
    sample_steps: int = 20


QUICK = Budget(audio_cfg=(4.0,))


def run(out: Path, budget: Budget = Budget(), *, variants: tuple[tuple[str, dict], ...] = (("all", {}),),
        clap_dir: Path | None = None, seed: int = 0, log_fn=log.info) -> dict:
    """Pretrain the tiny Flux, train one adapter per variant (name, trainer overrides) through the real trainer,
    score held-out clips. clap_dir: a random-weight CLAP folder (default: the toy bundle's)."""
    from c2d_core.adapter_file import load_adapter
    from training.loop import train

    from .bundle import BUNDLE

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clap_dir = Path(clap_dir or BUNDLE / "clap")
    t = task(train_per_class=budget.train_per_class, test_per_class=budget.test_per_class, seed=seed)
    tr_y = [k for k in range(S.N_CLASSES) for _ in range(t.train_per_class)]
    te_y = [k for k in range(S.N_CLASSES) for _ in range(t.test_per_class)]
    tr_e = S.clap_embed(S.clips(tr_y, seed + 11, t.seconds), clap_dir)
    te_e = S.clap_embed(S.clips(te_y, seed + 12, t.seconds), clap_dir)
    emb_acc = embedding_accuracy(tr_e, tr_y, te_e, te_y)

    x0 = S.latents(tr_y, t, seed + 1)
    cache = out / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    write_cache(cache, t, tr_e, tr_y, x0, f"random-clap:{clap_dir.name}")
    text, _ = S.caption(t)
    pre = pretrain(x0, text, pooled_caption()[0], cache / "base.safetensors", steps=budget.pretrain_steps, seed=seed)
    log_fn(f"tiny Flux base: {pre['steps']} steps, loss {pre['loss_start']:.3f} → {pre['loss_end']:.3f} in "
           f"{pre['seconds']:.0f} s")

    clf = S.CentroidClassifier(x0, tr_y)
    common = {"adapter.clap_dim": int(tr_e.shape[1]), "stage.align.gate_lr_mult": 10.0, "train.seed": seed}
    cfg0 = task_config(out / "runs" / "base", cache, t, steps=budget.steps, batch=budget.batch, lr=budget.lr,
                       overrides=common)
    from training.model import build_tiny
    base = build_tiny(cfg0.model)
    labels = torch.tensor(te_y)
    base_x = generate(base, None, te_e, t, steps=budget.sample_steps, audio_cfg=1.0)
    base_acc = float((clf.predict(base_x) == labels).float().mean())
    rows = []
    for name, overrides in variants:
        run_dir = out / "runs" / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = task_config(run_dir, cache, t, steps=budget.steps, batch=budget.batch, lr=budget.lr,
                          overrides={**common, **overrides})
        t0 = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - t0
        adapter = load_adapter(result.adapter_path).adapter
        row = {"variant": name, "steps": result.step, "train_s": round(seconds, 1),
               "step_ms": round(1000 * seconds / max(1, result.step), 1), "blocks": len(adapter.blocks),
               "params_k": round(sum(p.numel() for p in adapter.parameters()) / 1e3, 1),
               "gate_mean": float(np.mean([abs(math.tanh(g)) for g in adapter.gates().values()]))}
        for cfg_scale in budget.audio_cfg:
            x = generate(base, adapter, te_e, t, steps=budget.sample_steps, audio_cfg=cfg_scale)
            row[f"acc_cfg{cfg_scale:g}"] = float((clf.predict(x) == labels).float().mean())
        rows.append(row)
        log_fn(f"{name}: " + ", ".join(f"{k} {row[k]:.0%}" for k in row if k.startswith("acc")) +
               f" ({result.step} steps, {seconds:.0f} s)")
    return {"embedding_accuracy": emb_acc, "base_accuracy": base_acc, "chance": 1 / S.N_CLASSES, "rows": rows,
            "pretrain": pre, "budget": dataclasses.asdict(budget), "task": dataclasses.asdict(t),
            "tiny_dit": dataclasses.asdict(TINY_FLUX)}
