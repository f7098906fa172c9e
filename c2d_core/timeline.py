"""Audio timelines: one CLAP window per video frame, streamed so an hour-long clip stays in bounded memory.

Frame i sits at t_i = i / fps; its window is `window_seconds` centred on t_i (clipped at the ends).
The loudness envelope (RMS per window, scaled to peak 1) can drive a per-image strength schedule.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

from .audio import MIN_SECONDS, as_float, as_batch, check_sample_rate, scan_waveform
from .errors import AudioInputError

SNAPS = ("none", "multiple_of_16", "8n+1")


def frame_count(duration_s: float, fps: float, given: int = 0, snap: str = "none") -> int:
    """round(duration × fps) unless `given` > 0, then snapped: up to a multiple of 16 (AnimateDiff context
    windows) or to the nearest 8n+1 (LTX-style video models)."""
    if fps <= 0:
        raise AudioInputError(f"fps must be > 0, got {fps}")
    n = given if given > 0 else max(1, round(duration_s * fps))
    if snap == "multiple_of_16":
        n = 16 * math.ceil(n / 16)
    elif snap == "8n+1":
        n = 8 * max(0, round((n - 1) / 8)) + 1
    elif snap != "none":
        raise AudioInputError(f"snap must be one of {SNAPS}, got {snap!r}")
    return n


def frame_windows(total: int, rate: int, n_frames: int, fps: float, window_seconds: float) -> Iterator[tuple[int, int]]:
    """(start, end) sample indices of each frame's window in a clip of `total` samples."""
    half = max(1, int(window_seconds * rate / 2))
    for i in range(n_frames):
        centre = int(round(i / fps * rate))
        start, end = max(0, centre - half), min(total, centre + half)
        if end - start < half:            # frames past the end reuse the last window
            start, end = max(0, total - 2 * half), total
        yield start, end


def encode_timeline(encoder, waveform: torch.Tensor, sample_rate: int, fps: float, window_seconds: float = 1.0,
                    n_frames: int = 0, snap: str = "none", chunk: int = 32, on_progress=None):
    """waveform: (1, C, T) | (C, T) | (T,) at sample_rate, float or PCM. Returns (embeds (F, D), loudness (F,)
    in [0, 1]).

    The clip is never copied, converted, mixed or resampled as a whole: windows are cut from it, mixed to mono
    and resampled (by the encoder) chunk by chunk, so beyond the clip itself the working memory is one chunk of
    `chunk` windows whatever the duration (plus the F × D result). `on_progress(done, total)` is called after
    each chunk (done frames of total).
    """
    rate = check_sample_rate(sample_rate)
    w = as_batch(waveform)  # (B, C, T), a view
    if w.shape[0] != 1:
        raise AudioInputError(f"a timeline takes one clip, got a batch of {w.shape[0]}; split the batch or pick one clip")
    w = w[0]  # (C, T)
    bad, _ = scan_waveform(w)
    if bad:
        raise AudioInputError(f"audio has {bad} NaN/Inf samples; re-export it or check the processing nodes upstream")
    total = w.shape[-1]
    if total / rate < MIN_SECONDS:
        raise AudioInputError(f"audio is only {total / rate * 1000:.0f} ms long; use a clip of at least "
                              f"{MIN_SECONDS * 1000:.0f} ms")
    n = frame_count(total / rate, fps, n_frames, snap)
    width = min(2 * max(1, int(window_seconds * rate / 2)), total)  # the longest window
    embeds, rms = [], []
    windows = frame_windows(total, rate, n, fps, window_seconds)
    for c in range(0, n, chunk):
        part = [next(windows) for _ in range(min(chunk, n - c))]
        batch = torch.zeros(len(part), 1, width)  # (chunk, 1, window samples), zero-padded
        for j, (s, e) in enumerate(part):
            seg = as_float(w[:, s:e]).mean(dim=0)  # (e - s,) mono
            batch[j, 0, :e - s] = seg
            rms.append(float(seg.pow(2).mean().sqrt()))
        embeds.append(encoder.encode(batch, rate, allow_silence=True))
        if on_progress is not None:
            on_progress(c + len(part), n)
    loud = torch.tensor(rms)
    loud = loud / loud.max() if loud.max() > 0 else loud
    return torch.cat(embeds), loud
