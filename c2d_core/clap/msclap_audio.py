"""Microsoft CLAP 2022 audio tower in plain torch: log-mel front end → Cnn14 → projection (1024-d).

The same math as msclap (`msclap/models/audio.py` Cnn14, `msclap/models/clap.py` AudioEncoder/Projection,
torchlibrosa's `Spectrogram` + `LogmelFilterBank`), with the same module names, so the state dict is
msclap's `audio_encoder.*` minus the prefix. Eval mode only (dropout off, BatchNorm on running stats).

Front end (fixed, from the variant config): reflect-padded (n_fft / 2 each side) STFT as a strided conv1d
with periodic-Hann-windowed DFT kernels, power spectrum, Slaney mel filter bank (librosa's
`filters.mel`, 64 bins, 50–14,000 Hz), `10 · log10(max(x, 1e-10))` (ref 1, no top_db). It runs in fp32
whatever the tower's dtype: the power of a 1024-sample frame overflows fp16.

Shapes: waveform (B, T) at 44.1 kHz → log-mel (B, 1, frames, 64), frames = T // 320 + 1 → Cnn14 (B, 2048)
→ projection (B, 1024), not normalised (the encoder L2-normalises).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .msclap_file import MsClapVariant


# ------------------------------------------------------------------------------------------- front end
def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (librosa `hz_to_mel(htk=False)`): linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    lin = f / f_sp
    return torch.where(f >= min_log_hz, min_log_hz / f_sp + torch.log(f.clamp(min=1e-12) / min_log_hz) / logstep, lin)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) float32: librosa `filters.mel(..., norm="slaney").T`, computed in float64."""
    fft_freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lo, hi = (float(hz_to_mel(torch.tensor(float(f), dtype=torch.float64))) for f in (fmin, fmax))
    mel_f = mel_to_hz(torch.linspace(lo, hi, n_mels + 2, dtype=torch.float64))  # (n_mels + 2,)
    fdiff = mel_f.diff()
    ramps = mel_f[:, None] - fft_freqs[None, :]                                  # (n_mels + 2, n_freqs)
    lower = -ramps[:n_mels] / fdiff[:n_mels, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    weights *= (2.0 / (mel_f[2:] - mel_f[:n_mels]))[:, None]
    return weights.T.float().contiguous()


def dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary STFT kernels, each (n_fft // 2 + 1, 1, n_fft) float32: Hann(n) · exp(-2πi nk / N)."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    phase = 2 * math.pi * torch.remainder(k[:, None] * n[None, :], n_fft) / n_fft
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    return (torch.cos(phase) * window).float()[:, None], (-torch.sin(phase) * window).float()[:, None]


class _Stft(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.conv_real = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=hop, bias=False)
        if self.conv_real.weight.device.type != "meta":
            real, imag = dft_kernels(n_fft)
            self.conv_real.weight.data.copy_(real)
            self.conv_imag.weight.data.copy_(imag)
        self.requires_grad_(False)


class _Spectrogram(nn.Module):
    """(B, T) → power spectrogram (B, 1, frames, n_fft // 2 + 1), fp32."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.stft = _Stft(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x.float()[:, None, :], (self.stft.n_fft // 2, self.stft.n_fft // 2), mode="reflect")
        real = F.conv1d(x, self.stft.conv_real.weight.float(), stride=self.stft.hop)  # (B, F, frames)
        imag = F.conv1d(x, self.stft.conv_imag.weight.float(), stride=self.stft.hop)
        return (real ** 2 + imag ** 2).transpose(1, 2)[:, None]


class _LogMel(nn.Module):
    """Power spectrogram (..., n_freqs) → log-mel in dB (..., n_mels), fp32."""

    def __init__(self, v: MsClapVariant):
        super().__init__()
        n_freqs = v.window_size // 2 + 1
        melW = torch.empty(n_freqs, v.mel_bins)
        if melW.device.type != "meta":
            melW = slaney_mel_filters(v.mel_sample_rate or v.sample_rate, v.window_size, v.mel_bins, v.fmin, v.fmax)
        self.melW = nn.Parameter(melW, requires_grad=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(spec.float(), self.melW.float())
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))


# ----------------------------------------------------------------------------------------------- Cnn14
class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool) if pool > 1 else x


class Cnn14(nn.Module):
    """(B, T) waveform → (B, out_emb) embedding (`fc1` + ReLU); `fc_audioset` is kept for the file's layout."""

    widths = (64, 128, 256, 512, 1024, 2048)

    def __init__(self, v: MsClapVariant):
        super().__init__()
        self.spectrogram_extractor = _Spectrogram(v.window_size, v.hop_size)
        self.logmel_extractor = _LogMel(v)
        self.bn0 = nn.BatchNorm2d(v.mel_bins)
        cins = (1,) + self.widths[:-1]
        for i, (cin, cout) in enumerate(zip(cins, self.widths), start=1):
            setattr(self, f"conv_block{i}", _ConvBlock(cin, cout))
        self.fc1 = nn.Linear(self.widths[-1], v.out_emb)
        self.fc_audioset = nn.Linear(v.out_emb, v.classes_num)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, T) → (B, 1, frames, mel_bins) fp32."""
        return self.logmel_extractor(self.spectrogram_extractor(waveform))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = self.log_mel(waveform).to(self.bn0.weight.dtype)     # (B, 1, frames, mels)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)          # BatchNorm over the mel bins
        for i in range(1, 7):
            x = getattr(self, f"conv_block{i}")(x, pool=2 if i < 6 else 1)
        x = x.mean(dim=3)                                        # (B, 2048, frames / 32)
        x = x.max(dim=2).values + x.mean(dim=2)                  # (B, 2048)
        return F.relu(self.fc1(x))


class Projection(nn.Module):
    """msclap's projection: LayerNorm(l1(x) + l2(gelu(l1(x)))), (B, d_in) → (B, d_out)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out, bias=False)
        self.linear2 = nn.Linear(d_out, d_out, bias=False)
        self.layer_norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.linear1(x)
        return self.layer_norm(e1 + self.linear2(F.gelu(e1)))


class MsClapAudioTower(nn.Module):
    """msclap's `AudioEncoder` for the 2022 variant: (B, T) 44.1 kHz waveform → (B, d_proj), unnormalised."""

    def __init__(self, variant: MsClapVariant):
        super().__init__()
        if variant.audio_tower != "cnn14":
            raise ValueError(f"MsClapAudioTower builds the Cnn14 tower, not {variant.audio_tower!r}")
        self.variant = variant
        self.base = Cnn14(variant)
        self.projection = Projection(variant.out_emb, variant.d_proj)

    def cast(self, device=None, dtype=None) -> "MsClapAudioTower":
        """`.to(device, dtype)` with the fixed front end kept in fp32."""
        self.to(device=device, dtype=dtype)
        self.base.spectrogram_extractor.float()
        self.base.logmel_extractor.float()
        return self

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.projection(self.base(waveform))
