"""The DiT families' audio workflows (Flux.1, Qwen-Image, Z-Image, Wan 2.1 video), in the compact graph form of
devtools.build_workflows, with the file names they use and the stand-in each name gets in tests.

Each graph is the family's stock ComfyUI template (UNETLoader + its text-encoder loader + VAELoader, the family's
model sampling, guidance and sampler settings) with Apply Audio Adapter between the model and the sampler; Wan's
sound goes through Audio Timeline (one embedding per video frame, frame-local) and VideoHelperSuite's Video
Combine muxes it back in.
"""
from __future__ import annotations

CLAP = "clap-htsat-unfused"
AUDIO_FILE = "clap2diffusion_demo.wav"

# file name in a workflow → (stand-in builder, argument): devtools.standin_dit_files / standin_text_encoders
# (devtools.frontend.dit_standin)
MODEL_FILES = {
    "flux1-dev.safetensors": ("dit", "flux"), "clip_l.safetensors": ("te", "clip_l"),
    "t5xxl_fp8_e4m3fn.safetensors": ("te", "t5xxl"), "ae.safetensors": ("vae", "flux_ae"),
    "qwen_image_fp8_e4m3fn.safetensors": ("dit", "qwen_image"),
    "qwen_2.5_vl_7b_fp8_scaled.safetensors": ("te", "qwen25_vl_7b"), "qwen_image_vae.safetensors": ("vae", "wan21"),
    "z_image_turbo_bf16.safetensors": ("dit", "z_image"), "qwen_3_4b.safetensors": ("te", "qwen3_4b"),
    "wan2.1_t2v_1.3B_fp16.safetensors": ("dit", "wan"), "umt5_xxl_fp8_e4m3fn_scaled.safetensors": ("te", "umt5xxl"),
    "wan_2.1_vae.safetensors": ("vae", "wan21"),
    # core ComfyUI's Wan 2.2 S2V route (benchmarks/bench_sync_routes.py), not a workflow of this pack
    "wan2.2_s2v_14B_bf16.safetensors": ("dit", "wan_s2v"), "wav2vec2_large_english_fp16.safetensors": ("audio", ""),
    # core ComfyUI's LTX-2.3 ia2v template (the same route's benchmark): devtools.standin_ltx2
    "ltx-2.3-22b-dev-fp8.safetensors": ("ltx2", "checkpoint"),
    "ltx-2.3-spatial-upscaler-x2-1.1.safetensors": ("ltx2", "upscaler"),
    "ltx_2.3_22b_distilled_1.1_lora_dynamic_fro09_avg_rank_111_bf16.safetensors": ("ltx2", "lora"),
    "gemma_3_12B_it_fp4_mixed.safetensors": ("te", "gemma3_12b"),
}
ADAPTERS = {"flux": "clap2diffusion_flux.safetensors", "qwen_image": "clap2diffusion_qwen_image.safetensors",
            "z_image": "clap2diffusion_z_image.safetensors", "wan": "clap2diffusion_wan.safetensors"}


