"""Sync as a number across sound → video routes, on random-weight stand-ins: AV-Align (c2d_core.av_align) of each
route's frames with the sound they were made from.

    python benchmarks/bench_sync_routes.py [--sound clicks [rain]] [--routes wan [ltx2]] [--frames 33] [--size 64]
                                           [--steps 4] [--ltx2-frames 49] [--ltx2-size 128]

In-process ComfyUI 0.33+, the stock loaders reading full-size text-encoder and reduced diffusion-model stand-ins
(devtools.standin_text_encoders, devtools.standin_dit_files, devtools.standin_ltx2):
  - `wan` (the default), 16 fps: this pack's workflows/audio_to_video_wan.json graph (Wan 2.1 + Apply Audio Adapter
    fed by Audio Timeline: frame-local audio, loudness schedule), the same graph at strength 0 (the plain model), and
    core ComfyUI's Wan 2.2 S2V: AudioEncoderLoader (wav2vec2-large) → AudioEncoderEncode → WanSoundImageToVideo;
  - `ltx2` (opt-in), 24 fps: core ComfyUI's LTX-2.3 image + audio → video template (`video_ltx2_3_ia2v`, its
    chain and settings read from the installed template: two stages, 8 + 3 sigmas, the ×2 latent upscaler,
    image strengths 0.7 / 1.0, the sound's latent kept by a zero noise mask), with its prompt enhancer off (random
    weights would generate for hours), a gradient as the start image, 49 frames at 128² (stage 1 at 64², the
    smallest EmptyLTXVLatentVideo allows) instead of 9 s at 1280 × 720. Its text encoder is a full-size Gemma-3-12B
    stand-in: 12.8 GB on disk (deleted after the run while the disk has under devtools.frontend.KEEP_FREE_GB free,
    rebuilt in ≈ 25 s), ≈ 19 GB of memory (peak RSS), and 160–220 s per prompt on 2 cores (two prompts, padded to
    1024 tokens; a second sound reuses them), so the route takes ≈ 8 min (468 s measured, the second sound 21 s).
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
FPS, LTX_FPS, RATE = 16.0, 24.0, 44_100
S2V, WAV2VEC = "wan2.2_s2v_14B_bf16.safetensors", "wav2vec2_large_english_fp16.safetensors"
LTX_TEMPLATE = "video_ltx2_3_ia2v"
START_IMAGE = "c2d_sync_start.png"


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


def audio_file(kind: str) -> str:
    return f"c2d_sync_{kind}.wav"


def ours(frames: int, size: int, steps: int, strength: float, audio: str) -> dict:
    """workflows/audio_to_video_wan.json's graph (devtools.dit_workflows.wan_graph) at this size, length and strength,
    the video decoded into a preview instead of Video Combine."""
    from devtools.dit_workflows import wan_graph

    g = wan_graph()
    g.pop("27")
    g["4"][1].update(width=size, height=size)
    g["5"][1].update(steps=steps)
    g["10"][1].update(audio=audio)
    g["12"][1].update(frame_count=frames)
    g["14"][1].update(strength=strength)
    g["27"] = ("PreviewImage", {"images": ["26", 0]}, (1700, 300))
    return g


def wan_s2v(frames: int, size: int, steps: int, audio: str) -> dict:
    """Core ComfyUI's Wan 2.2 S2V route on the same text encoder, VAE, prompts and sampler settings."""
    g = ours(frames, size, steps, 1.0, audio)
    for key in ("10", "11", "12", "13", "14", "4"):
        g.pop(key)
    g["1"][1].update(unet_name=S2V)
    g.update({"20": ("AudioEncoderLoader", {"audio_encoder_name": WAV2VEC}, (20, 1000)),
              "21": ("LoadAudio", {"audio": audio}, (20, 1200)),
              "22": ("AudioEncoderEncode", {"audio_encoder": ["20", 0], "audio": ["21", 0]}, (380, 1000)),
              "23": ("WanSoundImageToVideo", {"positive": ["6", 0], "negative": ["7", 0], "vae": ["3", 0],
                                              "width": size, "height": size, "length": frames, "batch_size": 1,
                                              "audio_encoder_output": ["22", 0]}, (740, 1000))})
    g["5"][1].update(model=["8", 0], positive=["23", 0], negative=["23", 1], latent_image=["23", 2])
    return g


def ltx2_template() -> dict[int, tuple[str, list]]:
    """{node id: (type, widget values)} of the installed `video_ltx2_3_ia2v` template's subgraph (the
    comfyui-workflow-templates package ComfyUI's front end ships)."""
    import importlib.resources
    import json

    path = importlib.resources.files("comfyui_workflow_templates_json") / "templates" / f"{LTX_TEMPLATE}.json"
    subgraph, = json.loads(path.read_text())["definitions"]["subgraphs"]
    return {n["id"]: (n["type"], n.get("widgets_values")) for n in subgraph["nodes"]}


