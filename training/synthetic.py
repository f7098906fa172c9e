"""A synthetic audio→image task that proves the trainer learns, with no real weights.

Task: a tone's pitch (4 classes, one octave apart) decides the colour (a direction in the 4 latent
channels) of a square in an 8×8 latent. The base is a tiny UNet briefly pretrained (all classes,
constant caption, no audio), so it draws a square of a random one of the 4 colours; the adapter must
learn to pick the colour the sound says.
Held-out clips (new phases, durations, detuning, noise) are encoded through the real CLAP code path
(`c2d_core.clap_encoder.ClapAudioEncoder`, random weights), sampled with the adapter, and the
generated latents are scored by a nearest-centroid classifier fitted on the real latents.

Used by benchmarks/train_synthetic.py (full run + ablations) and tests/trainer (short version).
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

from .cache import CacheWriter
from .config import Config, load_config
from .model import build_tiny
from .objective import draw_noise, predict_eps

log = logging.getLogger(__name__)

N_CLASSES = 4
FREQS = (300.0, 600.0, 1200.0, 2400.0)      # Hz, one octave apart
SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class Task:
    train_per_class: int = 32
    test_per_class: int = 16
    latent_size: int = 8
    channels: int = 4
    context_len: int = 4
    context_dim: int = 32
    seconds: tuple[float, float] = (0.6, 1.2)   # clip durations are drawn from this range
    seed: int = 0


# ---- audio -----------------------------------------------------------------------------------
def tone(label: int, rng: np.random.Generator, seconds: tuple[float, float]) -> np.ndarray:
    """A mono clip (1, T) at 48 kHz: the class's pitch ±3 %, random phase/level, 2nd harmonic, noise."""
    dur = rng.uniform(*seconds)
    t = np.arange(int(dur * SAMPLE_RATE)) / SAMPLE_RATE
    f = FREQS[label] * rng.uniform(0.97, 1.03)
    x = np.sin(2 * math.pi * f * t + rng.uniform(0, 2 * math.pi))
    x = x + rng.uniform(0.0, 0.3) * np.sin(4 * math.pi * f * t + rng.uniform(0, 2 * math.pi))
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)          # 20 ms fades
    x = rng.uniform(0.2, 0.8) * x * env / (1 + 0.3) + rng.normal(0, 0.01, t.shape)
    return x[None].astype(np.float32)


def clips(labels: list[int], seed: int, seconds: tuple[float, float]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [tone(k, rng, seconds) for k in labels]


def clap_embed(waves: list[np.ndarray], clap_dir: Path, batch: int = 16) -> torch.Tensor:
    """Embeddings (N, D) through the real CLAP code path (ClapAudioEncoder); clips padded per batch."""
    from c2d_core.clap_encoder import ClapAudioEncoder

    enc = ClapAudioEncoder.from_path(str(clap_dir))
    out = []
    for i in range(0, len(waves), batch):
        chunk = waves[i:i + batch]
        T = max(w.shape[-1] for w in chunk)
        wav = torch.zeros(len(chunk), 1, T)
        for j, w in enumerate(chunk):
            wav[j, :, :w.shape[-1]] = torch.from_numpy(w)
        with torch.no_grad():
            out.append(enc.encode(wav, SAMPLE_RATE).float())
    return torch.cat(out)


def compact_clap_folder(path: Path) -> Path:
    """Keep only the audio tower (what ClapAudioEncoder loads) in fp16: the toy bundle stays small, and the
    embeddings the adapter trains on are the ones the shipped folder gives."""
    from safetensors.torch import load_file, save_file

    f = Path(path) / "model.safetensors"
    state = load_file(str(f))
    audio = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in state.items()
             if k.startswith(("audio_model.", "audio_projection."))}
    if audio.keys() != state.keys() or any(v.dtype != torch.float16 for v in audio.values() if v.is_floating_point()):
        save_file(audio, str(f), metadata={"format": "pt"})
    return Path(path)


def fake_embed(labels: list[int], dim: int, seed: int, noise: float = 0.3) -> torch.Tensor:
    """Stand-in embeddings for mechanics tests only (no CLAP): a class prototype plus noise, unit norm."""
    g = torch.Generator().manual_seed(1234)
    protos = F.normalize(torch.randn(N_CLASSES, dim, generator=g), dim=-1)
    g2 = torch.Generator().manual_seed(seed)
    e = protos[torch.tensor(labels)] + noise * torch.randn(len(labels), dim, generator=g2) / math.sqrt(dim)
    return F.normalize(e, dim=-1)


# ---- images (latents) ------------------------------------------------------------------------
def colours(channels: int) -> torch.Tensor:
    """(4, C) well-separated latent colours (rows of a Hadamard matrix, scaled)."""
    h = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]])
    return 0.7 * h[:, :channels] if channels <= 4 else 0.7 * h.repeat(1, math.ceil(channels / 4))[:, :channels]


