"""AV-Align: a synthetic video whose motion bursts sit on the audio onsets scores high; shifted by 0.5 s, low."""
import pytest
import torch

from c2d_core.av_align import SyncScoreError, av_align, intersection_over_union, local_maxima

FPS, SECONDS, RATE = 8.0, 6.0, 44_100
ONSETS = (0.75, 2.0, 3.25, 4.5)


def clicks(onsets=ONSETS) -> torch.Tensor:
    """(1, 1, T): decaying noise bursts at the onsets."""
    g = torch.Generator().manual_seed(0)
    wave = torch.zeros(int(SECONDS * RATE))
    n = int(0.15 * RATE)
    for t in onsets:
        i = int(t * RATE)
        wave[i:i + n] += torch.randn(n, generator=g) * torch.exp(-torch.arange(n) / (0.03 * RATE))
    return wave[None, None]


def jumping_square(shift: float = 0.0) -> torch.Tensor:
    """(F, 64, 64, 3): a textured square that jumps 8 px right at each onset (+ shift seconds)."""
    texture = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(1))
    frames = torch.zeros(int(FPS * SECONDS), 64, 64, 3)
    for k in range(frames.shape[0]):
        x = 10 + 8 * sum(k / FPS >= t + shift for t in ONSETS)
        frames[k, 24:40, x:x + 16] = texture
    return frames


def test_motion_on_the_onsets_scores_high_and_half_a_second_late_scores_low():
    pytest.importorskip("cv2", reason="OpenCV (opencv-python-headless, requirements-dev.txt) is not installed")
    pytest.importorskip("librosa", reason="librosa (requirements-dev.txt) is not installed")
    synced = av_align(jumping_square(), FPS, clicks(), RATE)
    late = av_align(jumping_square(shift=0.5), FPS, clicks(), RATE)
    assert len(synced.audio_peaks) == len(ONSETS) and len(synced.video_peaks) == len(ONSETS)
    assert synced.score >= 0.75 and late.score <= 0.25 and synced.score - late.score >= 0.5


def test_still_frames_give_no_motion_peaks():
    """Identical frames get ~1e-7 px of Farneback flow that varies between runs; rounded away, a still stretch has
    no peaks (the jumping square is still after its last jump at 4.5 s)."""
    pytest.importorskip("cv2", reason="OpenCV (opencv-python-headless, requirements-dev.txt) is not installed")
    from c2d_core.av_align import flow_magnitudes

    flow = flow_magnitudes(jumping_square())
    assert all(v == 0.0 for v in flow[int(4.5 * FPS) + 1:]) and max(flow) > 1.0


def test_the_iou_and_peak_rules():
    assert local_maxima([0, 1, 0, 2, 2, 0, 3], 2.0) == [0.5]          # strict local maxima only, at i / fps
    assert intersection_over_union([1.0, 3.0], [1.05, 2.0], 10.0) == 1 / 3   # one match within 1/fps, 3 in the union
    assert intersection_over_union([], [], 8.0) == 0.0
    with pytest.raises(SyncScoreError, match="at least 3 RGB frames"):
        av_align(torch.zeros(2, 8, 8, 3), FPS, clicks(), RATE)
