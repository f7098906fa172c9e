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


MEMORY_PROBE = """
import json, sys, torch
from c2d_core.audio import prepare_waveform
from c2d_core.timeline import encode_timeline
from devtools.memory import PeakRSS


class ResamplingEncoder:  # what the CLAP encoder does to memory per chunk: checks, mono, resample to 48 kHz
    def encode(self, wav, rate, allow_silence=False):
        mono = prepare_waveform(wav, rate, allow_silence=allow_silence)
        return torch.stack([mono.mean(1), mono.std(1), mono.abs().amax(1)], dim=1)


rate, out = 44_100, {}
encode_timeline(ResamplingEncoder(), torch.randn(1, 2, rate), rate, fps=2)  # warm-up: lazy imports, kernels
for minutes in (0.5, 5):
    wav = torch.randn(1, 2, int(minutes * 60 * rate)) * 0.1   # stereo float, as Load Audio gives it
    with PeakRSS() as m:
        embeds, loud = encode_timeline(ResamplingEncoder(), wav, rate, fps=2, window_seconds=1.0, chunk=8)
    assert embeds.shape == (minutes * 120, 3) and torch.isfinite(embeds).all()
    out[minutes] = m.peak_extra
    del wav, embeds
print(json.dumps(out))
"""


@pytest.mark.skipif(not __import__("devtools.memory", fromlist=["available"]).available(),
                    reason="needs Linux /proc/self/clear_refs and glibc")
def test_timeline_working_memory_does_not_grow_with_duration():
    """Peak RSS beyond the clip, 30 s vs 5 min of stereo 44.1 kHz audio, measured in a fresh process (the test
    process's heap and lazily mapped libraries make in-process peaks noisy)."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE], cwd=repo, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    extra = {float(k): v for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}
    clip_bytes = 5 * 60 * 44_100 * 2 * 4
    # a chunk (8 one-second windows, resampled) is a few MB whatever the length; a mono mix or a resample
    # of the whole 5 min clip would add ≥ 50 MB (half the clip)
    assert extra[5] < 1.5 * extra[0.5] + 4e6, extra
    assert extra[5] < 0.2 * clip_bytes, (extra, clip_bytes)