def ltx2_ia2v(frames: int, size: int, audio: str) -> dict:
    """Core ComfyUI's LTX-2.3 image + audio → video template, node for node (the template's node ids in comments),
    its settings read from the installed template; prompt enhance off (the template's prompt goes to CLIPTextEncode
    as when its switch is off), a `size`² start image, `frames` at 24 fps from the sound's first (frames - 1) / 24 s
    (the template's duration)."""
    t = ltx2_template()

    def widgets(node_id: int, node_type: str) -> list:
        if t.get(node_id, ("",))[0] != node_type:
            raise RuntimeError(f"{LTX_TEMPLATE}: node {node_id} is {t.get(node_id, ('missing',))[0]}, expected "
                               f"{node_type}; the template changed, update ltx2_ia2v")
        return t[node_id][1]

    ckpt, = widgets(317, "CheckpointLoaderSimple")
    text_encoder, _ckpt, device = widgets(318, "LTXAVTextEncoderLoader")
    lora, lora_strength = widgets(293, "LoraLoaderModelOnly")
    fps, _ = widgets(323, "PrimitiveInt")
    if fps != LTX_FPS:
        raise RuntimeError(f"{LTX_TEMPLATE} runs at {fps} fps; LTX_FPS says {LTX_FPS}")
    tiles = widgets(316, "VAEDecodeTiled")
    half = size // 2                    # stage 1 samples at half size (the template's a/2), the upscaler doubles it
    nodes = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": ckpt}),                                       # 317
        "2": ("LTXAVTextEncoderLoader", {"text_encoder": text_encoder, "ckpt_name": ckpt, "device": device}),  # 318
        "3": ("LTXVAudioVAELoader", {"ckpt_name": widgets(335, "LTXVAudioVAELoader")[0]}),          # 335
        "4": ("LatentUpscaleModelLoader", {"model_name": widgets(313, "LatentUpscaleModelLoader")[0]}),  # 313
        "5": ("LoraLoaderModelOnly", {"model": ["1", 0], "lora_name": lora, "strength_model": lora_strength}),  # 293
        "6": ("CLIPTextEncode", {"clip": ["2", 0], "text": widgets(319, "PrimitiveStringMultiline")[0]}),  # 306
        "7": ("CLIPTextEncode", {"clip": ["2", 0], "text": widgets(314, "CLIPTextEncode")[0]}),     # 314
        "8": ("LTXVConditioning", {"positive": ["6", 0], "negative": ["7", 0], "frame_rate": fps}),  # 307
        "9": ("LoadImage", {"image": START_IMAGE}),                                                 # 269
        "10": ("LTXVPreprocess", {"image": ["9", 0], "img_compression": widgets(334, "LTXVPreprocess")[0]}),  # 334
        "11": ("LoadAudio", {"audio": audio}),                                                      # 276
        "12": ("TrimAudioDuration", {"audio": ["11", 0], "start_index": widgets(332, "TrimAudioDuration")[0],
                                     "duration": (frames - 1) / fps}),   # 332 (length = duration × fps + 1)
        "13": ("LTXVAudioVAEEncode", {"audio": ["12", 0], "audio_vae": ["3", 0]}),                  # 328
        "14": ("SolidMask", {"value": widgets(333, "SolidMask")[0], "width": size, "height": size}),  # 333
        "15": ("SetLatentNoiseMask", {"samples": ["13", 0], "mask": ["14", 0]}),                    # 327
        "16": ("EmptyLTXVLatentVideo", {"width": half, "height": half, "length": frames, "batch_size": 1}),  # 302
        "17": ("LTXVImgToVideoInplace", {"vae": ["1", 2], "image": ["10", 0], "latent": ["16", 0],
                                         "strength": widgets(325, "LTXVImgToVideoInplace")[0], "bypass": False}),  # 325
        "18": ("LTXVConcatAVLatent", {"video_latent": ["17", 0], "audio_latent": ["15", 0]}),      # 326
        "19": ("RandomNoise", {"noise_seed": widgets(286, "RandomNoise")[0]}),                      # 286
        "20": ("KSamplerSelect", {"sampler_name": widgets(298, "KSamplerSelect")[0]}),              # 298
        "21": ("ManualSigmas", {"sigmas": widgets(308, "ManualSigmas")[0]}),                        # 308
        "22": ("CFGGuider", {"model": ["5", 0], "positive": ["8", 0], "negative": ["8", 1],
                             "cfg": widgets(315, "CFGGuider")[0]}),                                 # 315
        "23": ("SamplerCustomAdvanced", {"noise": ["19", 0], "guider": ["22", 0], "sampler": ["20", 0],
                                         "sigmas": ["21", 0], "latent_image": ["18", 0]}),          # 291
        "24": ("LTXVSeparateAVLatent", {"av_latent": ["23", 0]}),                                   # 309
        "25": ("LTXVLatentUpsampler", {"samples": ["24", 0], "upscale_model": ["4", 0], "vae": ["1", 2]}),  # 295
        "26": ("LTXVImgToVideoInplace", {"vae": ["1", 2], "image": ["10", 0], "latent": ["25", 0],
                                         "strength": widgets(296, "LTXVImgToVideoInplace")[0], "bypass": False}),  # 296
        "27": ("LTXVConcatAVLatent", {"video_latent": ["26", 0], "audio_latent": ["24", 1]}),      # 287
        "28": ("LTXVCropGuides", {"positive": ["8", 0], "negative": ["8", 1], "latent": ["24", 0]}),  # 292
        "29": ("CFGGuider", {"model": ["5", 0], "positive": ["28", 0], "negative": ["28", 1],
                             "cfg": widgets(290, "CFGGuider")[0]}),                                 # 290
        "30": ("RandomNoise", {"noise_seed": widgets(285, "RandomNoise")[0]}),                      # 285
        "31": ("KSamplerSelect", {"sampler_name": widgets(288, "KSamplerSelect")[0]}),              # 288
        "32": ("ManualSigmas", {"sigmas": widgets(289, "ManualSigmas")[0]}),                        # 289
        "33": ("SamplerCustomAdvanced", {"noise": ["30", 0], "guider": ["29", 0], "sampler": ["31", 0],
                                         "sigmas": ["32", 0], "latent_image": ["27", 0]}),          # 310
        "34": ("LTXVSeparateAVLatent", {"av_latent": ["33", 0]}),                                   # 311
        "35": ("VAEDecodeTiled", {"samples": ["34", 0], "vae": ["1", 2], "tile_size": tiles[0], "overlap": tiles[1],
                                  "temporal_size": tiles[2], "temporal_overlap": tiles[3]}),        # 316
        "36": ("LTXVAudioVAEDecode", {"samples": ["34", 1], "audio_vae": ["3", 0]}),                # 303
        "37": ("CreateVideo", {"images": ["35", 0], "audio": ["36", 0], "fps": fps}),               # 312
        "38": ("PreviewImage", {"images": ["35", 0]}),                                              # (SaveVideo)
        "39": ("PreviewAny", {"source": ["37", 0]}),   # runs CreateVideo (the template saves it: 341)
    }
    return {k: (c, i, (0, 0)) for k, (c, i) in nodes.items()}