def latents(labels: list[int], task: Task, seed: int) -> torch.Tensor:
    """(N, C, S, S): a centred square whose latent colour is the class, on a faint textured background;
    brightness and texture vary per sample."""
    g = torch.Generator().manual_seed(seed)
    S, C = task.latent_size, task.channels
    out = torch.randn(len(labels), C, S, S, generator=g) * 0.05
    col = colours(C)
    lo, hi = S // 4, S - S // 4
    for i, k in enumerate(labels):
        amp = 0.8 + 0.4 * float(torch.rand(1, generator=g))
        out[i, :, lo:hi, lo:hi] += amp * col[k].view(C, 1, 1)
    return out


# What each class colour looks like in a picture: red, green, blue, yellow on a grey background.
RGB = ((0.90, 0.15, 0.15), (0.15, 0.75, 0.20), (0.20, 0.30, 0.95), (0.95, 0.85, 0.10))


def latent_to_rgb(x: torch.Tensor, scale: int = 8) -> torch.Tensor:
    """(N, C, S, S) synthetic latents → (N, S·scale, S·scale, 3) images in [0, 1] (ComfyUI IMAGE layout).

    The task's own "VAE decoder": the linear map that sends each class colour to its RGB colour and
    the empty latent to grey, then nearest-neighbour upscaling."""
    C = x.shape[1]
    col = colours(C)                                              # (4, C)
    target = torch.tensor(RGB) - 0.5                              # (4, 3)
    M = torch.linalg.lstsq(col, target).solution                  # (C, 3): col @ M ≈ target
    rgb = 0.5 + torch.einsum("nchw,cd->nhwd", x.float(), M)
    rgb = rgb.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return rgb.clamp(0, 1)


def colour_features(x: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) → (N, C): the mean colour of the brightest quarter of the pixels (the square)."""
    N, C = x.shape[:2]
    flat = x.reshape(N, C, -1)
    energy = flat.norm(dim=1)                                   # (N, S·S)
    k = max(1, flat.shape[-1] // 4)
    idx = energy.topk(k, dim=1).indices                          # (N, k)
    return torch.gather(flat, 2, idx[:, None, :].expand(N, C, k)).mean(-1)


class CentroidClassifier:
    """Nearest centroid on the square's colour, fitted on real latents (the 'simple classifier')."""

    def __init__(self, x: torch.Tensor, labels: list[int]):
        f = colour_features(x)
        y = torch.tensor(labels)
        self.centroids = torch.stack([f[y == k].mean(0) for k in range(N_CLASSES)])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(colour_features(x.float()), self.centroids).argmin(dim=1)


# ---- configs -------------------------------------------------------------------------------
def task_config(run_dir: Path, cache: Path, task: Task, *, steps: tuple[int, int, int], batch: int = 16,
                lr: float = 1e-3, overrides: dict | None = None) -> Config:
    """The trainer config for the synthetic task (tiny UNet, small adapter)."""
    base = {
        "model.tiny": True, "model.tiny_weights": str(Path(cache) / "base.safetensors"),
        "model.tiny_unet.context_dim": task.context_dim, "model.tiny_unet.in_channels": task.channels,
        "adapter.hidden_dim": 128, "adapter.n_tokens": 8, "adapter.n_mlps": 4,
        "data.cache": str(cache), "data.val_fraction": 0.1, "data.val_max": 16,
        "train.run_dir": str(run_dir), "train.batch_size": batch, "train.lr": lr, "train.warmup_steps": 10,
        "train.checkpoint_every": 10_000, "train.keep_checkpoints": 1, "train.log_every": 10,
        "train.progress": False, "train.tensorboard": False, "train.weight_decay": 0.0,
        "lora.rank": 4, "lora.alpha": 4.0,
        "stage.align.steps": steps[0], "stage.joint.steps": steps[1], "stage.gates.steps": steps[2],
        "stage.joint.lr_mult": 0.5, "stage.gates.eval_every": max(1, steps[2] // 5), "stage.gates.patience": 3,
    }
    base.update(overrides or {})
    return load_config(None, overrides=base)


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


def caption(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed caption embedding (L, D) shared by every sample, and the empty caption's (zeros)."""
    g = torch.Generator().manual_seed(4321)
    return torch.randn(task.context_len, task.context_dim, generator=g) * 0.5, torch.zeros(task.context_len,
                                                                                           task.context_dim)


def write_cache(cache: Path, task: Task, embeds: torch.Tensor, labels: list[int], x0: torch.Tensor,
                clap_model_id: str) -> None:
    text, null = caption(task)
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": clap_model_id, "clap_dim": int(embeds.shape[1]),
                            "context_dim": task.context_dim, "latent": list(x0.shape[1:])}, shard_size=256)
    for i, (e, k) in enumerate(zip(embeds, labels)):
        w.add(f"tone{k}_{i:05d}", "synthetic", clap=e, latent=x0[i], text=text, label=str(k))
    w.set_null_text(null)
    w.close()