def _audio(model_ref, family: str) -> dict:
    return {
        "10": ("C2DLoadAudio", {"audio": AUDIO_FILE}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": CLAP}, (20, 230)),
        "12": ("C2DCLAPEncode", {"clap": ["11", 0], "audio": ["10", 0]}, (380, 200)),
        "13": ("C2DAudioAdapterLoader", {"adapter_name": ADAPTERS[family]}, (380, 20)),
        "14": ("C2DApplyAudioAdapter", {"model": model_ref, "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}, (740, 40)),
    }


def _image_graph(family: str, unet: str, text_loader: tuple, vae: str, *, sampling: tuple | None, size: int,
                 steps: int, cfg: float, sampler: str, negative: str | None, guidance: float | None = None) -> dict:
    """UNETLoader → [model sampling] → Apply Audio Adapter → KSampler ← prompt (+ Flux guidance) / negative
    (a prompt, or the positive zeroed where the family samples at CFG 1) → VAE Decode → Save Image."""
    g = {
        "1": ("UNETLoader", {"unet_name": unet, "weight_dtype": "default"}, (20, 420)),
        "2": (*text_loader, (20, 600)),
        "3": ("VAELoader", {"vae_name": vae}, (20, 800)),
        "6": ("CLIPTextEncode", {"text": "a photograph of a landscape, highly detailed", "clip": ["2", 0]},
              (380, 420)),
        "4": ("EmptySD3LatentImage", {"width": size, "height": size, "batch_size": 1}, (740, 640)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["3", 0]}, (1460, 40)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": f"clap2diffusion_{family}"}, (1700, 40)),
    }
    model = ["1", 0]
    if sampling is not None:
        g["8"] = (sampling[0], {"model": ["1", 0], "shift": sampling[1]}, (380, 860))
        model = ["8", 0]
    positive = ["6", 0]
    if guidance is not None:
        g["9"] = ("FluxGuidance", {"conditioning": ["6", 0], "guidance": guidance}, (740, 420))
        positive = ["9", 0]
    if negative is None:
        g["7"] = ("ConditioningZeroOut", {"conditioning": ["6", 0]}, (380, 640))
    else:
        g["7"] = ("CLIPTextEncode", {"text": negative, "clip": ["2", 0]}, (380, 640))
    g["5"] = ("KSampler", {"model": ["14", 0], "seed": 42, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                           "scheduler": "simple", "positive": positive, "negative": ["7", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 40))
    g.update(_audio(model, family))
    return g


def flux_graph() -> dict:
    """Flux.1-dev: T5-XXL + CLIP-L, distilled guidance 3.5 at CFG 1 (one row: the adapter hears the sound there)."""
    return _image_graph("flux", "flux1-dev.safetensors",
                        ("DualCLIPLoader", {"clip_name1": "clip_l.safetensors",
                                            "clip_name2": "t5xxl_fp8_e4m3fn.safetensors", "type": "flux"}),
                        "ae.safetensors", sampling=None, size=1024, steps=20, cfg=1.0, sampler="euler",
                        negative=None, guidance=3.5)


def qwen_image_graph() -> dict:
    """Qwen-Image: Qwen2.5-VL text, shift 3.1, real CFG 2.5 (the unconditional row hears the null tokens)."""
    return _image_graph("qwen_image", "qwen_image_fp8_e4m3fn.safetensors",
                        ("CLIPLoader", {"clip_name": "qwen_2.5_vl_7b_fp8_scaled.safetensors", "type": "qwen_image"}),
                        "qwen_image_vae.safetensors", sampling=("ModelSamplingAuraFlow", 3.1), size=1328, steps=20,
                        cfg=2.5, sampler="euler", negative=" ")


def z_image_graph() -> dict:
    """Z-Image Turbo: Qwen3-4B text, shift 3, 8 steps at CFG 1."""
    return _image_graph("z_image", "z_image_turbo_bf16.safetensors",
                        ("CLIPLoader", {"clip_name": "qwen_3_4b.safetensors", "type": "lumina2"}),
                        "ae.safetensors", sampling=("ModelSamplingAuraFlow", 3.0), size=1024, steps=8, cfg=1.0,
                        sampler="res_multistep", negative=None)


def wan_graph() -> dict:
    """Wan 2.1 T2V 1.3B, 480p, 33 frames at 16 fps: Audio Timeline (one CLAP window per video frame, its count
    → the latent's length, its loudness → the strength schedule) → frame-local audio → Video Combine with the
    sound."""
    g = {
        "1": ("UNETLoader", {"unet_name": "wan2.1_t2v_1.3B_fp16.safetensors", "weight_dtype": "default"}, (20, 420)),
        "2": ("CLIPLoader", {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}, (20, 600)),
        "3": ("VAELoader", {"vae_name": "wan_2.1_vae.safetensors"}, (20, 800)),
        "6": ("CLIPTextEncode", {"text": "an abstract painting in motion, vivid colours, flowing", "clip": ["2", 0]},
              (380, 420)),
        "7": ("CLIPTextEncode", {"text": "blurry, low quality, static, watermark", "clip": ["2", 0]}, (380, 640)),
        "8": ("ModelSamplingSD3", {"model": ["1", 0], "shift": 8.0}, (380, 860)),
        "12": ("C2DAudioTimeline", {"clap": ["11", 0], "audio": ["10", 0], "fps": 16.0, "window_seconds": 1.0,
                                    "frame_count": 33, "snap": "none"}, (380, 120)),
        "14": ("C2DApplyAudioAdapter", {"model": ["8", 0], "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
                                        "strength_schedule": ["12", 3]}, (740, 40)),
        "4": ("EmptyHunyuanLatentVideo", {"width": 832, "height": 480, "length": ["12", 1], "batch_size": 1},
              (740, 640)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 30, "cfg": 6.0, "sampler_name": "uni_pc",
                           "scheduler": "simple", "positive": ["6", 0], "negative": ["7", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["3", 0]}, (1460, 300)),
        "27": ("VHS_VideoCombine", {"images": ["26", 0], "frame_rate": ["12", 2], "loop_count": 0,
                                    "filename_prefix": "clap2diffusion_wan", "format": "video/h264-mp4",
                                    "pingpong": False, "save_output": True, "audio": ["10", 0]}, (1700, 300)),
    }
    audio = _audio(["8", 0], "wan")
    g.update({k: audio[k] for k in ("10", "11", "13")})
    return g


_FILES = ("Files (ComfyUI's names): `{unet}` in models/diffusion_models, {text} in models/text_encoders, `{vae}` in "
          "models/vae, a CLAP in models/clap and a **{name}** audio adapter (`{adapter}`) in models/audio_adapters. ")
_UNTRAINED = ("No trained {name} adapter is published yet: `python -m training init --checkpoint <your {name} file> "
              "--out ...` writes an untrained one sized from the model, and the trainer trains it "
              "(training/README.md).")
NOTES = {
    "audio_to_image_flux": "## Sound + prompt → Flux.1 image\n" + _FILES.format(
        unet="flux1-dev.safetensors", text="`clip_l.safetensors` + `t5xxl_fp8_e4m3fn.safetensors`",
        vae="ae.safetensors", name="Flux", adapter=ADAPTERS["flux"]) + "The audio attends in Flux's double- and "
        "single-stream blocks, on the image tokens only. CFG 1 with FluxGuidance 3.5 (Flux-dev's distilled "
        "guidance: one row, which hears the sound). " + _UNTRAINED.format(name="Flux"),
    "audio_to_image_qwen_image": "## Sound + prompt → Qwen-Image\n" + _FILES.format(
        unet="qwen_image_fp8_e4m3fn.safetensors", text="`qwen_2.5_vl_7b_fp8_scaled.safetensors`",
        vae="qwen_image_vae.safetensors", name="Qwen-Image", adapter=ADAPTERS["qwen_image"]) +
        "Shift 3.1, CFG 2.5: the unconditional row hears the adapter's null tokens. " +
        _UNTRAINED.format(name="Qwen-Image"),
    "audio_to_image_z_image": "## Sound + prompt → Z-Image Turbo\n" + _FILES.format(
        unet="z_image_turbo_bf16.safetensors", text="`qwen_3_4b.safetensors`", vae="ae.safetensors",
        name="Z-Image", adapter=ADAPTERS["z_image"]) + "8 steps at CFG 1, shift 3; needs ComfyUI 0.33+. " +
        _UNTRAINED.format(name="Z-Image"),
    "audio_to_video_wan": "## Sound → Wan 2.1 video, in sync\n" + _FILES.format(
        unet="wan2.1_t2v_1.3B_fp16.safetensors", text="`umt5_xxl_fp8_e4m3fn_scaled.safetensors`",
        vae="wan_2.1_vae.safetensors", name="Wan", adapter=ADAPTERS["wan"]) +
        "**Audio Timeline** makes one CLAP embedding per video frame at 16 fps; its frame count (33 = 4n+1) sets the "
        "video length, and each latent frame hears only the sound of its own 4 video frames (frame-local), scaled by "
        "their loudness. Video Combine (VideoHelperSuite) writes the mp4 with the sound. Needs ComfyUI 0.33+. " +
        _UNTRAINED.format(name="Wan"),
}
GRAPHS = {"audio_to_image_flux": flux_graph, "audio_to_image_qwen_image": qwen_image_graph,
          "audio_to_image_z_image": z_image_graph}
PACK_GRAPHS = {"audio_to_video_wan": (wan_graph, ("vhs",))}   # workflows that need other packs
