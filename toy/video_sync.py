"""Sound → video in sync, proved without real weights: on a tiny Wan, the square's colour must change at the frame
where the tone's pitch changes.

Each clip is 13 video frames at 8 fps (4 latent frames: Wan's VAE packs the first frame alone, then 4 per latent
frame). Its sound is a tone (toy/task.py's four pitches) whose pitch switches from class a to class b at the start
of latent frame c ∈ {1, 2, 3} (video frame 4c − 3); its video is the task's square, colour a in the latent frames
before c and b from c on. The per-frame audio embeddings are the Audio Timeline's (`c2d_core.timeline.
encode_timeline`: one random-weight CLAP embedding per video frame, 0.5 s windows), so frames near the switch hear
both pitches, as real audio would. The base (ComfyUI's own Wan model, `training/tiny_dit.py`, 64 wide, 2 blocks) is
pretrained here with flow matching on such videos without audio, so it draws random colours and switch points; the
adapter, trained through the real trainer with frame-local audio (each latent frame attends to its own 4 frames'
embeddings), must put each latent frame's colour where its sound says. Scored on held-out clips: per-latent-frame
accuracy and the error, in video frames, of the predicted switch frame; and AV-Align (c2d_core.av_align) of the
frames drawn from the latents (toy.task.latent_to_rgb) with the clip's sound, for the data itself too (with its own
and with another clip's sound), to show what that motion-based score can tell on this task.
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

from . import task as S

FPS = 8.0
LATENT_FRAMES = 4
STRIDE = 4                                   # video frames per latent frame (the first frame alone)
VIDEO_FRAMES = STRIDE * (LATENT_FRAMES - 1) + 1
WINDOW_S = 0.5
CHANNELS, TEXT_DIM = 16, 32                  # Wan's latent channels; the tiny Wan's text width


def switch_frame(c: int) -> int:
    """The video frame where latent frame c starts."""
    return STRIDE * (c - 1) + 1


@dataclass(frozen=True)
class Clip:
    a: int          # colour class before the switch
    b: int          # after
    c: int          # first latent frame of colour b (1…LATENT_FRAMES−1)

    def frame_classes(self) -> list[int]:
        """The class of each latent frame."""
        return [self.a if t < self.c else self.b for t in range(LATENT_FRAMES)]


def clips(n: int, seed: int) -> list[Clip]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a, b = (int(v) for v in rng.choice(S.N_CLASSES, 2, replace=False))
        out.append(Clip(a, b, int(rng.integers(1, LATENT_FRAMES))))
    return out


def sound(clip: Clip, rng: np.random.Generator) -> np.ndarray:
    """(T,) at 48 kHz: the tone of class a, then of class b from the switch frame's time on (a 10 ms crossfade)."""
    seconds = (VIDEO_FRAMES - 1) / FPS + WINDOW_S / 2
    parts = [S.tone(k, rng, (seconds, seconds))[0] for k in (clip.a, clip.b)]
    n = min(len(p) for p in parts)
    t = np.arange(n) / S.SAMPLE_RATE
    cut = switch_frame(clip.c) / FPS
    fade = np.clip((t - cut) / 0.01 + 0.5, 0, 1)
    return (parts[0][:n] * (1 - fade) + parts[1][:n] * fade).astype(np.float32)


def timeline_embeds(items: list[Clip], seed: int, clap_dir: Path) -> torch.Tensor:
    """(N, VIDEO_FRAMES, D): the Audio Timeline's per-frame embeddings of each clip's sound."""
    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.timeline import encode_timeline

    enc = load_audio_encoder(str(clap_dir))
    rng = np.random.default_rng(seed)
    out = []
    for clip in items:
        wave = torch.from_numpy(sound(clip, rng))
        emb, _ = encode_timeline(enc, wave, S.SAMPLE_RATE, FPS, WINDOW_S, n_frames=VIDEO_FRAMES)
        out.append(emb.float())
    return torch.stack(out)


