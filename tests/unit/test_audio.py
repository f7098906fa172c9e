"""prepare_waveform / split_windows: every rate and layout works, every bad clip has its own error."""
import math

import pytest
import torch

from c2d_core.audio import prepare_waveform, split_windows
from c2d_core.errors import AudioInputError


def sine(freq, seconds, rate, channels=1, batch=1, amp=0.5):
    t = torch.arange(int(seconds * rate)) / rate
    return (amp * torch.sin(2 * math.pi * freq * t)).expand(batch, channels, -1).clone()


def dominant_hz(mono, rate=48_000):
    spec = torch.fft.rfft(mono).abs()
    return float(spec.argmax()) * rate / mono.shape[-1]


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000])
def test_any_rate_is_resampled_to_48k_keeping_pitch(rate):
    out = prepare_waveform(sine(440, 1.0, rate), rate)
    assert out.shape == (1, 48_000)
    assert out.dtype == torch.float32
    assert abs(dominant_hz(out[0]) - 440) <= 1.5


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_are_averaged(channels):
    w = torch.rand(2, channels, 4800) - 0.5
    out = prepare_waveform(w, 48_000)
    assert out.shape == (2, 4800)
    torch.testing.assert_close(out, w.mean(dim=1))


def test_layouts_and_int16():
    w = sine(1000, 0.5, 48_000)
    pcm = (w * 32767).round().to(torch.int16)
    for x in (w, w[0], w[0, 0]):
        assert prepare_waveform(x, 48_000).shape == (1, 24_000)
    torch.testing.assert_close(prepare_waveform(pcm[0], 48_000), w[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("bad, words", [
    (torch.zeros(1, 2, 0), "empty"),
    (torch.zeros(1, 0, 100), "empty"),
    (torch.zeros(1, 1, 48_000), "silent"),
    (torch.full((1, 1, 48_000), float("nan")), "NaN"),
    (sine(440, 1, 48_000).index_put_((torch.tensor(0), torch.tensor(0), torch.tensor(7)), torch.tensor(float("inf"))), "NaN/Inf"),
    (sine(440, 0.01, 48_000), "ms long"),
    (torch.rand(2, 2, 2, 10), "shape"),
])
def test_bad_clips_name_the_problem(bad, words):
    with pytest.raises(AudioInputError, match=words):
        prepare_waveform(bad, 48_000)


def test_one_silent_clip_in_a_batch_is_named():
    w = torch.cat([sine(440, 1, 48_000), torch.zeros(1, 1, 48_000)])
    with pytest.raises(AudioInputError, match=r"\[1\].*silent"):
        prepare_waveform(w, 48_000)


@pytest.mark.parametrize("rate", [0, 1000, 1_000_000, 44100.5, "fast", None])
def test_implausible_rates(rate):
    with pytest.raises(AudioInputError, match="sample rate"):
        prepare_waveform(sine(440, 1, 48_000), rate)


def test_split_windows_keeps_short_last_window_and_drops_tiny_tails():
    mono = torch.arange(50).float().reshape(2, 25)  # 2 clips of 25 samples, window 10
    w = split_windows(mono, 10)
    assert [tuple(x.shape) for x in w] == [(2, 10), (2, 10), (2, 5)]
    assert w[2][1].tolist() == [45, 46, 47, 48, 49]
    assert len(split_windows(torch.arange(100).float()[None], 40, min_tail=30)) == 2  # 20-sample tail dropped
    assert [x.shape[-1] for x in split_windows(torch.arange(3).float()[None], 10)] == [3]


@pytest.mark.parametrize("rate, target", [(44_100, 48_000), (22_050, 48_000), (8_000, 48_000), (192_000, 48_000)])
def test_blockwise_resampling_matches_one_call(rate, target):
    import torchaudio.functional as AF

    from c2d_core.audio import resample
    x = torch.randn(2, int(rate * 9.3) + 7, generator=torch.Generator().manual_seed(rate))
    whole = AF.resample(x, rate, target)
    blocks = resample(x, rate, target, block_seconds=1.1)   # 9 blocks with seams inside the clip
    assert blocks.shape[-1] == -(-x.shape[-1] * target // rate)  # exact ceil (torchaudio may be 1 short)
    n = min(whole.shape[-1], blocks.shape[-1])
    assert abs(whole.shape[-1] - blocks.shape[-1]) <= 1
    torch.testing.assert_close(blocks[:, :n], whole[:, :n], atol=1e-6, rtol=0)