def write_start_image(work: Path) -> None:
    """The LTX route's start image: a 256² gradient in ComfyUI's input folder."""
    from PIL import Image

    across, down = np.meshgrid(np.linspace(0, 255, 256), np.linspace(0, 255, 256))   # (256, 256) each
    gradient = np.stack([across, down, 255 - across], -1).astype(np.uint8)             # (256, 256, 3)
    (work / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient).save(work / "input" / START_IMAGE)


def workspace(graphs: list[dict], sounds: dict[str, float]) -> tuple[Path, list[Path]]:
    """A ComfyUI folder with every model file the graphs load, linked under its (node, widget)'s folder
    (devtools.frontend.MODEL_WIDGETS) to its stand-in (devtools.frontend.dit_standin: the stand-ins the front-end
    test uses, declared in devtools.dit_workflows.MODEL_FILES), a random CLAP, the Wan adapter sized from its
    stand-in, the LTX route's start image and each sound ({kind: seconds}). Returns the folder and the text
    encoders' links, for devtools.frontend.release_text_encoders."""
    from devtools.demo_audio import write_wav
    from devtools.dit_workflows import ADAPTERS, CLAP, MODEL_FILES
    from devtools.frontend import MODEL_WIDGETS, dit_standin, write_dit_adapter
    from devtools.standin_clap import make_random_clap_folder

    work = Path(tempfile.mkdtemp(prefix="c2d_sync_routes_"))
    text_encoders = []
    for graph in graphs:
        for kind_, inputs, *_pos in graph.values():
            for widget, value in inputs.items():
                if (kind_, widget) not in MODEL_WIDGETS or value not in MODEL_FILES:
                    continue
                dst = work / "models" / MODEL_WIDGETS[kind_, widget] / value
                if not dst.is_symlink():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.symlink_to(dit_standin(value))
                    if MODEL_FILES[value][0] == "te":
                        text_encoders.append(dst)
    if any(node[0] == "C2DApplyAudioAdapter" for graph in graphs for node in graph.values()):
        make_random_clap_folder(work / "models" / "clap" / CLAP, seed=0)
        write_dit_adapter(work / "models" / "audio_adapters" / ADAPTERS["wan"],
                          dit_standin("wan2.1_t2v_1.3B_fp16.safetensors"), CLAP)
    if any(node[0] == "LoadImage" and node[1]["image"] == START_IMAGE for graph in graphs for node in graph.values()):
        write_start_image(work)
    for kind, seconds in sounds.items():
        write_wav(work / "input" / audio_file(kind), sound(kind, seconds)[None], RATE)
    return work, text_encoders


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sound", nargs="+", choices=("clicks", "rain"), default=["clicks"],
                   help="one table per sound; a second sound reuses the prompts' encodings")
    p.add_argument("--routes", nargs="+", choices=("wan", "ltx2"), default=["wan"],
                   help="wan: this pack's Wan graph (with and without the adapter) and core's Wan 2.2 S2V; "
                        "ltx2: core's LTX-2.3 ia2v template (measured: ≈ 8 min, 13 GB of disk, 18.7 GB peak memory)")
    p.add_argument("--frames", type=int, default=33, help="Wan video frames, 4n+1")
    p.add_argument("--size", type=int, default=64, help="Wan video width and height")
    p.add_argument("--steps", type=int, default=4, help="Wan sampling steps")
    p.add_argument("--ltx2-frames", type=int, default=49, help="LTX-2.3 video frames, 8n+1 (24 fps)")
    p.add_argument("--ltx2-size", type=int, default=128, help="LTX-2.3 output width and height (stage 1: half)")
    args = p.parse_args()
    if (args.ltx2_frames - 1) % 8:
        p.error(f"--ltx2-frames must be 8n+1, got {args.ltx2_frames}")
    import torch

    from c2d_core.av_align import av_align
    from devtools.comfy_host import get_host, import_comfyui
    from devtools.frontend import KEEP_FREE_GB, release_text_encoders

    import_comfyui()
    seconds = {"wan": args.frames / FPS + 0.5, "ltx2": args.ltx2_frames / LTX_FPS + 0.5}   # sound past the video
    routes = {}    # sound → {route name: (graph, fps, decoded frames' node)}
    for kind in args.sound:
        audio, routes[kind] = audio_file(kind), {}
        if "wan" in args.routes:
            routes[kind].update({
                "this pack: Wan 2.1 + audio adapter (Audio Timeline, frame-local)":
                    (ours(args.frames, args.size, args.steps, 1.0, audio), FPS, "26"),
                "this pack's graph at strength 0 (plain Wan 2.1)":
                    (ours(args.frames, args.size, args.steps, 0.0, audio), FPS, "26"),
                "core Wan 2.2 S2V (wav2vec2 → WanSoundImageToVideo)":
                    (wan_s2v(args.frames, args.size, args.steps, audio), FPS, "26")})
        if "ltx2" in args.routes:
            routes[kind]["core LTX-2.3 ia2v (Gemma-3-12B, two stages, prompt enhance off)"] = (
                ltx2_ia2v(args.ltx2_frames, args.ltx2_size, audio), LTX_FPS, "35")
    file_seconds = max(seconds[r] for r in args.routes)
    work, links = workspace([g for by_name in routes.values() for g, _fps, _ in by_name.values()],
                            {kind: file_seconds for kind in args.sound})
    host = get_host(work / "models", work, load_pack=True)
    settings = {"wan": f"Wan: {args.frames} frames at {FPS:g} fps, {args.size}², {args.steps} steps",
                "ltx2": f"LTX-2.3: {args.ltx2_frames} frames at {LTX_FPS:g} fps, {args.ltx2_size}²"}
    try:
        for kind in args.sound:
            print(f"\nsound: {kind}; random weights; " + "; ".join(settings[r] for r in args.routes))
            print("| route | frames | audio onsets | motion peaks | AV-Align | run |")
            print("|---|---|---|---|---|---|")
            for name, (graph, fps, decoded) in routes[kind].items():
                # the sound as the file holds it, to the route's own length (its video + 0.5 s)
                wave = sound(kind, file_seconds)[:int(seconds["ltx2" if fps == LTX_FPS else "wan"] * RATE)]
                t0 = time.perf_counter()
                out = host.run({k: {"class_type": c, "inputs": i} for k, (c, i, _pos) in graph.items()}, fresh=False)
                frames = out["outputs"][decoded][0].float()
                s = av_align(frames, fps, torch.from_numpy(wave), RATE)
                print(f"| {name} | {frames.shape[0]} | {len(s.audio_peaks)} | {len(s.video_peaks)} | {s.score:.2f} | "
                      f"{time.perf_counter() - t0:.0f} s |", flush=True)
    finally:
        deleted = release_text_encoders(links)
        if deleted:
            print(f"deleted the stand-in {', '.join(deleted)}: the disk has under {KEEP_FREE_GB:g} GB free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
