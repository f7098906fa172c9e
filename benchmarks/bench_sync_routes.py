"""Sync as a number across sound → video routes, on random-weight stand-ins: AV-Align (c2d_core.av_align) of each
route's frames with the sound they were made from.

    python benchmarks/bench_sync_routes.py [--sound clicks|rain] [--frames 33] [--size 64] [--steps 4]

In-process ComfyUI 0.33+, the stock loaders reading full-size text-encoder and reduced diffusion-model stand-ins
(devtools.standin_text_encoders, devtools.standin_dit_files), 16 fps:
  - this pack: workflows/audio_to_video_wan.json's graph (Wan 2.1 + Apply Audio Adapter fed by Audio Timeline:
    frame-local audio, loudness schedule), and the same graph at strength 0 (the plain model);
  - core ComfyUI's Wan 2.2 S2V: AudioEncoderLoader (wav2vec2-large) → AudioEncoderEncode → WanSoundImageToVideo.
Random weights: the table shows that every route's output is scored the same way, not how well a trained model
follows the sound. `clicks` has 4 onsets (AV-Align can tell sync from chance there); `rain` has one every ≈ 0.1 s.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FPS, RATE = 16.0, 44_100
S2V, WAV2VEC = "wan2.2_s2v_14B_bf16.safetensors", "wav2vec2_large_english_fp16.safetensors"


def sound(kind: str, seconds: float) -> np.ndarray:
    """(T,) mono: `clicks`, decaying noise bursts at 0.4, 0.9, 1.4 and 1.8 s; or the demo's rain."""
    if kind == "rain":
        from devtools.demo_audio import synth
        return synth("rain", seconds, RATE, 1, seed=0)[0]
    rng = np.random.default_rng(0)
    wave, n = np.zeros(int(seconds * RATE), np.float32), int(0.12 * RATE)
    for t in (0.4, 0.9, 1.4, 1.8):
        i = int(t * RATE)
        wave[i:i + n] += rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / (0.03 * RATE))
    return 0.8 * wave / np.abs(wave).max()


def ours(frames: int, size: int, steps: int, strength: float) -> dict:
    """workflows/audio_to_video_wan.json's graph (devtools.dit_workflows.wan_graph) at this size, length and strength,
    the video decoded into a preview instead of Video Combine."""
    from devtools.dit_workflows import AUDIO_FILE, wan_graph

    g = wan_graph()
    g.pop("27")
    g["4"][1].update(width=size, height=size)
    g["5"][1].update(steps=steps)
    g["10"][1].update(audio=AUDIO_FILE)
    g["12"][1].update(frame_count=frames)
    g["14"][1].update(strength=strength)
    g["27"] = ("PreviewImage", {"images": ["26", 0]}, (1700, 300))
    return g


def wan_s2v(frames: int, size: int, steps: int) -> dict:
    """Core ComfyUI's Wan 2.2 S2V route on the same text encoder, VAE, prompts and sampler settings."""
    from devtools.dit_workflows import AUDIO_FILE

    g = ours(frames, size, steps, 1.0)
    for key in ("10", "11", "12", "13", "14", "4"):
        g.pop(key)
    g["1"][1].update(unet_name=S2V)
    g.update({"20": ("AudioEncoderLoader", {"audio_encoder_name": WAV2VEC}, (20, 1000)),
              "21": ("LoadAudio", {"audio": AUDIO_FILE}, (20, 1200)),
              "22": ("AudioEncoderEncode", {"audio_encoder": ["20", 0], "audio": ["21", 0]}, (380, 1000)),
              "23": ("WanSoundImageToVideo", {"positive": ["6", 0], "negative": ["7", 0], "vae": ["3", 0],
                                              "width": size, "height": size, "length": frames, "batch_size": 1,
                                              "audio_encoder_output": ["22", 0]}, (740, 1000))})
    g["5"][1].update(model=["8", 0], positive=["23", 0], negative=["23", 1], latent_image=["23", 2])
    return g


def workspace(graphs: list[dict], frames: int, kind: str) -> Path:
    """A ComfyUI folder with every model file the graphs load (devtools.frontend.dit_standin: the stand-ins the
    front-end test uses), a random CLAP, the Wan adapter sized from its stand-in, and the sound."""
    from devtools.demo_audio import write_wav
    from devtools.dit_workflows import ADAPTERS, AUDIO_FILE, CLAP, MODEL_FILES
    from devtools.frontend import MODEL_WIDGETS, dit_standin, write_dit_adapter
    from devtools.standin_clap import make_random_clap_folder

    work = Path(tempfile.mkdtemp(prefix="c2d_sync_routes_"))
    folders = {**{kind_: folder for (kind_, _w), folder in MODEL_WIDGETS.items()},
               "AudioEncoderLoader": "audio_encoders"}
    for graph in graphs:
        for kind_, inputs, _pos in graph.values():
            for value in inputs.values():
                if isinstance(value, str) and value in MODEL_FILES:
                    dst = work / "models" / folders[kind_] / value
                    if not dst.exists():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        dst.symlink_to(dit_standin(value))
    make_random_clap_folder(work / "models" / "clap" / CLAP, seed=0)
    write_dit_adapter(work / "models" / "audio_adapters" / ADAPTERS["wan"],
                      dit_standin("wan2.1_t2v_1.3B_fp16.safetensors"), CLAP)
    write_wav(work / "input" / AUDIO_FILE, sound(kind, frames / FPS + 0.5)[None], RATE)
    return work


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sound", choices=("clicks", "rain"), default="clicks")
    p.add_argument("--frames", type=int, default=33, help="video frames, 4n+1")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    import torch

    from c2d_core.av_align import av_align
    from devtools.comfy_host import get_host, import_comfyui

    import_comfyui()
    routes = {"this pack: Wan 2.1 + audio adapter (Audio Timeline, frame-local)": ours(args.frames, args.size,
                                                                                         args.steps, 1.0),
              "this pack's graph at strength 0 (plain Wan 2.1)": ours(args.frames, args.size, args.steps, 0.0),
              "core Wan 2.2 S2V (wav2vec2 → WanSoundImageToVideo)": wan_s2v(args.frames, args.size, args.steps)}
    work = workspace(list(routes.values()), args.frames, args.sound)
    host = get_host(work / "models", work, load_pack=True)
    wave = torch.from_numpy(sound(args.sound, args.frames / FPS + 0.5))
    print(f"sound: {args.sound}; {args.frames} frames at {FPS:g} fps, {args.size}², {args.steps} steps; random weights")
    print("| route | frames | audio onsets | motion peaks | AV-Align | run |")
    print("|---|---|---|---|---|---|")
    for name, graph in routes.items():
        t0 = time.perf_counter()
        out = host.run({k: {"class_type": c, "inputs": i} for k, (c, i, _pos) in graph.items()}, fresh=False)
        frames = out["outputs"]["26"][0].float()
        s = av_align(frames, FPS, wave, RATE)
        print(f"| {name} | {frames.shape[0]} | {len(s.audio_peaks)} | {len(s.video_peaks)} | {s.score:.2f} | "
              f"{time.perf_counter() - t0:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
