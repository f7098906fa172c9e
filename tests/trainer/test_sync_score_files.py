"""`python -m training sync-score`: AV-Align of video files as any route writes them (an mp4 with its sound track,
or a silent video and its clip): the jumping square on its clicks scores high, the same video 0.5 s late low."""
import json

import numpy as np
import pytest
import torch

from test_av_align import FPS, ONSETS, RATE, clicks, jumping_square


def _write_mp4(path, frames: torch.Tensor, wave: torch.Tensor | None):
    """frames (F, H, W, 3) in [0, 1] at FPS, with wave (1, 1, T) at RATE as an AAC track; FFmpeg's own encoders."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=int(FPS))
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vs.bit_rate = 2_000_000
        aus = out.add_stream("aac", rate=RATE, layout="mono") if wave is not None else None
        for f in frames:
            img = av.VideoFrame.from_ndarray((f.numpy() * 255).round().astype(np.uint8), format="rgb24")
            out.mux(vs.encode(img))
        out.mux(vs.encode())
        if aus is not None:
            samples = wave[0].numpy().astype(np.float32)
            step = 1024
            for i in range(0, samples.shape[1], step):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i:i + step]), format="fltp",
                                                   layout="mono")
                chunk.sample_rate = RATE
                chunk.pts = i
                out.mux(aus.encode(chunk))
            out.mux(aus.encode())
    return path


def test_a_video_on_its_sound_scores_high_and_half_a_second_late_low(tmp_path):
    pytest.importorskip("cv2", reason="OpenCV (requirements-dev.txt) is not installed")
    pytest.importorskip("librosa", reason="librosa (requirements-dev.txt) is not installed")
    from training.cli import main

    synced = _write_mp4(tmp_path / "synced.mp4", jumping_square(), clicks())
    late = _write_mp4(tmp_path / "late.mp4", jumping_square(shift=0.5), clicks())
    assert main(["sync-score", str(synced), str(late), "--out", str(tmp_path / "s.json")]) == 0
    rows = {r["video"].rsplit("/", 1)[-1]: r for r in json.loads((tmp_path / "s.json").read_text())}
    assert rows["synced.mp4"]["fps"] == FPS and rows["synced.mp4"]["frames"] == jumping_square().shape[0]
    assert len(rows["synced.mp4"]["audio_onsets"]) == len(ONSETS)   # read back from the AAC track
    # a lossy codec's noise adds small motion peaks on still frames (the same frames scored uncompressed give 1.0,
    # tests/unit/test_av_align.py): every onset is still matched, so the union grows a little
    synced_score, late_score = rows["synced.mp4"]["score"], rows["late.mp4"]["score"]
    assert synced_score >= 0.5 and late_score <= 0.25 and synced_score - late_score >= 0.4


def test_a_silent_video_takes_its_clip_and_bad_input_names_the_fix(tmp_path):
    pytest.importorskip("cv2", reason="OpenCV (requirements-dev.txt) is not installed")
    pytest.importorskip("librosa", reason="librosa (requirements-dev.txt) is not installed")
    from devtools.demo_audio import write_wav
    from training.data import SampleError
    from training.sync_score import score_video

    silent = _write_mp4(tmp_path / "silent.mp4", jumping_square(), None)
    wav = tmp_path / "clip.wav"
    write_wav(wav, clicks()[0].numpy(), RATE)
    assert score_video(silent, wav)["score"] >= 0.5
    with pytest.raises(SampleError, match="has no audio stream"):
        score_video(silent)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SampleError, match="corrupt or not a video; re-export it"):
        score_video(tmp_path / "broken.mp4", wav)
