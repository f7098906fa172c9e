"""Training data: (audio, image, caption, label) samples from a folder or a manifest, and their decoding.

Folder: files are paired by their path without extension (`a/dog.wav` + `a/dog.png`, optional
caption `a/dog.txt`); a video gives the audio track and/or the image (a frame at `data.video_frame`
of its duration) when no separate file does. The label is the sample's sub-folder (if any).
Manifest (.csv with a header, or .jsonl): `audio`, `image` (or `video`), optional `caption`, `label`;
relative paths are relative to the manifest.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from c2d_core.errors import C2DError, wrap_upstream

log = logging.getLogger(__name__)

AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


class DataError(C2DError):
    """The data source is missing, empty or malformed."""


class SampleError(Exception):
    """One sample cannot be read (it is skipped and listed, never fatal)."""


@dataclass(frozen=True)
class Sample:
    id: str
    audio: Path             # audio file, or a video whose audio track is used
    image: Path             # image file, or a video whose frame is used
    caption: str = ""
    label: str | None = None

    def fingerprint(self, settings: str) -> str:
        """Changes when a file, the caption or the decoding settings change (re-run of prepare re-encodes)."""
        h = hashlib.sha1(settings.encode())
        for p in (self.audio, self.image):
            try:
                st = os.stat(p)
                h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode())
            except OSError:
                h.update(f"{p}|missing".encode())
        h.update(self.caption.encode())
        h.update(str(self.label).encode())
        return h.hexdigest()


def discover(source: str | os.PathLike, default_caption: str = "") -> tuple[list[Sample], dict[str, str]]:
    """(samples, {id: reason} of files that make no pair). Raises DataError for a missing/empty source."""
    if not str(source):
        raise DataError("data.source is not set: give a folder of (audio, image) pairs or a .csv/.jsonl manifest "
                        "(--data PATH)")
    src = Path(source).expanduser()
    if not src.exists():
        raise DataError(f"data.source {src} does not exist")
    if src.is_dir():
        samples, unpaired = _from_folder(src, default_caption)
    elif src.suffix.lower() in (".csv", ".jsonl"):
        samples, unpaired = _from_manifest(src, default_caption)
    else:
        raise DataError(f"data.source {src}: give a folder, a .csv or a .jsonl manifest")
    if not samples:
        raise DataError(f"data.source {src} holds no (audio, image) pairs"
                        + (f" ({len(unpaired)} files without a partner, e.g. {next(iter(unpaired))})" if unpaired
                           else "") + "; pair files by name (dog.wav + dog.png) or use a manifest")
    return samples, unpaired


def _from_folder(root: Path, default_caption: str):
    groups: dict[str, dict[str, list[Path]]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        ext = p.suffix.lower()
        kind = ("audio" if ext in AUDIO_EXT else "image" if ext in IMAGE_EXT else "video" if ext in VIDEO_EXT
                else "caption" if ext == ".txt" else None)
        if kind is None:
            continue
        key = str(p.relative_to(root).with_suffix(""))
        groups.setdefault(key, {}).setdefault(kind, []).append(p)
    samples, unpaired = [], {}
    for key, g in groups.items():
        audio = (g.get("audio") or g.get("video") or [None])[0]
        image = (g.get("image") or g.get("video") or [None])[0]
        if audio is None or image is None:
            if "caption" not in g or len(g) > 1:
                unpaired[key] = "no " + ("audio" if audio is None else "image") + " file with the same name"
            continue
        caption = g["caption"][0].read_text(encoding="utf-8").strip() if "caption" in g else default_caption
        parent = str(Path(key).parent)
        samples.append(Sample(id=key, audio=audio, image=image, caption=caption,
                              label=None if parent == "." else parent))
    return samples, unpaired


def _from_manifest(path: Path, default_caption: str):
    rows = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        else:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise DataError(f"{path.name} line {n} is not JSON: {e}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name} is not UTF-8 text: {e}") from None
    if rows and not ({"audio"} <= set(rows[0]) and ({"image", "video"} & set(rows[0]))):
        raise DataError(f"{path.name} needs columns audio and image (or video), optional caption and label; "
                        f"found {sorted(rows[0])}")
    base = path.parent
    samples, unpaired, seen = [], {}, set()
    for n, r in enumerate(rows, 1):
        audio = (r.get("audio") or r.get("video") or "").strip()
        image = (r.get("image") or r.get("video") or "").strip()
        if not audio or not image:
            unpaired[f"row {n}"] = "empty audio or image column"
            continue
        a, i = base / audio, base / image
        sid = f"{audio}|{image}"
        if sid in seen:
            unpaired[f"row {n}"] = f"duplicate of an earlier row ({sid})"
            continue
        seen.add(sid)
        label = r.get("label")
        samples.append(Sample(id=sid, audio=a, image=i, caption=(r.get("caption") or default_caption).strip(),
                              label=None if label in (None, "") else str(label)))
    return samples, unpaired


# ---- decoding ----------------------------------------------------------------------------------
def load_audio(path: Path, max_seconds: float) -> tuple[torch.Tensor, int]:
    """The first `max_seconds` of an audio file or a video's audio track: (C, T) float32 in [-1, 1], rate."""
    import av

    if not path.is_file():
        raise SampleError(f"{path} does not exist")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise SampleError(f"{path.name} has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="fltp")
            chunks, total, limit = [], 0, int(max_seconds * rate)
            for frame in container.decode(stream):
                for f in resampler.resample(frame):
                    arr = f.to_ndarray()
                    chunks.append(arr)
                    total += arr.shape[1]
                if total >= limit:
                    break
    except SampleError:
        raise
    except Exception as e:  # PyAV raises many error types for corrupt files
        raise SampleError(wrap_upstream(f"cannot decode audio of {path.name}: the file is corrupt or not audio; "
                                        "re-export it or leave it out", e)) from None
    if not chunks:
        raise SampleError(f"{path.name}: no audio samples decoded")
    wav = torch.from_numpy(np.concatenate(chunks, axis=1)[:, :limit].astype(np.float32))
    if not torch.isfinite(wav).all():
        raise SampleError(f"{path.name}: audio contains NaN/Inf")
    if float(wav.abs().max()) == 0.0:
        raise SampleError(f"{path.name}: the audio is silent")
    return wav, rate


def video_frame(path: Path, at: float):
    """The frame at fraction `at` of a video's duration, as a PIL image."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SampleError(f"{path.name} has no video stream")
            vs = container.streams.video[0]
            duration = (container.duration / 1_000_000) if container.duration else float((vs.duration or 0) *
                                                                                         (vs.time_base or 0))
            target = max(0.0, duration * at)
            if target > 0 and vs.time_base:
                container.seek(int(target / vs.time_base), stream=vs, backward=True, any_frame=False)
            last = None
            for frame in container.decode(vs):
                last = frame
                if frame.time is not None and frame.time >= target:
                    break
            if last is None:
                raise SampleError(f"{path.name}: no video frame decoded")
            return last.to_image()
    except SampleError:
        raise
    except Exception as e:
        raise SampleError(wrap_upstream(f"cannot decode a frame of {path.name}: the video is corrupt; re-export it "
                                        "or leave it out", e)) from None


def load_image(path: Path, resolution: int, video_at: float = 0.5) -> torch.Tensor:
    """(resolution, resolution, 3) float32 in [0, 1] (ComfyUI's IMAGE layout): short side resized, centre crop."""
    return load_image_with_geometry(path, resolution, video_at)[0]


def load_image_with_geometry(path: Path, resolution: int, video_at: float = 0.5) -> tuple[torch.Tensor, tuple]:
    """load_image's image and its geometry (orig_h, orig_w, crop_top, crop_left): the size before the resize and
    the crop's offset in the resized image (SDXL's original_size and crop_coords_top_left)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SampleError(f"{path} does not exist")
    if path.suffix.lower() in VIDEO_EXT:
        img = video_frame(path, video_at)
    else:
        try:
            with Image.open(path) as im:
                im.load()
                img = im.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise SampleError(f"cannot read image {path.name}: {e}") from None
    return _resized(img, resolution, path.name)


def _resized(img, resolution: int, name: str) -> tuple[torch.Tensor, tuple]:
    """A PIL image → ((resolution, resolution, 3) in [0, 1], (orig_h, orig_w, crop_top, crop_left)): short side
    resized, centre crop."""
    from PIL import Image

    img = img.convert("RGB")
    w0, h0 = img.size
    if min(w0, h0) < 8:
        raise SampleError(f"{name} is {w0}×{h0}: too small")
    s = resolution / min(w0, h0)
    img = img.resize((max(resolution, round(w0 * s)), max(resolution, round(h0 * s))), Image.Resampling.LANCZOS)
    w, h = img.size
    left, top = (w - resolution) // 2, (h - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0), (h0, w0, top, left)


def load_video_frames(path: Path, frames: int, fps: float, resolution: int) -> torch.Tensor:
    """The video's first `frames` frames at `fps` (frame i: the last decoded frame at or before i / fps), each
    resized and centre-cropped as load_image: (frames, resolution, resolution, 3) float32 in [0, 1]."""
    import av

    if path.suffix.lower() not in VIDEO_EXT:
        raise SampleError(f"{path.name} is not a video: data.video_frames encodes videos (give .mp4/.mov/… files)")
    end = (frames - 1) / fps
    decoded: list[tuple[float, object]] = []          # (time, image) up to the last wanted time
    covered = False                                   # the video goes on past the last wanted time
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SampleError(f"{path.name} has no video stream")
            for frame in container.decode(container.streams.video[0]):
                t = float(frame.time or 0.0)
                if t > end + 1e-6 and decoded:
                    covered = True
                    break
                decoded.append((t, frame.to_image()))
    except SampleError:
        raise
    except Exception as e:
        raise SampleError(wrap_upstream(f"cannot decode the frames of {path.name}: the video is corrupt; re-export it "
                                        "or leave it out", e)) from None
    if not decoded or not (covered or decoded[-1][0] >= end - 1e-6):
        raise SampleError(f"{path.name} is too short: data.video_frames={frames} at data.fps={fps:g} needs "
                          f"{end:.2f} s of video")
    got = [[img for t, img in decoded if t <= i / fps + 1e-6 or t == decoded[0][0]][-1] for i in range(frames)]
    return torch.stack([_resized(img, resolution, path.name)[0] for img in got])
