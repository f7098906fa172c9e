"""AV-Align (Yariv et al., "Diverse and Aligned Audio-to-Video Generation via Text-to-Video Model Adaptation",
AAAI 2024; used by "Seeing and Hearing", CVPR 2024): how well a video's motion follows its sound, without weights.

    audio peaks: onset times (librosa's onset_strength + onset_detect on the clip at 22.05 kHz mono, as the
                 reference loads it with librosa.load)
    video peaks: local maxima of the mean Farneback optical-flow magnitude between consecutive frames (OpenCV,
                 the reference's parameters; the first frame repeats the first pair's value), at i / fps; magnitudes
                 are rounded to FLOW_RESOLUTION pixels first: Farneback gives identical frames ~1e-7 px of flow
                 that varies from run to run, and the reference's strict local-maximum rule turned that noise in
                 still stretches into peaks (a run-dependent score)
    score:       |A ∩ V| / (|A| + |V| − |A ∩ V|), an audio peak counting as matched when a video peak lies within
                 one frame (1 / fps) of it

OpenCV and librosa are optional dependencies of the pack, imported on first use with an error that says how to get
them (both come with VideoHelperSuite and many audio packs; neither is required for anything else).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .audio import prepare_waveform
from .errors import C2DError

ONSET_RATE = 22_050   # librosa.load's default rate, the reference's audio input
FLOW_RESOLUTION = 4   # decimals of a pixel kept of the mean flow magnitude (1e-4 px: below any visible motion)


class SyncScoreError(C2DError):
    pass


def _optional(name: str, pip: str):
    try:
        return __import__(name)
    except ImportError:
        raise SyncScoreError(f"the sync score needs {pip} (not installed in this Python): run `pip install {pip}` in "
                             "ComfyUI's environment (VideoHelperSuite's requirements also bring OpenCV)") from None


@dataclass
class SyncScore:
    score: float                 # AV-Align IoU in [0, 1]
    audio_peaks: list[float]     # seconds
    video_peaks: list[float]     # seconds
    flow: list[float]            # mean optical-flow magnitude per frame


def audio_peaks(waveform, sample_rate: int) -> list[float]:
    """Onset times in seconds. waveform: (B, C, T) | (C, T) | (T,) (the first clip of a batch)."""
    librosa = _optional("librosa", "librosa")
    y = prepare_waveform(waveform, sample_rate, target_rate=ONSET_RATE, allow_silence=True)[0].numpy()
    envelope = librosa.onset.onset_strength(y=y, sr=ONSET_RATE)
    frames = librosa.onset.onset_detect(onset_envelope=envelope, sr=ONSET_RATE)
    return [float(t) for t in librosa.frames_to_time(frames, sr=ONSET_RATE)]


def flow_magnitudes(frames: torch.Tensor) -> list[float]:
    """frames: (F, H, W, 3) RGB in [0, 1] (ComfyUI IMAGE) → mean Farneback flow magnitude per frame (F values)."""
    cv2 = _optional("cv2", "opencv-python")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 3:
        raise SyncScoreError(f"the sync score needs at least 3 RGB frames (F, H, W, 3), got {tuple(frames.shape)}")
    gray = [cv2.cvtColor(np.ascontiguousarray((f.clamp(0, 1) * 255).round().byte().cpu().numpy()), cv2.COLOR_RGB2GRAY)
            for f in frames]

    def magnitude(a, b) -> float:
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return round(float(cv2.mean(cv2.magnitude(flow[..., 0], flow[..., 1]))[0]), FLOW_RESOLUTION)

    return [magnitude(gray[0], gray[1])] + [magnitude(gray[i - 1], gray[i]) for i in range(1, len(gray))]


def local_maxima(values: list[float], fps: float) -> list[float]:
    return [i / fps for i in range(1, len(values) - 1) if values[i - 1] < values[i] > values[i + 1]]


def intersection_over_union(audio: list[float], video: list[float], fps: float) -> float:
    matched = sum(any(v - 1 / fps < a < v + 1 / fps for v in video) for a in audio)
    union = len(audio) + len(video) - matched
    return matched / union if union else 0.0


def av_align(frames: torch.Tensor, fps: float, waveform, sample_rate: int) -> SyncScore:
    """The AV-Align score of a video (frames (F, H, W, 3) at `fps`) and its sound."""
    if not fps > 0:
        raise SyncScoreError(f"fps must be positive, got {fps}")
    flow = flow_magnitudes(frames)
    audio, video = audio_peaks(waveform, sample_rate), local_maxima(flow, fps)
    return SyncScore(intersection_over_union(audio, video, fps), audio, video, flow)