# ---- scoring ---------------------------------------------------------------------------------
@torch.no_grad()
def held_out_accuracy(base, adapter, embeds: torch.Tensor, labels: list[int], clf: CentroidClassifier, task: Task,
                      *, steps: int = 20, audio_cfg: float = 2.0, seed: int = 7) -> dict:
    from .sampling import sample

    text, _ = caption(task)
    B = len(labels)
    shape = (B, task.channels, task.latent_size, task.latent_size)
    x = sample(base.model, adapter, shape, text.expand(B, -1, -1), embeds, steps=steps, audio_cfg=audio_cfg, seed=seed)
    pred = clf.predict(x)
    y = torch.tensor(labels)
    acc = float((pred == y).float().mean())
    counts = torch.bincount(pred, minlength=N_CLASSES).tolist()
    return {"accuracy": acc, "predicted_counts": counts}


@torch.no_grad()
def base_accuracy(base, labels, clf, task, seed: int = 7) -> dict:
    """The pretrained base without audio: a random colour (≈ chance), and its colour histogram."""
    return held_out_accuracy(base, None, None, labels, clf, task, seed=seed)


@torch.no_grad()
def embedding_accuracy(train_e: torch.Tensor, train_y: list[int], test_e: torch.Tensor, test_y: list[int]) -> float:
    """Nearest class-mean (cosine) accuracy of the embeddings themselves: does the encoder separate the classes?"""
    a, b = F.normalize(train_e, dim=-1), F.normalize(test_e, dim=-1)
    y = torch.tensor(train_y)
    means = F.normalize(torch.stack([a[y == k].mean(0) for k in range(N_CLASSES)]), dim=-1)
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

    from .loop import train

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
        run_dir = out / "runs" / _slug(v.name)
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
    curves = {r["variant"]: smoothed_loss(out / "runs" / _slug(r["variant"]) / "logs" / "train.csv") for r in rows}
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


def smoothed_loss(csv_path: Path, k: float = 0.9) -> list[tuple[int, float]]:
    """(step, EMA of the training loss) of a run's CSV log."""
    from .logs import RunLog

    if not Path(csv_path).is_file():
        return []
    out, acc = [], None
    for r in RunLog.read(csv_path):
        if r["loss"]:
            v = float(r["loss"])
            acc = v if acc is None else k * acc + (1 - k) * v
            out.append((int(r["step"]), acc))
    return out


def steps_to_reach(curve: list[tuple[int, float]], threshold: float) -> int | None:
    """First step whose smoothed loss is ≤ threshold (None: never)."""
    return next((s for s, v in curve if v <= threshold), None)


def _slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name.lower()).strip("_")[:40]


def table(results: dict) -> str:
    """The ablation table as Markdown."""
    cols = [k for k in results["rows"][0] if k.startswith("acc")]
    thr = results.get("loss_threshold")
    reach = f"steps to loss ≤ {thr:.4f}" if thr is not None else "steps to loss"
    head = ("| variant | " + " | ".join(f"held-out acc. (audio CFG {c[7:]})" for c in cols) +
            f" | {reach} | steps | train s |")
    lines = [head, "|" + "---|" * (len(cols) + 4)]
    for r in results["rows"]:
        s2l = r.get("steps_to_loss")
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r[c]:.0%}" for c in cols) +
                     f" | {'never' if s2l is None else s2l} | {r['steps']} | {r['train_s']:.0f} |")
    lines.append(f"| base, no audio (chance {results['chance']:.0%}) | " + " | ".join(
        f"{results['base_accuracy']:.0%}" for _ in cols) + " | – | – | – |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> Path:
    """Held-out accuracy per variant (bars) and the training-loss curves of each run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    cols = [k for k in rows[0] if k.startswith("acc")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    width = 0.8 / len(cols)
    for j, c in enumerate(cols):
        ax1.bar([i + j * width for i in range(len(rows))], [r[c] for r in rows], width, label=f"audio CFG {c[7:]}")
    ax1.axhline(results["chance"], color="k", ls="--", lw=0.8, label="chance")
    ax1.axhline(0.9, color="g", ls=":", lw=0.8, label="target 90%")
    ax1.set_xticks([i + width * (len(cols) - 1) / 2 for i in range(len(rows))])
    ax1.set_xticklabels([r["variant"] for r in rows], rotation=15, fontsize=8)
    ax1.set_ylim(0, 1.3)
    ax1.set_yticks([0, 0.25, 0.5, 0.75, 0.9, 1.0])
    ax1.set_ylabel("held-out accuracy")
    ax1.legend(fontsize=8, loc="upper center", ncol=2)
    ax1.set_title("tone pitch → latent colour (4 classes)")
    for r in rows:
        pts = smoothed_loss(Path(results["out"]) / "runs" / _slug(r["variant"]) / "logs" / "train.csv")
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], label=r["variant"], lw=1)
    if results.get("loss_threshold") is not None:
        ax2.axhline(results["loss_threshold"], color="k", ls=":", lw=0.8, label="loss threshold of the table")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training loss (min-SNR ε-MSE, EMA)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
