"""Per-frame CLAP timeline: frame counts, snapping, windows, loudness, bounded chunks."""
import pytest
import torch

from c2d_core.errors import AudioInputError
from c2d_core.timeline import encode_timeline, frame_count, frame_windows


@pytest.mark.parametrize("dur, fps, given, snap, want", [
    (10.0, 8, 0, "none", 80), (2.49, 4, 0, "none", 10), (10.0, 8, 0, "multiple_of_16", 80),
    (3.0, 8, 0, "multiple_of_16", 32), (3.0, 8, 0, "8n+1", 25), (1.0, 8, 50, "none", 50), (1.0, 8, 50, "8n+1", 49),
])
def test_frame_counts(dur, fps, given, snap, want):
    assert frame_count(dur, fps, given, snap) == want


def test_windows_are_centred_and_clipped():
    w = list(frame_windows(total=1000, rate=100, n_frames=12, fps=1.0, window_seconds=2.0))
    assert w[0] == (0, 100) and w[3] == (200, 400) and w[9] == (800, 1000)
    assert w[11] == (800, 1000)  # past the end: the last full window


class FakeEncoder:
    """Records batch sizes; embeds a window by its mean level (so windows are distinguishable)."""
    def __init__(self):
        self.batches = []

    def encode(self, wav, rate, allow_silence=False):
        assert allow_silence
        self.batches.append(wav.shape[0])
        level = wav.abs().mean(dim=(1, 2))
        return torch.stack([level, 1 - level], dim=1)


def test_encode_timeline_streams_chunks_and_measures_loudness():
    rate = 8000
    t = torch.arange(10 * rate) / rate
    wav = (torch.sin(2 * torch.pi * 50 * t) * (t / 10))[None]  # (1, T): getting louder
    wav[:, :2 * rate] = 0                                      # two silent seconds are fine in a timeline
    enc = FakeEncoder()
    embeds, loud = encode_timeline(enc, wav, rate, fps=4, window_seconds=0.5, chunk=16)
    assert embeds.shape == (40, 2) and loud.shape == (40,)
    assert enc.batches == [16, 16, 8]
    assert loud[:7].max() == 0 and loud.max() == 1 and loud[-1] > loud[20] > 0
    with pytest.raises(AudioInputError, match="one clip"):
        encode_timeline(enc, torch.randn(2, 1, 8000), rate, fps=4)
