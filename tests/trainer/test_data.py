"""Data discovery (folders, manifests, videos) and decoding; unreadable samples are reported, not fatal."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import DataError, SampleError, discover, load_audio, load_image

from devtools.demo_audio import synth, write_wav


def write_png(path: Path, w=40, h=56, seed=0):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype("uint8")).save(path)
    return path


def write_video(path: Path, seconds=1.0, rate=16000, fps=10):
    """A small MPEG-4 video with an AAC tone; the red level rises from 0 (first frame) to 255 (last)."""
    import av

    with av.open(str(path), "w") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        n = int(seconds * fps)
        for i in range(n):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0] = round(255 * i / max(1, n - 1))
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        t = np.arange(int(seconds * rate)) / rate
        x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for s0 in range(0, x.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(x[:, s0:s0 + 1024].copy(), format="fltp", layout="mono")
            fr.sample_rate = rate
            for p in a.encode(fr):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def test_folder_pairs_by_stem_with_captions_labels_and_videos(tmp_path):
    write_wav(tmp_path / "a.wav", synth("tone", 0.5, 16000, 1), 16000)
    write_png(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a beep\n")
    write_video(tmp_path / "b.mp4")                                   # a video alone: audio track + a frame
    write_wav(tmp_path / "dogs" / "c.wav", synth("noise", 0.5, 16000, 1), 16000)
    write_png(tmp_path / "dogs" / "c.jpg")
    write_wav(tmp_path / "lonely.wav", synth("chirp", 0.5, 16000, 1), 16000)
    (tmp_path / "notes.md").write_text("ignored")
    samples, unpaired = discover(tmp_path, default_caption="default")
    by_id = {s.id: s for s in samples}
    assert set(by_id) == {"a", "b", "dogs/c"}
    assert by_id["a"].caption == "a beep" and by_id["dogs/c"].caption == "default"
    assert by_id["dogs/c"].label == "dogs" and by_id["a"].label is None
    assert by_id["b"].audio == by_id["b"].image == tmp_path / "b.mp4"
    assert "lonely" in unpaired and "image" in unpaired["lonely"]


def test_manifests_csv_and_jsonl(tmp_path):
    write_wav(tmp_path / "x.wav", synth("tone", 0.5, 16000, 1), 16000)
    write_png(tmp_path / "img" / "x.png")
    (tmp_path / "m.csv").write_text("audio,image,caption,label\nx.wav,img/x.png,hello,1\n,img/x.png,,\n"
                                    "x.wav,img/x.png,dup,1\n")
    samples, unpaired = discover(tmp_path / "m.csv")
    assert len(samples) == 1 and samples[0].caption == "hello" and samples[0].label == "1"
    assert samples[0].image == tmp_path / "img" / "x.png"
    assert set(unpaired) == {"row 2", "row 3"}
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio": "x.wav", "image": "img/x.png"}) + "\n")
    s2, _ = discover(tmp_path / "m.jsonl", default_caption="dc")
    assert s2[0].caption == "dc" and s2[0].label is None
    (tmp_path / "bad.csv").write_text("sound,picture\nx.wav,img/x.png\n")
    with pytest.raises(DataError, match="needs columns audio and image"):
        discover(tmp_path / "bad.csv")


def test_missing_and_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(DataError, match="data.source is not set"):
        discover("")
    write_wav(tmp_path / "only.wav", synth("tone", 0.5, 16000, 1), 16000)
    with pytest.raises(DataError, match="no \\(audio, image\\) pairs.*only"):
        discover(tmp_path)


def test_decoding_audio_video_images_and_failures(tmp_path):
    write_video(tmp_path / "v.mp4", seconds=2.0)
    wav, rate = load_audio(tmp_path / "v.mp4", max_seconds=0.5)
    assert rate == 16000 and wav.shape == (1, 8000) and float(wav.abs().max()) > 0.3
    frame = load_image(tmp_path / "v.mp4", 32, video_at=0.5)
    assert frame.shape == (32, 32, 3) and 0.2 < float(frame[..., 0].mean()) < 0.8   # a middle frame, not the first
    img = load_image(write_png(tmp_path / "p.png", w=80, h=40), 32)
    assert img.shape == (32, 32, 3) and 0 <= float(img.min()) and float(img.max()) <= 1
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(SampleError, match="bad.wav"):
        load_audio(tmp_path / "bad.wav", 10)
    write_wav(tmp_path / "silent.wav", np.zeros((1, 16000), np.float32), 16000)
    with pytest.raises(SampleError, match="silent"):
        load_audio(tmp_path / "silent.wav", 10)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(SampleError, match="bad.png"):
        load_image(tmp_path / "bad.png", 32)
    assert torch.isfinite(wav).all()
