"""Waveform checks and conversion for CLAP: any rate, any channel count → mono 48 kHz float32.

Every failure is an `AudioInputError` that names the problem and the fix, so a bad clip never
reaches the encoder (and never turns into a silently wrong image).
"""
from __future__ import annotations

import math

import torch

from .errors import AudioInputError, wrap_upstream

CLAP_SAMPLE_RATE = 48_000
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-5  # about -100 dBFS


def as_float(waveform: torch.Tensor) -> torch.Tensor:
    """Integer PCM (int16/int32/uint8) → float in [-1, 1]; floats → float32."""
    if waveform.dtype == torch.int16:
        return waveform.float() / 32768.0
    if waveform.dtype == torch.int32:
        return waveform.float() / 2147483648.0
    if waveform.dtype == torch.uint8:
        return (waveform.float() - 128.0) / 128.0
    return waveform.float()  # as_batch has checked the dtype


def as_batch(waveform) -> torch.Tensor:
    """(B, C, T) | (C, T) | (T,) → a (B, C, T) view of the same samples (dtype kept, nothing copied)."""
    if not isinstance(waveform, torch.Tensor):
        raise AudioInputError(f"audio waveform must be a torch tensor, got {type(waveform).__name__}; "
                              "connect a Load Audio node")
    w = waveform
    if w.dim() == 1:
        w = w[None, None]
    elif w.dim() == 2:
        w = w[None]
    elif w.dim() != 3:
        raise AudioInputError(f"audio waveform has shape {tuple(waveform.shape)}; expected (batch, channels, samples)")
    if w.shape[1] == 0 or w.shape[-1] == 0:
        raise AudioInputError(f"audio is empty (shape {tuple(waveform.shape)}); load a clip that has sound in it")
    if not (w.is_floating_point() or w.dtype in (torch.int16, torch.int32, torch.uint8)):
        raise AudioInputError(f"audio samples have dtype {w.dtype}; expected float or 8/16/32-bit PCM")
    return w


def to_mono_batch(waveform) -> torch.Tensor:
    """(B, C, T) | (C, T) | (T,) → (B, T) float32, channels averaged (stereo, 5.1, … all work).
    Mono float32 input gives a view (no copy)."""
    w = as_float(as_batch(waveform))
    return w[:, 0] if w.shape[1] == 1 else w.mean(dim=1)


def check_sample_rate(sample_rate) -> int:
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise AudioInputError(f"sample rate {sample_rate!r} is not a number") from None
    if rate != sample_rate or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioInputError(
            f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz; the file header is "
            "probably wrong: re-export the audio at a standard rate (e.g. 44100 or 48000 Hz)")
    return rate


SCAN_BLOCK = 1 << 20  # samples per block when scanning a clip (bounded temporaries for hour-long audio)


def scan_waveform(mono: torch.Tensor, block: int = SCAN_BLOCK) -> tuple[int, torch.Tensor]:
    """mono: (B, T). Returns (number of NaN/Inf samples, peak |x| per clip (B,)), scanned block by block
    so no temporary as large as the clip is made."""
    bad, peak = 0, torch.zeros(mono.shape[0])
    for s in range(0, mono.shape[-1], block):
        x = mono[:, s:s + block]
        bad += int((~torch.isfinite(x)).sum())
        lo, hi = torch.aminmax(x, dim=-1)
        peak = torch.maximum(peak, torch.maximum(hi, -lo).float().cpu())
    return bad, peak


def check_waveform(waveform, sample_rate, allow_silence: bool = False) -> tuple[torch.Tensor, int]:
    """Checked mono audio at its own rate: ((B, T) float32, rate). For mono float32 input the result is a
    view of `waveform` (no copy). Raises AudioInputError for empty, too short, NaN/Inf or silent clips
    (unless allow_silence, for timeline windows) and implausible rates."""
    rate = check_sample_rate(sample_rate)
    mono = to_mono_batch(waveform)  # (B, T)
    bad, peak = scan_waveform(mono)
    if bad:
        raise AudioInputError(
            f"audio has {bad} NaN/Inf samples of {mono.numel()}; the file or the node before this one "
            "is broken: re-export the audio or check the processing nodes upstream")
    seconds = mono.shape[-1] / rate
    if seconds < MIN_SECONDS:
        raise AudioInputError(f"audio is only {seconds * 1000:.0f} ms long; use a clip of at least "
                              f"{MIN_SECONDS * 1000:.0f} ms (CLAP listens to up to 10 s)")
    silent = (peak <= SILENCE_PEAK).nonzero().flatten().tolist()
    if silent and not allow_silence:
        raise AudioInputError(
            f"audio clip(s) {silent} of the batch are silent (peak {float(peak.min()):.1e}); CLAP would embed "
            "silence, not your sound: check the file, its volume or the trim/start time")
    return mono, rate


