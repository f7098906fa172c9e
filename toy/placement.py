"""Learning evidence on the tiny SDXL and the placement ablation: one adapter per SDXL placement preset, trained
through the real trainer on the synthetic task (toy/sdxl.py), scored on held-out clips, timed per step.

Used by benchmarks/train_synthetic_sdxl.py (the table in training/README.md) and tests/trainer (a short run).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import sdxl as X
from . import task as S
from .experiment import base_accuracy, embedding_accuracy, held_out_accuracy
from .report import slug

log = logging.getLogger(__name__)

PRESETS = ("all", "mid_up", "up", "light")


@dataclass(frozen=True)
class Budget:
    """Sizes of one run (the CI test uses QUICK)."""

    train_per_class: int = 16
    test_per_class: int = 16
    steps: tuple[int, int, int] = (600, 0, 0)
    batch: int = 16
    lr: float = 3e-4
    audio_cfg: tuple[float, ...] = (1.0, 4.0)
    sample_steps: int = 20
    pretraining: X.Pretraining = dataclasses.field(default_factory=X.Pretraining)


# The test: the same adapter training (300 steps instead of 600: 30 %), scored at audio CFG 4 only, on a base pretrained
# on as many samples in half the steps (600 at batch 32: 282–301 s instead of ≈ 420 s on 2 cores; light at CFG 4 75 % /
# 78 % on seeds 0 / 1; 300 or 600 steps at batch 16: 39 % / 42 %).
QUICK = Budget(audio_cfg=(4.0,), pretraining=X.Pretraining(steps=600, batch=32))


@torch.no_grad()
def caption_accuracy(base, labels: list[int], clf: S.CentroidClassifier, t: S.Task, steps: int, y: torch.Tensor,
                     seed: int = 7) -> float:
    """Accuracy of the base sampled with each colour's own caption (toy.sdxl.class_captions), no audio: how well the
    cross-attention levels, where the adapter's blocks are, steer the colour. y: (len(labels), 2816) ADM rows."""
    from training.sampling import sample

    context = X.class_captions(t)[torch.tensor(labels)]
    x = sample(base.model, None, (len(labels), t.channels, t.latent_size, t.latent_size), context, None, steps=steps,
               seed=seed, y=y)
    return float((clf.predict(x) == torch.tensor(labels)).float().mean())


def step_seconds(csv_path: Path, batch: int, stage: str = "align") -> dict:
    """Seconds per optimizer step of one stage, from the run log's samples/s of each logging window:
    the median window and the fastest (least disturbed by other jobs on the machine)."""
    from training.logs import RunLog

    rates = [float(r["samples_per_s"]) for r in RunLog.read(csv_path) if r["stage"] == stage and r["samples_per_s"]]
    if not rates:
        return {"median": None, "fastest": None}
    return {"median": batch / statistics.median(rates), "fastest": batch / max(rates)}