def latents(items: list[Clip], t: S.Task, seed: int) -> torch.Tensor:
    """(N, 16, LATENT_FRAMES, 8, 8): the task's square in each latent frame, coloured by that frame's class."""
    frames = [S.latents([clip.frame_classes()[f] for clip in items], t, seed + 17 * f) for f in range(LATENT_FRAMES)]
    return torch.stack(frames, dim=2)


def predicted_classes(x: torch.Tensor, clf: S.CentroidClassifier) -> torch.Tensor:
    """(N, 16, T, S, S) → (N, T) the colour class of each latent frame."""
    N, C, T = x.shape[:3]
    return clf.predict(x.permute(0, 2, 1, 3, 4).reshape(N * T, C, *x.shape[3:])).view(N, T)


def switch_error(pred: torch.Tensor, items: list[Clip]) -> list[int]:
    """Per clip: |predicted − true| switch frame in video frames; the predicted switch is the first latent frame
    whose colour differs from frame 0's (none: the clip's end)."""
    errors = []
    for row, clip in zip(pred.tolist(), items):
        c = next((t for t in range(1, LATENT_FRAMES) if row[t] != row[0]), LATENT_FRAMES)
        errors.append(abs(switch_frame(c) - switch_frame(clip.c)))
    return errors


def video_frames(x: torch.Tensor) -> torch.Tensor:
    """(16, LATENT_FRAMES, S, S) one clip's latents → (VIDEO_FRAMES, 8S, 8S, 3): each latent frame drawn by the
    task's decoder (toy.task.latent_to_rgb), held for the video frames it packs (the first alone)."""
    rgb = S.latent_to_rgb(x.permute(1, 0, 2, 3))
    return rgb.repeat_interleave(torch.tensor([1] + [STRIDE] * (x.shape[1] - 1)), dim=0)


def sync_scores(x: torch.Tensor, items: list[Clip], seed: int) -> list[float]:
    """AV-Align (c2d_core.av_align) of each clip's video (from its latents) with its sound: the sounds are those
    timeline_embeds(items, seed, ...) heard (the same generator, the same order)."""
    from c2d_core.av_align import av_align

    rng = np.random.default_rng(seed)
    return [av_align(video_frames(x[i]), FPS, torch.from_numpy(sound(clip, rng)), S.SAMPLE_RATE).score
            for i, clip in enumerate(items)]


def task() -> S.Task:
    return S.Task(channels=CHANNELS, context_dim=TEXT_DIM)


def write_cache(cache: Path, t: S.Task, embeds: torch.Tensor, items: list[Clip], x0: torch.Tensor,
                clap_model_id: str) -> None:
    """The trainer's cache for video: per sample (VIDEO_FRAMES, D) embeddings and a (16, T, 8, 8) latent."""
    from training.cache import CacheWriter

    text, null = S.caption(t)
    w = CacheWriter(cache, {"kind": "synthetic-video", "latent_space": "model", "clap_model_id": clap_model_id,
                            "fps": FPS}, shard_size=256)
    for i, (e, clip) in enumerate(zip(embeds, items)):
        w.add(f"clip{i:05d}", "synthetic", clap=e, latent=x0[i], text=text, label=f"{clip.a}{clip.b}{clip.c}")
    w.set_null_text(null)
    w.close()


def pretrain(x0: torch.Tensor, context: torch.Tensor, out: Path, *, steps: int, batch: int = 16, lr: float = 3e-3,
             seed: int = 0) -> dict:
    """Train every weight of the tiny Wan (no audio) with flow matching on the videos (toy.flux.pretrain)."""
    from training.config import TinyDiTConfig

    from .flux import pretrain as pretrain_dit

    return pretrain_dit(x0, context, None, out, steps=steps, batch=batch, lr=lr, seed=seed,
                        tiny=TinyDiTConfig(family="wan"))


@dataclass(frozen=True)
class Budget:
    train_clips: int = 96
    test_clips: int = 32
    pretrain_steps: int = 600
    steps: int = 400
    batch: int = 8
    lr: float = 3e-3
    audio_cfg: float = 4.0
    sample_steps: int = 20