RESAMPLE_BLOCK_SECONDS = 30.0


def resample(mono: torch.Tensor, rate: int, target_rate: int, block_seconds: float = RESAMPLE_BLOCK_SECONDS) -> torch.Tensor:
    """(B, T) at rate → (B, T') at target_rate, T' = ceil(T · target_rate / rate), with torchaudio's sinc resampler.

    Long clips are resampled block by block into the output: the same samples as one call on the whole clip
    (blocks start on the resampler's period and carry more context than its kernel reaches), without its
    temporaries of several times the clip's size. Raises AudioInputError when torchaudio is missing.
    """
    if rate == target_rate:
        return mono
    try:
        import torchaudio.functional as AF
    except ImportError as e:
        raise AudioInputError(wrap_upstream(
            f"audio at {rate} Hz must be resampled to {target_rate} Hz, which needs torchaudio: pip install "
            "torchaudio (the version matching your torch)", e)) from e
    g = math.gcd(rate, target_rate)
    o, n = rate // g, target_rate // g                      # every o input samples give n output samples
    T = mono.shape[-1]
    step = o * max(1, int(block_seconds * rate) // o)       # input samples per block, a whole number of periods
    if T <= step:
        return AF.resample(mono, rate, target_rate)
    reach = math.ceil(8 * o / min(o, n)) + 1                # > torchaudio's kernel half-width (6 zero crossings)
    ctx = o * math.ceil(reach / o)                          # context each side, whole periods
    out = mono.new_empty(mono.shape[0], -(-n * T // o))     # exact ceil (torchaudio rounds via float32)
    for s in range(0, T, step):
        a, b = max(0, s - ctx), min(T, s + step + ctx)
        x = mono[:, a:b] if b < T else torch.nn.functional.pad(mono[:, a:b], (0, o))  # zeros past the end,
        part = AF.resample(x, rate, target_rate)             # as torchaudio pads; (B, ≈ (b - a) · n / o)
        first, last = s * n // o, min(out.shape[-1], (s + step) * n // o)
        off = (s - a) * n // o
        out[:, first:last] = part[:, off:off + last - first]
    return out


def prepare_waveform(waveform, sample_rate, target_rate: int = CLAP_SAMPLE_RATE, allow_silence: bool = False) -> torch.Tensor:
    """Checked, mono, resampled audio.

    waveform: (B, C, T) | (C, T) | (T,), float or integer PCM, any sample rate in 4–384 kHz.
    Returns (B, T') float32 at `target_rate`, T' = round(T * target_rate / sample_rate).
    Raises AudioInputError for empty, too short, NaN/Inf or silent clips (unless allow_silence, for
    timeline windows) and implausible rates.
    """
    mono, rate = check_waveform(waveform, sample_rate, allow_silence)
    return resample(mono, rate, target_rate).contiguous()


def split_windows(mono: torch.Tensor, window: int, min_tail: int | None = None) -> list[torch.Tensor]:
    """Cuts clips into consecutive windows of at most `window` samples.

    mono: (B, T). Returns W tensors (B, n_w), n_w = window except maybe the last, which is left short
    (CLAP's feature extractor pads it the way the model was trained) unless it is shorter than
    `min_tail` samples (default window // 10) and there are earlier windows, then it is dropped.
    """
    T = mono.shape[-1]
    if min_tail is None:
        min_tail = window // 10
    starts = list(range(0, T, window))
    if len(starts) > 1 and T - starts[-1] < min_tail:
        starts.pop()
    return [mono[:, s:s + window] for s in starts]
