"""AudioCLIP's audio front end: waveform (int16 scale) → framed → trainable Fourier basis (FBSP) → 3 bands of dB power.

Same computation as AudioCLIP's `model/esresnet/fbsp.py` (`LinearFBSP`, `_ESResNetFBSP.spectrogram`),
`base.py` (`_ESResNet._forward_pre_processing`, `split_spectrogram`, `spectrogram_to_power`) and
`utils/transforms.py` (`frame_signal`, `scale`), for x: (B, 2, T):
  x / 32767.5-ish (`scale(x, -32768, 32767, -1, 1)`) → frames of 1654 samples every 561 (the signal zero-padded on
  both sides to a whole number of frames) × the stored window → zero-padded to 2048 → FBSP: a learned complex basis
  of 1025 frequencies, rebuilt from its parameters m, fb, fc → (2B, 1025, frames, re/im) → the lowest 1023 bins in
  3 bands of 341 → power, 0 → 1e-18 → 10·log10 → (B, 2 channels, 3 bands, 341, frames).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_FFT, HOP, WIN = 2048, 561, 1654
BANDS = 3                      # the trunk's input channels: three frequency bands
LOG10_EPS = 1e-18


def scale(x, old_min, old_max, new_min, new_max):
    """AudioCLIP's `transforms.scale`: a linear map of [old_min, old_max] onto [new_min, new_max]."""
    return (((x - old_min) * (new_max - new_min)) / (old_max - old_min)) + new_min


def frame_signal(signal: torch.Tensor, window: torch.Tensor, frame_length: int = WIN, hop: int = HOP) -> torch.Tensor:
    """signal (N, T) → windowed frames (N, F, frame_length), F = 1 + ⌈(T − frame_length) / hop⌉ (1 if T ≤ frame)."""
    T = signal.shape[-1]
    n = 1 if T <= frame_length else 1 + int(math.ceil((1.0 * T - frame_length) / hop))
    pad = int((n - 1) * hop + frame_length) - T
    if pad > 0:
        signal = F.pad(signal, (pad // 2, pad - pad // 2))
    idx = (torch.arange(frame_length, device=signal.device)[None]
           + torch.arange(0, n * hop, hop, device=signal.device)[:, None])                      # (F, frame_length)
    return signal[..., idx] * window


class LinearFBSP(nn.Module):
    """AudioCLIP's frequency-band-selective Fourier basis (normalized, no bias): frames (…, 2048) → (…, 1025, 2)."""

    def __init__(self, out_features: int = N_FFT // 2 + 1):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(out_features))
        self.fb = nn.Parameter(torch.ones(out_features))
        self.fc = nn.Parameter(torch.arange(out_features, dtype=torch.float32))
        self.bias = nn.Parameter(torch.empty(0))  # released as an empty tensor: AudioCLIP's `bias=False` FBSP
        self.eps = 1e-8

    def weights(self, in_features: int, dtype, device) -> torch.Tensor:
        """(out, in, 2) complex basis, as `_materialize_weights` (the same operations in the same order)."""
        t = np.pi * torch.linspace(-1.0, 1.0, in_features, dtype=dtype, device=device).reshape(1, -1, 1) + self.eps
        m, fb, fc = (p.reshape(-1, 1, 1) for p in (self.m, self.fb, self.fc))
        kernel = torch.cat((torch.cos(fc * t), -torch.sin(fc * t)), dim=-1)
        x = fb * t / (m + self.eps)
        win = torch.where(x == 0, torch.ones_like(x), torch.sin(x) / x)[..., 0]  # sinc, real (out, in)
        real, imag, zero = m[..., 0], torch.zeros_like(m[..., 0]), torch.zeros_like(win)
        mag = (win ** 2 + zero ** 2) ** 0.5                                       # `power(win + 0i, m + 0i)`
        phase = zero.atan2(win)
        angle = real * phase + 0.5 * imag * (mag ** 2).log()
        win = ((mag ** 2) ** (0.5 * real) * torch.exp(-imag * phase)).unsqueeze(-1) * torch.stack(
            (angle.cos(), angle.sin()), dim=-1)                                   # (out, in, 2)
        w = fb.sqrt() * torch.cat((win[..., :1] * kernel[..., :1] - win[..., 1:] * kernel[..., 1:],
                                   win[..., :1] * kernel[..., 1:] + win[..., 1:] * kernel[..., :1]), dim=-1)
        return w / (in_features ** 0.5)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        w = self.weights(frames.shape[-1], frames.dtype, frames.device)
        return torch.stack((F.linear(frames, w[..., 0]), F.linear(frames, w[..., 1])), dim=-1)


def spectrogram_db(x: torch.Tensor, window: torch.Tensor, fbsp: LinearFBSP) -> torch.Tensor:
    """x: (B, C, T) in int16 scale → (B, C, 3, 341, frames) dB power."""
    B = x.shape[0]
    x = scale(x.float(), -32768.0, 32767, -1.0, 1.0)
    with torch.no_grad():
        frames = frame_signal(x.reshape(-1, x.shape[-1]), window)                 # (B·C, F, 1654)
        pad = N_FFT - WIN
        frames = F.pad(frames, [pad // 2, pad - pad // 2])                        # (B·C, F, 2048)
    spec = fbsp(frames).transpose(-2, -3)                                         # (B·C, 1025, F, 2)
    per_band = spec.shape[-3] // BANDS
    spec = spec[:, :BANDS * per_band]
    spec = spec.reshape(B, -1, per_band, *spec.shape[-2:])                        # (B, C·3, 341, F, 2)
    power = spec[..., 0] ** 2 + spec[..., 1] ** 2
    power = torch.where(power > 0.0, power, torch.full_like(power, LOG10_EPS))
    power = power.reshape(B, -1, BANDS, *power.shape[-2:])                        # (B, C, 3, 341, F)
    return torch.log10(power).mul(10.0)
