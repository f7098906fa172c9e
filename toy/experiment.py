"""The synthetic experiment: pretrain the tiny base, train the adapter (and its ablations) through the real trainer,
score held-out clips. Used by benchmarks/train_synthetic.py (full run + ablations) and the trainer tests (short)."""
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

from training.config import Config
from training.model import build_tiny
from training.objective import draw_noise, predict_eps

from .report import slug, smoothed_loss, steps_to_reach
from .task import (N_CLASSES, CentroidClassifier, Task, caption, clap_embed, clips, compact_clap_folder, fake_embed,
                   latents, task_config, write_cache)

log = logging.getLogger(__name__)


# ---- base pretraining ----------------------------------------------------------------------
def pretrain_base(cfg: Config, x0: torch.Tensor, context: torch.Tensor, out: Path, *, steps: int, batch: int = 32,
                  lr: float = 8e-3, seed: int = 0) -> dict:
    """Train every weight of the tiny UNet (no audio) on the synthetic latents; save its state dict."""
    from safetensors.torch import save_file

    base = build_tiny(dataclasses.replace(cfg.model, tiny_weights=""), seed=seed)
    unet = base.unet
    unet.train().requires_grad_(True)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / steps))))
    ms = base.model_sampling
    g = torch.Generator().manual_seed(seed + 99)
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(x0), (batch,), generator=g)
        rnd = draw_noise(g, (batch,) + tuple(x0.shape[1:]), len(ms.sigmas), 0.0, 0.0)
        sigma = ms.sigmas[rnd.t].float()
        x_noisy = ms.noise_scaling(sigma, rnd.noise, x0[idx])
        eps = predict_eps(base.model, None, x_noisy, sigma, context.expand(batch, -1, -1), None)
        loss = F.mse_loss(eps, rnd.noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    unet.eval().requires_grad_(False)
    out.parent.mkdir(parents=True, exist_ok=True)
    # fp16 on disk (the toy bundle ships it); the trainer loads it back into the fp32 UNet
    save_file({k: v.to(torch.float16).contiguous() for k, v in unet.state_dict().items()}, str(out))
    return {"steps": steps, "loss_start": float(np.mean(losses[:10])), "loss_end": float(np.mean(losses[-20:])),
            "seconds": time.perf_counter() - t0}


# ---- scoring ---------------------------------------------------------------------------------
@torch.no_grad()
def held_out_accuracy(base, adapter, embeds: torch.Tensor, labels: list[int], clf: CentroidClassifier, task: Task,
                      *, steps: int = 20, audio_cfg: float = 2.0, seed: int = 7, y: torch.Tensor | None = None) -> dict:
    """Sample one latent per clip (the task's caption; y: (B, adm) SDXL's ADM vector of every row, None for SD1.5)
    and score it with the classifier."""
    from training.sampling import sample

    text, _ = caption(task)
    B = len(labels)
    shape = (B, task.channels, task.latent_size, task.latent_size)
    x = sample(base.model, adapter, shape, text.expand(B, -1, -1), embeds, steps=steps, audio_cfg=audio_cfg, seed=seed,
               y=y)
    pred = clf.predict(x)
    y = torch.tensor(labels)
    acc = float((pred == y).float().mean())
    counts = torch.bincount(pred, minlength=N_CLASSES).tolist()
    return {"accuracy": acc, "predicted_counts": counts}


@torch.no_grad()
def base_accuracy(base, labels, clf, task, seed: int = 7, y: torch.Tensor | None = None) -> dict:
    """The pretrained base without audio: a random colour (≈ chance), and its colour histogram."""
    return held_out_accuracy(base, None, None, labels, clf, task, seed=seed, y=y)


@torch.no_grad()
def embedding_accuracy(train_e: torch.Tensor, train_y: list[int], test_e: torch.Tensor, test_y: list[int]) -> float:
    """Nearest class-mean (cosine) accuracy of the embeddings themselves: does the encoder separate the classes?"""
    a, b = F.normalize(train_e, dim=-1), F.normalize(test_e, dim=-1)
    y = torch.tensor(train_y)
    means = F.normalize(torch.stack([a[y == k].mean(0) for k in range(int(y.max()) + 1)]), dim=-1)
    return float(((b @ means.T).argmax(1) == torch.tensor(test_y)).float().mean())


# ---- the experiment ------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One row of the ablation table: a name and config overrides."""

    name: str
    overrides: tuple = ()


def variants(steps: tuple[int, int, int]) -> list[Variant]:
    """The seeds' ablations: 4 MLPs vs 1, gated vs ungated, 3 stages vs stage 1 alone (same total steps)."""
    return [
        Variant("full: 4 MLPs, gated, 3 stages"),
        Variant("1 MLP", (("adapter.n_mlps", 1),)),
        Variant("ungated (tanh α fixed ≈ 1)", (("adapter.gate_init", 3.0), ("train.stages", ("align", "joint")),
                                             ("stage.align.train", ("projector", "attention", "null_tokens")),
                                             ("stage.joint.train", ("projector", "attention", "null_tokens", "lora")),
                                             ("stage.joint.steps", steps[1] + steps[2]))),
        Variant("stage 1 alone", (("train.stages", ("align",)), ("stage.align.steps", sum(steps)))),
    ]


@dataclass(frozen=True)
class Budget:
    """Sizes of one benchmark run (the CI test uses a small one)."""

    train_per_class: int = 32
    test_per_class: int = 16
    pretrain_steps: int = 600
    steps: tuple[int, int, int] = (400, 200, 40)
    batch: int = 16
    lr: float = 6e-3
    audio_cfg: tuple[float, ...] = (1.0, 4.0)
    sample_steps: int = 20


# CI-sized: with a pretrained base (the toy bundle's) it takes ~1 min on one core and lands at ~60 %.
QUICK = Budget(train_per_class=16, test_per_class=16, pretrain_steps=300, steps=(200, 100, 0), batch=16,
               audio_cfg=(4.0,))


def run(out: Path, budget: Budget = Budget(), *, embed: str = "clap", ablations: bool = True, seed: int = 0,
        log_fn=log.info, base_weights: Path | None = None, clap_dir: Path | None = None) -> dict:
    """Build the task, pretrain the base, train every variant and score held-out clips.

    embed: "clap" (the real CLAP code path with random weights, devtools.standin_clap) or "stand-in"
    (class prototypes + noise; only for mechanics tests). base_weights: reuse an already pretrained tiny
    UNet (e.g. the toy bundle's) instead of pretraining one; clap_dir: use this CLAP folder instead of a
    new random one. Returns a JSON-able dict of results."""
    from c2d_core.adapter_file import load_adapter

    from training.loop import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    task = Task(train_per_class=budget.train_per_class, test_per_class=budget.test_per_class, seed=seed)
    tr_y = [k for k in range(N_CLASSES) for _ in range(task.train_per_class)]
    te_y = [k for k in range(N_CLASSES) for _ in range(task.test_per_class)]
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if embed == "clap":
        from devtools.standin_clap import make_random_clap_folder
        if clap_dir is None:
            clap_dir = out / "clap"
            if not clap_dir.exists():
                compact_clap_folder(make_random_clap_folder(clap_dir, seed=0, tiny=True))
        tr_e = clap_embed(clips(tr_y, seed + 11, task.seconds), clap_dir)
        te_e = clap_embed(clips(te_y, seed + 12, task.seconds), clap_dir)
        clap_id = f"random-clap:{clap_dir.name}"
    elif embed == "stand-in":
        tr_e, te_e = fake_embed(tr_y, 64, seed + 11, noise=1.0), fake_embed(te_y, 64, seed + 12, noise=1.0)
        clap_id = "stand-in"
    else:
        raise ValueError(f"embed must be clap or stand-in, got {embed!r}")
    timings["embed_s"] = time.perf_counter() - t0
    emb_acc = embedding_accuracy(tr_e, tr_y, te_e, te_y)
    log_fn(f"embeddings ({embed}, {tr_e.shape[1]}-d): held-out nearest-class-mean accuracy {emb_acc:.0%}")

    x0 = latents(tr_y, task, seed + 1)
    cache = out / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    write_cache(cache, task, tr_e, tr_y, x0, clap_id)
    common = {"adapter.clap_dim": int(tr_e.shape[1]), "train.snr_gamma": 5.0, "stage.align.gate_lr_mult": 10.0,
              "train.seed": seed}
    cfg0 = task_config(out / "runs" / "base", cache, task, steps=budget.steps, batch=budget.batch, lr=budget.lr,
                       overrides=common)
    t0 = time.perf_counter()
    text, _ = caption(task)
    if base_weights is not None:
        shutil.copy(base_weights, cache / "base.safetensors")
        pre = {"steps": 0, "reused": str(base_weights)}
        log_fn(f"base: the pretrained tiny UNet {base_weights}")
    else:
        pre = pretrain_base(cfg0, x0, text[None], cache / "base.safetensors", steps=budget.pretrain_steps, seed=seed)
        log_fn(f"base pretrained: {budget.pretrain_steps} steps, loss {pre['loss_start']:.3f} → "
               f"{pre['loss_end']:.3f} in {pre['seconds']:.0f} s")
    timings["pretrain_s"] = time.perf_counter() - t0

    clf = CentroidClassifier(x0, tr_y)
    base = build_tiny(cfg0.model)
    base_acc = base_accuracy(base, te_y, clf, task)["accuracy"]
    rows = []
    for v in variants(budget.steps) if ablations else variants(budget.steps)[:1]:
        run_dir = out / "runs" / slug(v.name)
        if run_dir.exists():   # this benchmark's own output of an earlier invocation
            shutil.rmtree(run_dir)
        cfg = task_config(run_dir, cache, task, steps=budget.steps, batch=budget.batch,
                          lr=budget.lr, overrides={**common, **dict(v.overrides)})
        t0 = time.perf_counter()
        result = train(cfg)
        train_s = time.perf_counter() - t0
        adapter = load_adapter(result.adapter_path).adapter
        row = {"variant": v.name, "steps": result.step, "train_s": round(train_s, 1),
               "gate_mean": float(np.mean([abs(math.tanh(g)) for g in adapter.gates().values()]))}
        for s_cfg in budget.audio_cfg:
            r = held_out_accuracy(base, adapter, te_e, te_y, clf, task, steps=budget.sample_steps, audio_cfg=s_cfg)
            row[f"acc_cfg{s_cfg:g}"] = r["accuracy"]
        rows.append(row)
        log_fn(f"{v.name}: " + ", ".join(f"{k} {row[k]:.0%}" for k in row if k.startswith("acc")) +
               f" ({result.step} steps, {train_s:.0f} s)")
    timings["total_s"] = time.perf_counter() - t_start
    curves = {r["variant"]: smoothed_loss(out / "runs" / slug(r["variant"]) / "logs" / "train.csv") for r in rows}
    # "steps to reach a loss": half-way from the start to the best smoothed loss, the highest such level
    # over the variants (so each one reaches it)
    threshold = max((c[0][1] + min(v for _, v in c)) / 2 for c in curves.values() if c) if any(curves.values()) \
        else None
    for r in rows:
        r["steps_to_loss"] = steps_to_reach(curves[r["variant"]], threshold) if threshold is not None else None
    results = {"embed": embed, "clap_dim": int(tr_e.shape[1]), "embedding_accuracy": emb_acc,
               "base_accuracy": base_acc, "chance": 1 / N_CLASSES, "rows": rows, "timings": timings,
               "loss_threshold": threshold, "budget": dataclasses.asdict(budget), "pretrain": pre, "out": str(out),
               "task": dataclasses.asdict(task), "tiny_unet": dataclasses.asdict(cfg0.model.tiny_unet),
               "clap_model_id": clap_id}
    return results
