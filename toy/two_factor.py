"""Two factors in one sound, on the tiny Flux (toy/flux.py): the seeds' claim that 4 parallel projector MLPs give a
"4× richer" audio representation, tested where it could show.

Each clip is a tone whose **pitch** (4 classes, toy/task.py) sets the square's **colour**, mixed with a hiss whose
**band** (3.5–5 kHz or 8–11 kHz) sets the **background tint** (one of two, in a latent direction orthogonal to every
square colour). A one-factor task needs one direction of the embedding; this one needs two independent ones, which
parallel MLPs (each making its own audio tokens) might separate better than one. Both factors are scored on held-out
clips: colour by the task's nearest-centroid classifier, tint by the sign of the background's projection on the
tint direction.

Measured choices (training/README.md): the issue proposed pulse rate → position. The random-weight CLAP does not
encode pulse rate (nearest class mean of its embeddings 48–69 % for 3/12, 2/16, 1/20, 4/30 Hz against chance 50 %);
it does encode the hiss band (95 %). And a position is not something this adapter could set on the tiny Flux:
position stayed at chance (50–58 %) after 400 and 1500 steps with 4 MLPs and with 1, while colour reached 75–81 %
(the branch's queries are the image tokens without RoPE, so where every token looks alike, at high noise, every one
gets the same audio answer). A tint is a global property, like most of what sound sets (mood, palette, texture).
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import flux as X
from . import task as S

HISS_BANDS = ((3500.0, 5000.0), (8000.0, 11000.0))     # Hz; tint 0, tint 1
HISS_LEVEL = 0.3
N_TINTS = len(HISS_BANDS)
TINT_AMPLITUDE = 0.3


def clip(colour: int, tint: int, rng: np.random.Generator, seconds: tuple[float, float]) -> np.ndarray:
    """(1, T) at 48 kHz: the colour's tone (toy.task.tone) plus band-limited noise in the tint's band (peak level
    HISS_LEVEL × 0.7–1)."""
    x = S.tone(colour, rng, seconds)[0]
    spectrum = np.fft.rfft(rng.normal(0, 1, x.shape[0]))
    freqs = np.fft.rfftfreq(x.shape[0], 1 / S.SAMPLE_RATE)
    lo, hi = HISS_BANDS[tint]
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    hiss = np.fft.irfft(spectrum, x.shape[0])
    hiss = hiss / np.abs(hiss).max()
    return (x + HISS_LEVEL * rng.uniform(0.7, 1.0) * hiss)[None].astype(np.float32)


def tint_direction(channels: int) -> torch.Tensor:
    """(C,) unit vector orthogonal to every square colour (toy.task.colours repeats a 4-periodic pattern; this one
    flips sign every 4 channels)."""
    v = torch.tensor([1.0 if (c // 4) % 2 == 0 else -1.0 for c in range(channels)])
    return v / v.norm()


def latents(colours: list[int], tints: list[int], t: S.Task, seed: int) -> torch.Tensor:
    """(N, C, S, S): toy.task.latents' squares on a background tinted ±TINT_AMPLITUDE along tint_direction."""
    x = S.latents(colours, t, seed)
    v = tint_direction(t.channels).view(1, -1, 1, 1)
    sign = torch.tensor([1.0 if k == 1 else -1.0 for k in tints]).view(-1, 1, 1, 1)
    return x + TINT_AMPLITUDE * sign * v * background_mask(t)


def background_mask(t: S.Task) -> torch.Tensor:
    """(S, S) 1 outside the square, 0 inside."""
    m = torch.ones(t.latent_size, t.latent_size)
    lo, hi = t.latent_size // 4, t.latent_size - t.latent_size // 4
    m[lo:hi, lo:hi] = 0
    return m


def predict_tint(x: torch.Tensor, t: S.Task) -> torch.Tensor:
    """(N, C, S, S) → (N,) 1 where the background leans to +tint_direction, else 0."""
    proj = torch.einsum("nchw,c->nhw", x.float(), tint_direction(t.channels))
    return ((proj * background_mask(t)).sum((1, 2)) > 0).long()


@dataclass(frozen=True)
class Budget:
    per_combo: int = 8               # training clips per (colour, tint): 64
    test_per_combo: int = 8
    pretrain_steps: int = 600
    steps: int = 400
    batch: int = 16
    lr: float = 3e-3
    audio_cfg: float = 4.0
    sample_steps: int = 20


