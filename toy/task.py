"""A synthetic audio→image task that proves the trainer learns, with no real weights.

Task: a tone's pitch (4 classes, one octave apart) decides the colour (a direction in the 4 latent
channels) of a square in an 8×8 latent. The base is a tiny UNet briefly pretrained (all classes,
constant caption, no audio), so it draws a square of a random one of the 4 colours; the adapter must
learn to pick the colour the sound says.
Held-out clips (new phases, durations, detuning, noise) are encoded through the real CLAP code path
(`c2d_core.clap.encoder.ClapAudioEncoder`, random weights), sampled with the adapter, and the
generated latents are scored by a nearest-centroid classifier fitted on the real latents.

This module: the task itself (clips, latents, colours, the classifier, the cache and trainer config it makes).
The experiment is toy/experiment.py, its tables and plots toy/report.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.cache import CacheWriter
from training.config import Config
from training.config_io import load_config

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
    from c2d_core.encoder_registry import load_audio_encoder

    enc = load_audio_encoder(str(clap_dir))
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


def caption(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed caption embedding (L, D) shared by every sample, and the empty caption's (zeros)."""
    g = torch.Generator().manual_seed(4321)
    return torch.randn(task.context_len, task.context_dim, generator=g) * 0.5, torch.zeros(task.context_len,
                                                                                           task.context_dim)


def write_cache(cache: Path, task: Task, embeds: torch.Tensor, labels: list[int], x0: torch.Tensor,
                clap_model_id: str, pooled: tuple[torch.Tensor, torch.Tensor] | None = None,
                id_prefix: str = "tone") -> None:
    """The trainer's cache of the task: the fixed caption for every sample; pooled: (the caption's, the empty
    caption's) pooled vectors for models that read one (SDXL, Flux)."""
    text, null = caption(task)
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": clap_model_id, "clap_dim": int(embeds.shape[1]),
                            "context_dim": task.context_dim, "latent": list(x0.shape[1:])}, shard_size=256)
    for i, (e, k) in enumerate(zip(embeds, labels)):
        w.add(f"{id_prefix}{k}_{i:05d}", "synthetic", clap=e, latent=x0[i], text=text, label=str(k),
              pooled=None if pooled is None else pooled[0])
    w.set_null_text(null, None if pooled is None else pooled[1])
    w.close()


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
