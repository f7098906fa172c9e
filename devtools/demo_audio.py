"""Deterministic synthetic sound clips for the demo and tests (no audio files are shipped)."""
from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np


def synth(kind: str, seconds: float = 4.0, rate: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    """float32 (channels, T) in [-1, 1]. kinds: "rain" (filtered noise bursts), "tone" (440 Hz + harmonics),
    "chirp" (200→4000 Hz sweep), "noise" (white)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    if kind == "tone":
        x = sum(0.3 / k * np.sin(2 * math.pi * 440 * k * t) for k in (1, 2, 3))
    elif kind == "chirp":
        x = 0.5 * np.sin(2 * math.pi * (200 * t + (4000 - 200) / (2 * seconds) * t ** 2))
    elif kind == "noise":
        x = 0.3 * rng.standard_normal(t.shape)
    elif kind == "rain":
        noise = rng.standard_normal(t.shape)
        smooth = np.convolve(noise, np.ones(8) / 8, mode="same")
        drops = (rng.random(t.shape) < 0.002).astype(float)
        x = 0.2 * smooth + 0.6 * np.convolve(drops, np.exp(-np.arange(400) / 60), mode="same") * noise
    else:
        raise ValueError(f"unknown kind {kind!r}")
    x = np.clip(x, -1, 1).astype(np.float32)
    return np.stack([x * (1 - 0.1 * c) for c in range(channels)])


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> Path:
    """16-bit PCM WAV; audio: float (channels, T)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").T.copy()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path
