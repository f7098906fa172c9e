"""Sync as a number across sound → video routes, on random-weight stand-ins: AV-Align (c2d_core.av_align) of each
route's frames with the sound they were made from.

    python benchmarks/bench_sync_routes.py [--sound clicks|rain] [--frames 33] [--size 64] [--steps 4]

In-process ComfyUI 0.33+, the stock loaders reading full-size text-encoder and reduced diffusion-model stand-ins
(devtools.standin_text_encoders, devtools.standin_dit_files), 16 fps:
  - this pack: Wan 2.1 + Apply Audio Adapter fed by Audio Timeline (frame-local audio, loudness schedule), and the
    same graph at strength 0 (the plain model);
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
WAN, S2V = "wan2.1_t2v_1.3B_fp16.safetensors", "wan2.2_s2v_14B_bf16.safetensors"
UMT5, VAE, WAV2VEC = ("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "wan_2.1_vae.safetensors",
                      "wav2vec2_large_english_fp16.safetensors")


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


def workspace(frames: int, kind: str) -> Path:
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from c2d_core.placement import select_blocks
    from devtools.demo_audio import write_wav
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_dit_files import ensure_audio_encoder_file, ensure_dit_file, ensure_vae_file
    from devtools.standin_text_encoders import ensure_text_encoder
    from training.checkpoint_layout import checkpoint_blocks

    work = Path(tempfile.mkdtemp(prefix="c2d_sync_routes_"))
    files = {("diffusion_models", WAN): ensure_dit_file("wan"), ("diffusion_models", S2V): ensure_dit_file("wan_s2v"),
             ("text_encoders", UMT5): ensure_text_encoder("umt5xxl"), ("vae", VAE): ensure_vae_file("wan21"),
             ("audio_encoders", WAV2VEC): ensure_audio_encoder_file()}
    for (folder, name), src in files.items():
        (work / "models" / folder).mkdir(parents=True, exist_ok=True)
        (work / "models" / folder / name).symlink_to(src)
    make_random_clap_folder(work / "models" / "clap" / "clap-htsat-unfused", seed=0)
    family, blocks, width = checkpoint_blocks(files["diffusion_models", WAN])
    (work / "models" / "audio_adapters").mkdir(parents=True)
    save_adapter(work / "models" / "audio_adapters" / "wan.safetensors", new_adapter(AdapterConfig(
        gate_init=0.5, base_family=family, context_dim=width, clap_model_id="clap-htsat-unfused",
        blocks=select_blocks(blocks, "all", family_layout(family).placements)), seed=0))
    (work / "input").mkdir()
    write_wav(work / "input" / "sound.wav", sound(kind, frames / FPS + 0.5)[None], RATE)
    return work


def _text(prompt: str = "an abstract painting in motion, vivid colours") -> dict:
    return {"1": ("UNETLoader", {"unet_name": WAN, "weight_dtype": "default"}),
            "2": ("CLIPLoader", {"clip_name": UMT5, "type": "wan"}),
            "3": ("VAELoader", {"vae_name": VAE}),
            "6": ("CLIPTextEncode", {"text": prompt, "clip": ["2", 0]}),
            "7": ("CLIPTextEncode", {"text": "blurry, static", "clip": ["2", 0]})}


def ours(frames: int, size: int, steps: int, strength: float) -> dict:
    g = _text()
    g.update({"8": ("ModelSamplingSD3", {"model": ["1", 0], "shift": 8.0}),
              "10": ("C2DLoadAudio", {"audio": "sound.wav"}),
              "11": ("C2DCLAPLoader", {"clap_name": "clap-htsat-unfused"}),
              "12": ("C2DAudioTimeline", {"clap": ["11", 0], "audio": ["10", 0], "fps": FPS, "window_seconds": 0.5,
                                          "frame_count": frames, "snap": "none"}),
              "13": ("C2DAudioAdapterLoader", {"adapter_name": "wan.safetensors"}),
              "14": ("C2DApplyAudioAdapter", {"model": ["8", 0], "adapter": ["13", 0], "embeds": ["12", 0],
                                              "strength": strength, "start_percent": 0.0, "end_percent": 1.0,
                                              "strength_schedule": ["12", 3]}),
              "4": ("EmptyHunyuanLatentVideo", {"width": size, "height": size, "length": ["12", 1], "batch_size": 1}),
              "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": steps, "cfg": 6.0, "sampler_name": "uni_pc",
                                 "scheduler": "simple", "positive": ["6", 0], "negative": ["7", 0],
                                 "latent_image": ["4", 0], "denoise": 1.0}),
              "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["3", 0]}),
              "27": ("PreviewImage", {"images": ["26", 0]})})
    return g


def wan_s2v(frames: int, size: int, steps: int) -> dict:
    g = _text()
    g["1"] = ("UNETLoader", {"unet_name": S2V, "weight_dtype": "default"})
    g.update({"8": ("ModelSamplingSD3", {"model": ["1", 0], "shift": 8.0}),
              "20": ("AudioEncoderLoader", {"audio_encoder_name": WAV2VEC}),
              "21": ("LoadAudio", {"audio": "sound.wav"}),
              "22": ("AudioEncoderEncode", {"audio_encoder": ["20", 0], "audio": ["21", 0]}),
              "23": ("WanSoundImageToVideo", {"positive": ["6", 0], "negative": ["7", 0], "vae": ["3", 0],
                                              "width": size, "height": size, "length": frames, "batch_size": 1,
                                              "audio_encoder_output": ["22", 0]}),
              "5": ("KSampler", {"model": ["8", 0], "seed": 42, "steps": steps, "cfg": 6.0, "sampler_name": "uni_pc",
                                 "scheduler": "simple", "positive": ["23", 0], "negative": ["23", 1],
                                 "latent_image": ["23", 2], "denoise": 1.0}),
              "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["3", 0]}),
              "27": ("PreviewImage", {"images": ["26", 0]})})
    return g


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
    work = workspace(args.frames, args.sound)
    host = get_host(work / "models", work, load_pack=True)
    wave = torch.from_numpy(sound(args.sound, args.frames / FPS + 0.5))
    routes = {"this pack: Wan 2.1 + audio adapter (Audio Timeline, frame-local)": ours(args.frames, args.size,
                                                                                         args.steps, 1.0),
              "this pack's graph at strength 0 (plain Wan 2.1)": ours(args.frames, args.size, args.steps, 0.0),
              "core Wan 2.2 S2V (wav2vec2 → WanSoundImageToVideo)": wan_s2v(args.frames, args.size, args.steps)}
    print(f"sound: {args.sound}; {args.frames} frames at {FPS:g} fps, {args.size}², {args.steps} steps; random weights")
    print("| route | frames | audio onsets | motion peaks | AV-Align | run |")
    print("|---|---|---|---|---|---|")
    for name, graph in routes.items():
        t0 = time.perf_counter()
        out = host.run({k: {"class_type": c, "inputs": i} for k, (c, i) in graph.items()}, fresh=False)
        frames = out["outputs"]["26"][0].float()
        s = av_align(frames, FPS, wave, RATE)
        print(f"| {name} | {frames.shape[0]} | {len(s.audio_peaks)} | {len(s.video_peaks)} | {s.score:.2f} | "
              f"{time.perf_counter() - t0:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
