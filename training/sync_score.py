"""AV-Align of video files: how well any route's video follows its sound (`python -m training sync-score`).

Scores a video from anywhere (this pack's Wan or AnimateDiff workflows, core ComfyUI's LTX-2 ia2v or Wan S2V, a
camera) with c2d_core.av_align: every frame at the video's own frame rate, its own sound track unless a separate
audio file is given (a silent WEBP / GIF export and the clip it was made from). Frames are scaled to at most
`max_side` pixels on their longer side for the optical flow (peaks, not magnitudes, are compared).
"""
from __future__ import annotations

from pathlib import Path

import torch

from c2d_core.av_align import av_align
from c2d_core.errors import wrap_upstream

from .data import SampleError, load_audio


def read_video(path: Path, max_side: int = 256, max_seconds: float = 600.0) -> tuple[torch.Tensor, float]:
    """(F, H, W, 3) float32 frames in [0, 1] (the longer side scaled to ≤ max_side) and the video's frame rate."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SampleError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if fps <= 0:
                raise SampleError(f"{path.name}: the video does not say its frame rate; re-export it with one")
            for frame in container.decode(stream):
                if len(frames) >= max_seconds * fps:
                    break
                scale = min(1.0, max_side / max(frame.width, frame.height))
                w, h = max(8, round(frame.width * scale)), max(8, round(frame.height * scale))
                frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24", width=w, height=h)))
    except SampleError:
        raise
    except Exception as e:   # PyAV raises many error types for corrupt files
        raise SampleError(wrap_upstream(f"cannot decode the frames of {path.name}: the video is corrupt or not a "
                                        "video; re-export it", e)) from None
    if len(frames) < 3:
        raise SampleError(f"{path.name} has {len(frames)} frame(s): the sync score needs at least 3")
    return torch.stack(frames).float() / 255.0, fps


def score_video(video: str | Path, audio: str | Path | None = None, max_side: int = 256) -> dict:
    """{"video", "audio", "fps", "frames", "score", "audio_onsets", "motion_peaks"} (times in seconds)."""
    video = Path(video)
    if not video.is_file():
        raise SampleError(f"{video} does not exist")
    frames, fps = read_video(video, max_side)
    sound = Path(audio) if audio else video
    wave, rate = load_audio(sound, max_seconds=frames.shape[0] / fps + 1.0)
    s = av_align(frames, fps, wave, rate)
    return {"video": str(video), "audio": str(sound), "fps": round(fps, 3), "frames": int(frames.shape[0]),
            "score": round(s.score, 4), "audio_onsets": [round(t, 3) for t in s.audio_peaks],
            "motion_peaks": [round(t, 3) for t in s.video_peaks]}