def run(out: Path, budget: Budget = Budget(), *, presets: tuple[str, ...] = PRESETS, clap_dir: Path | None = None,
        seed: int = 0, log_fn=log.info, base_cache: Path | None = None, caption_check: bool = True) -> dict:
    """Embed the tones, get the pretrained tiny SDXL (toy.sdxl.ensure_base), train one adapter per preset and
    score each on held-out clips. clap_dir: the random-weight CLAP folder (default: the toy bundle's); caption_check:
    also sample the base with each colour's caption (caption_accuracy).
    Returns a JSON-able dict of results."""
    from c2d_core.adapter_file import load_adapter
    from c2d_core.unet_blocks import discover_blocks
    from training.loop import train

    from .bundle import BUNDLE

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    t = X.task(train_per_class=budget.train_per_class, test_per_class=budget.test_per_class, seed=seed)
    tr_y = [k for k in range(S.N_CLASSES) for _ in range(t.train_per_class)]
    te_y = [k for k in range(S.N_CLASSES) for _ in range(t.test_per_class)]
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    clap_dir = Path(clap_dir or BUNDLE / "clap")
    tr_e = S.clap_embed(S.clips(tr_y, seed + 11, t.seconds), clap_dir)
    te_e = S.clap_embed(S.clips(te_y, seed + 12, t.seconds), clap_dir)
    timings["embed_s"] = time.perf_counter() - t0
    emb_acc = embedding_accuracy(tr_e, tr_y, te_e, te_y)
    log_fn(f"embeddings (random CLAP {clap_dir}, {tr_e.shape[1]}-d): held-out nearest-class-mean accuracy {emb_acc:.0%}")

    t0 = time.perf_counter()
    base_built: list[str] = []
    weights = X.ensure_base(t, budget.pretraining, base_cache, log_fn=log_fn, built=base_built)
    timings["base_s"] = time.perf_counter() - t0
    x0 = S.latents(tr_y, t, seed + 1)
    cache = out / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    X.write_cache(cache, t, tr_e, tr_y, x0, f"random-clap:{clap_dir.name}")
    shutil.copy(weights, cache / "base.safetensors")

    clf = S.CentroidClassifier(x0, tr_y)
    base = X.load_base(weights, t)
    y = X.adm_y(base.model, len(te_y), t.latent_size)       # every row: the task's caption at the latent's size
    n_blocks_total = len(discover_blocks(base.unet)[0])
    base_acc = base_accuracy(base, te_y, clf, t, y=y)["accuracy"]
    caption_acc = caption_accuracy(base, te_y, clf, t, budget.sample_steps, y) if caption_check else None
    log_fn(f"base without audio: {base_acc:.0%} (chance {1 / S.N_CLASSES:.0%})" + ("" if caption_acc is None else
           f"; with each colour's caption instead of the task's one: {caption_acc:.0%}"))
    common = {"adapter.clap_dim": int(tr_e.shape[1]), "train.snr_gamma": 5.0, "stage.align.gate_lr_mult": 10.0,
              "train.seed": seed, "train.log_every": 10}
    rows = []
    for preset in presets:
        run_dir = out / "runs" / slug(preset)
        if run_dir.exists():   # this run's own output of an earlier invocation
            shutil.rmtree(run_dir)
        cfg = X.task_config(run_dir, cache, t, steps=budget.steps, batch=budget.batch, lr=budget.lr,
                            overrides={**common, "adapter.placement": preset})
        t0 = time.perf_counter()
        result = train(cfg)
        train_s = time.perf_counter() - t0
        adapter = load_adapter(result.adapter_path).adapter
        sec = step_seconds(run_dir / "logs" / "train.csv", budget.batch)
        row = {"preset": preset, "blocks": len(adapter.config.blocks), "blocks_total": n_blocks_total,
               "adapter_params": sum(p.numel() for p in adapter.parameters()), "steps": result.step,
               "train_s": round(train_s, 1), "step_s_median": sec["median"], "step_s_fastest": sec["fastest"],
               "gate_mean": float(np.mean([abs(math.tanh(g)) for g in adapter.gates().values()]))}
        for s_cfg in budget.audio_cfg:
            r = held_out_accuracy(base, adapter, te_e, te_y, clf, t, steps=budget.sample_steps, audio_cfg=s_cfg, y=y)
            row[f"acc_cfg{s_cfg:g}"] = r["accuracy"]
        rows.append(row)
        log_fn(f"{preset} ({row['blocks']}/{n_blocks_total} blocks): " +
               ", ".join(f"{k} {row[k]:.0%}" for k in row if k.startswith("acc")) +
               f" ({result.step} steps, {train_s:.0f} s, {sec['median']:.3f} s/step median)")
    timings["total_s"] = time.perf_counter() - t_start
    return {"family": "sdxl", "clap_dim": int(tr_e.shape[1]), "embedding_accuracy": emb_acc, "base_accuracy": base_acc,
            "caption_accuracy": caption_acc,
            "chance": 1 / S.N_CLASSES, "rows": rows, "timings": timings, "budget": dataclasses.asdict(budget),
            "out": str(out), "task": dataclasses.asdict(t), "tiny_unet": dataclasses.asdict(X.TINY_SDXL),
            "base_weights": str(weights), "base_built": base_built, "adm_channels": int(base.model.adm_channels),
            "torch_threads": torch.get_num_threads()}


def table(results: dict) -> str:
    """The placement table as Markdown."""
    cols = [k for k in results["rows"][0] if k.startswith("acc")]
    lines = ["| preset | blocks | adapter params | " + " | ".join(f"held-out acc. (audio CFG {c[7:]})" for c in cols) +
             " | s/step (median) | s/step (fastest) | train s |",
             "|" + "---|" * (len(cols) + 6)]
    for r in results["rows"]:
        lines.append(f"| {r['preset']} | {r['blocks']}/{r['blocks_total']} | {r['adapter_params'] / 1e6:.1f} M | " +
                     " | ".join(f"{r[c]:.0%}" for c in cols) +
                     f" | {r['step_s_median']:.3f} | {r['step_s_fastest']:.3f} | {r['train_s']:.0f} |")
    lines.append(f"| base, no audio (chance {results['chance']:.0%}) | – | – | " +
                 " | ".join(f"{results['base_accuracy']:.0%}" for _ in cols) + " | – | – | – |")
    return "\n".join(lines)