VARIANTS = (("4 MLPs", {"adapter.n_mlps": 4}), ("1 MLP", {"adapter.n_mlps": 1}),
            ("1 MLP, 4× hidden", {"adapter.n_mlps": 1, "adapter.hidden_dim": 512}))   # ≈ the 4 MLPs' parameters


def run(out: Path, budget: Budget = Budget(), *, variants: tuple = VARIANTS, seed: int = 0,
        clap_dir: Path | None = None, log_fn=print) -> dict:
    """Pretrain the tiny Flux on both factors (no audio), train one adapter per variant (name, trainer overrides)
    through the real trainer, score colour and tint on held-out clips at audio CFG `budget.audio_cfg`."""
    from c2d_core.adapter_file import load_adapter
    from training.loop import train
    from training.model import build_tiny

    from .bundle import BUNDLE
    from .experiment import embedding_accuracy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clap_dir = Path(clap_dir or BUNDLE / "clap")
    t = X.task(seed=seed)
    combos = [(k, p) for k in range(S.N_CLASSES) for p in range(N_TINTS)]

    def split(n, s):
        rows = [c for c in combos for _ in range(n)]
        rng = np.random.default_rng(s)
        waves = [clip(k, p, rng, t.seconds) for k, p in rows]
        return [k for k, _ in rows], [p for _, p in rows], S.clap_embed(waves, clap_dir)

    tr_c, tr_p, tr_e = split(budget.per_combo, seed + 21)
    te_c, te_p, te_e = split(budget.test_per_combo, seed + 22)
    emb = {"colour": embedding_accuracy(tr_e, tr_c, te_e, te_c),
           "tint": embedding_accuracy(tr_e, tr_p, te_e, te_p)}
    x0 = latents(tr_c, tr_p, t, seed + 1)
    cache = out / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    X.write_cache(cache, t, tr_e, [k * N_TINTS + p for k, p in zip(tr_c, tr_p)], x0, f"random-clap:{clap_dir.name}")
    text, _ = S.caption(t)
    pre = X.pretrain(x0, text, X.pooled_caption()[0], cache / "base.safetensors", steps=budget.pretrain_steps,
                     seed=seed)
    log_fn(f"two-factor tiny Flux base: loss {pre['loss_start']:.3f} → {pre['loss_end']:.3f} in {pre['seconds']:.0f} s")
    clf = S.CentroidClassifier(x0, tr_c)
    colours, tints = torch.tensor(te_c), torch.tensor(te_p)
    common = {"adapter.clap_dim": int(tr_e.shape[1]), "stage.align.gate_lr_mult": 10.0, "train.seed": seed}
    base = build_tiny(X.task_config(out / "runs" / "base", cache, t, steps=(budget.steps, 0, 0), batch=budget.batch,
                                    lr=budget.lr, overrides=common).model)
    x = X.generate(base, None, te_e, t, steps=budget.sample_steps, audio_cfg=1.0)
    rows = [{"variant": "base, no audio", "colour": float((clf.predict(x) == colours).float().mean()),
             "tint": float((predict_tint(x, t) == tints).float().mean())}]
    for i, (name, overrides) in enumerate(variants):
        run_dir = out / "runs" / f"variant{i}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = X.task_config(run_dir, cache, t, steps=(budget.steps, 0, 0), batch=budget.batch, lr=budget.lr,
                            overrides={**common, **overrides})
        t0 = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - t0
        adapter = load_adapter(result.adapter_path).adapter
        x = X.generate(base, adapter, te_e, t, steps=budget.sample_steps, audio_cfg=budget.audio_cfg)
        rows.append({"variant": name, "n_mlps": adapter.config.n_mlps, "steps": result.step,
                     "train_s": round(seconds, 1),
                     "params_k": round(sum(p.numel() for p in adapter.projector.parameters()) / 1e3, 1),
                     "colour": float((clf.predict(x) == colours).float().mean()),
                     "tint": float((predict_tint(x, t) == tints).float().mean()),
                     "gate_mean": float(np.mean([abs(math.tanh(g)) for g in adapter.gates().values()]))})
        log_fn(f"{rows[-1]['variant']}: colour {rows[-1]['colour']:.0%}, tint {rows[-1]['tint']:.0%} "
               f"({seconds:.0f} s)")
    return {"embedding_accuracy": emb, "rows": rows, "chance": {"colour": 1 / S.N_CLASSES, "tint": 0.5},
            "budget": dataclasses.asdict(budget), "seed": seed}

