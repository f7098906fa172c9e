"""ImageBind's audio input: clips placed by its clip sampler, kaldi fbank images (`imagebind/data.py`).

For a mono window of T samples at 16 kHz (duration d = T / 16000 s, as ImageBind computes it in float):
  clip starts: pytorchvideo's `ConstantClipsPerVideoSampler(clip_duration=2, clips_per_video=3)`, in exact
               fractions: step = max(d − 2, 0) / 3, clip i covers [i · step, i · step + 2) s, i = 0, 1, 2, cut to
               samples with int() (so a clip under 2 s, or at the end, is shorter; a clip ≤ 2 s gives 3 equal
               clips);
  each clip:   minus its mean, in place on the window (as ImageBind's `waveform -= waveform.mean()` on a slice
               view: an overlapping later clip sees the earlier subtraction) → torchaudio's kaldi fbank
               (htk_compat, hanning, 25 ms / 10 ms, 128 mel bins, no dither, no energy) → (128, frames),
               zero-padded or cut to 204 frames → (x + 4.268) / 9.138.
ImageBind's fbank reads channel 0 of a stereo file; the pack mixes all channels to mono first (as for every
encoder), so on stereo input the two differ by design (README: Zero-shot).
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn.functional as F

from ..kaldi_fbank import kaldi
from .tower import ImageBindAudioConfig

FRAME_SHIFT_MS = 10
FRAME_LENGTH_MS = 25


def clip_bounds(n_samples: int, cfg: ImageBindAudioConfig) -> list[tuple[int, int]]:
    """[(start, end)) sample ranges of the clips ImageBind takes from a clip of `n_samples` samples."""
    duration = n_samples / cfg.sample_rate
    clip = Fraction(cfg.clip_seconds)
    step = Fraction(Fraction(max(duration - clip, 0)), cfg.clips_per_window)
    return [(int(i * step * cfg.sample_rate), int((i * step + clip) * cfg.sample_rate))
            for i in range(cfg.clips_per_window)]


def clip_fbank(clip: torch.Tensor, cfg: ImageBindAudioConfig) -> torch.Tensor:
    """clip: (T,) float32 at 16 kHz with its mean removed, T ≥ 400 (one 25 ms frame) → normalised (1, 128, 204)."""
    fbank = kaldi("ImageBind").fbank(clip[None], htk_compat=True, sample_frequency=cfg.sample_rate, use_energy=False,
                           window_type="hanning", num_mel_bins=cfg.num_mel_bins, dither=0.0,
                           frame_length=FRAME_LENGTH_MS, frame_shift=FRAME_SHIFT_MS).transpose(0, 1)  # (mel, frames)
    pad = cfg.target_length - fbank.shape[1]
    fbank = F.pad(fbank, (0, pad)) if pad > 0 else fbank[:, :cfg.target_length]
    return ((fbank - cfg.fbank_mean) / cfg.fbank_std)[None]


def window_fbanks(window: torch.Tensor, cfg: ImageBindAudioConfig) -> torch.Tensor:
    """window: (T,) mono at 16 kHz → (clips_per_window, 1, 128, 204), one fbank image per clip."""
    samples = window.float().clone()
    images = []
    for a, b in clip_bounds(samples.shape[-1], cfg):
        clip = samples[a:b]
        clip -= clip.mean()  # in place, as ImageBind
        images.append(clip_fbank(clip, cfg))
    return torch.stack(images)
