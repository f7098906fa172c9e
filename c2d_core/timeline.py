"""Audio timelines: one CLAP window per video frame, streamed so an hour-long clip stays in bounded memory.

Frame i sits at t_i = i / fps; its window is `window_seconds` centred on t_i (clipped at the ends).
The loudness envelope (RMS per window, scaled to peak 1) can drive a per-image strength schedule.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

from .audio import check_waveform
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
    """waveform: (1, C, T) | (C, T) at sample_rate. Returns (embeds (F, D), loudness (F,) in [0, 1]).

    Windows are cut at the source rate and resampled chunk by chunk, never the whole clip at once: beyond the
    clip itself (a view of it for mono float32 input) the working memory is one chunk of `chunk` windows,
    whatever the duration. `on_progress(done, total)` is called after each chunk (done frames of total).
    """
    mono, rate = check_waveform(waveform, sample_rate, allow_silence=True)  # (B, T)
    if mono.shape[0] != 1:
        raise AudioInputError(f"a timeline takes one clip, got a batch of {mono.shape[0]}; "
                              "split the batch or pick one clip")
    mono = mono[0]
    n = frame_count(mono.shape[0] / rate, fps, n_frames, snap)
    width = min(2 * max(1, int(window_seconds * rate / 2)), mono.shape[0])  # longest window
    embeds, rms = [], []
    windows = frame_windows(mono.shape[0], rate, n, fps, window_seconds)
    for c in range(0, n, chunk):
        part = [next(windows) for _ in range(min(chunk, n - c))]
        batch = torch.zeros(len(part), 1, width)  # (chunk, 1, window samples), zero-padded
        for j, (s, e) in enumerate(part):
            batch[j, 0, :e - s] = mono[s:e]
            rms.append(float(mono[s:e].pow(2).mean().sqrt()))
        embeds.append(encoder.encode(batch, rate, allow_silence=True))
        if on_progress is not None:
            on_progress(c + len(part), n)
    loud = torch.tensor(rms)
    loud = loud / loud.max() if loud.max() > 0 else loud
    return torch.cat(embeds), loud