def run(out: Path, budget: Budget = Budget(), *, seed: int = 0, clap_dir: Path | None = None, log_fn=print) -> dict:
    """Pretrain the tiny Wan, train a frame-local adapter through the real trainer, score held-out clips."""
    from c2d_core.adapter_file import load_adapter
    from training.loop import train
    from training.model import build_tiny
    from training.sampling import sample

    from .bundle import BUNDLE
    from .task import task_config

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clap_dir = Path(clap_dir or BUNDLE / "clap")
    t = task()
    train_clips, test_clips = clips(budget.train_clips, seed + 31), clips(budget.test_clips, seed + 32)
    t0 = time.perf_counter()
    tr_e, te_e = timeline_embeds(train_clips, seed + 41, clap_dir), timeline_embeds(test_clips, seed + 42, clap_dir)
    embed_s = time.perf_counter() - t0
    x0 = latents(train_clips, t, seed + 1)
    cache = out / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    write_cache(cache, t, tr_e, train_clips, x0, f"random-clap:{clap_dir.name}")
    text, _ = S.caption(t)
    pre = pretrain(x0, text, cache / "base.safetensors", steps=budget.pretrain_steps, seed=seed)
    log_fn(f"tiny Wan base: loss {pre['loss_start']:.3f} → {pre['loss_end']:.3f} in {pre['seconds']:.0f} s")
    cfg = task_config(out / "run", cache, t, steps=(budget.steps, 0, 0), batch=budget.batch, lr=budget.lr,
                      overrides={"model.tiny_dit.family": "wan", "train.snr_gamma": 0.0, "train.seed": seed,
                                 "adapter.clap_dim": int(tr_e.shape[-1]), "stage.align.gate_lr_mult": 10.0})
    if (out / "run").exists():
        shutil.rmtree(out / "run")
    t0 = time.perf_counter()
    result = train(cfg)
    train_s = time.perf_counter() - t0
    adapter = load_adapter(result.adapter_path).adapter
    base = build_tiny(cfg.model)
    frames = [f for clip in train_clips for f in clip.frame_classes()]
    clf = S.CentroidClassifier(x0.permute(0, 2, 1, 3, 4).reshape(-1, CHANNELS, t.latent_size, t.latent_size), frames)
    truth = torch.tensor([clip.frame_classes() for clip in test_clips])
    shape = (len(test_clips), CHANNELS, LATENT_FRAMES, t.latent_size, t.latent_size)
    context = text.expand(len(test_clips), -1, -1)
    real = sync_scores(latents(test_clips, t, seed + 2), test_clips, seed + 42)
    rows = {"data": {"av_align": float(np.mean(real)),
                     "av_align_other_sound": float(np.mean(sync_scores(latents(test_clips, t, seed + 2),
                                                                       test_clips[1:] + test_clips[:1], seed + 42)))}}
    for name, a, cfg_scale in (("base, no audio", None, 1.0), ("adapter", adapter, budget.audio_cfg)):
        x = sample(base.model, a, shape, context, None if a is None else te_e, steps=budget.sample_steps,
                   audio_cfg=cfg_scale, seed=seed + 7)
        pred = predicted_classes(x, clf)
        err = switch_error(pred, test_clips)
        rows[name] = {"frame_accuracy": float((pred == truth).float().mean()),
                      "per_latent_frame": [float(v) for v in (pred == truth).float().mean(0)],
                      "switch_error_frames": float(np.mean(err)), "switch_exact": float(np.mean([e == 0 for e in err])),
                      "av_align": float(np.mean(sync_scores(x, test_clips, seed + 42)))}
        log_fn(f"{name}: per-frame accuracy {rows[name]['frame_accuracy']:.0%}, switch error "
               f"{rows[name]['switch_error_frames']:.2f} frames (exact {rows[name]['switch_exact']:.0%})")
    return {"rows": rows, "pretrain": pre, "train_s": round(train_s, 1), "embed_s": round(embed_s, 1),
            "steps": result.step, "gate_mean": float(np.mean([abs(math.tanh(g)) for g in adapter.gates().values()])),
            "budget": dataclasses.asdict(budget), "chance_frame": 1 / S.N_CLASSES}
