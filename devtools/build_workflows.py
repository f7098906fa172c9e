"""Writes the UI-format workflows in workflows/ from compact API-style graphs, using the running
host's node definitions for input/output slots and widget order (the inverse of workflow_api.ui_to_api).

Usage: python -m devtools.build_workflows  (needs a ComfyUI host; rewrites workflows/audio_to_image_sdxl.json,
workflows/audio_to_image_sd35.json,
workflows/audio_edit.json,
workflows/audio_inpaint.json, workflows/sound_prompt.json, workflows/audio_timeline.json,
workflows/sonicdiffusion_landscape.json, workflows/sonicdiffusion_edit.json, workflows/sound_to_unclip.json,
workflows/sound_tags_to_prompt.json, workflows/audiotoken.json, workflows/gluegen_sound.json and the DiT workflows
of devtools.dit_workflows (audio_to_image_flux / _qwen_image / _z_image.json); with the other packs unpacked
(devtools.other_packs) also workflows/audio_animatediff.json, workflows/audio_ipadapter.json,
workflows/sound_to_ipadapter.json and workflows/audio_to_video_wan.json). Tests convert
the files back and run them. A link into a widget input (e.g. a frame count into a batch size) is saved as the front
end saves a widget turned into a socket: an input with `"widget": {"name": ...}`, the widget's value kept in widgets_values.
"""
from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

from devtools import dit_workflows
from devtools.workflow_api import _default, _input_types, _spec_type, widget_layout

REPO = Path(__file__).resolve().parents[1]
CKPT = "v1-5-pruned-emaonly-fp16.safetensors"
INPAINT_CKPT = "sd-v1-5-inpainting.ckpt"
AUDIO = ["clap2diffusion_demo.wav", None, None]
CLAP = "clap-htsat-unfused"
ADAPTER = "clap2diffusion_sd15.safetensors"
SDXL_CKPT = "sd_xl_base_1.0.safetensors"      # SDXL base (or any SDXL fine-tune: Illustrious, Pony, Juggernaut ...)
SDXL_ADAPTER = "clap2diffusion_sdxl.safetensors"
SONIC_CLAP = "CLAP_weights_2022.pth"   # Microsoft CLAP 2022 as released (SonicDiffusion's encoder)
SONIC_ADAPTER = "landscape"            # models/audio_adapters/landscape/: audio_projector_landscape.pth + landscape.pt
IMAGEBIND = "imagebind_huge.pth"       # Meta's release (CC BY-NC-SA 4.0), in models/audio_encoders/ or models/clap/
SD35_CKPT = "sd3.5_large_fp8_scaled.safetensors"  # Comfy-Org's all-in-one SD3.5 Large (CLIP-L, CLIP-G, T5 inside)
SD35_ADAPTER = "clap2diffusion_sd35.safetensors"  # an SD3.5 adapter (`python -m training init --checkpoint <SD3.5 file>`)
BEATS = "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"  # Microsoft's BEATs (MIT), AudioToken's encoder
AUDIOTOKEN_EMBEDDER = "embedder_learned_embeds.bin"     # AudioToken's released embedder (MIT), in models/audiotoken/
AUDIOCLIP = "AudioCLIP-Full-Training.pt"               # AudioCLIP's release (MIT code), GlueGen's encoder
GLUEGEN = "gluenet_sound2img_audioclip_us8k.ckpt"     # GlueGen's sound GlueNet (Apache-2.0), in models/gluegen/
UNCLIP_CKPT = "sd21-unclip-h.safetensors"  # Stability's SD 2.1 unCLIP-H (sd21-unclip-h.ckpt as released, or converted)


def _audio_nodes(model_ref, clap=CLAP, adapter=ADAPTER):
    return {
        "10": ("C2DLoadAudio", {"audio": "clap2diffusion_demo.wav"}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": clap}, (20, 230)),
        "12": ("C2DCLAPEncode", {"clap": ["11", 0], "audio": ["10", 0]}, (380, 200)),
        "13": ("C2DAudioAdapterLoader", {"adapter_name": adapter}, (380, 20)),
        "14": ("C2DApplyAudioAdapter", {"model": model_ref, "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}, (740, 40)),
    }


def edit_graph(clap=CLAP, adapter=ADAPTER, prefix="clap2diffusion_edit", preset=None) -> dict:
    """preset: None = the Audio Edit Sampler's defaults; "sonicdiffusion" = SonicDiffusion's PnP (fractions 0.8)."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a quiet city street, photo", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "20": ("LoadImage", {"image": "clap2diffusion_source.png"}, (20, 620)),
        "21": ("VAEEncode", {"pixels": ["20", 0], "vae": ["1", 2]}, (380, 860)),
        "22": ("BasicScheduler", {"model": ["1", 0], "scheduler": "normal", "steps": 30, "denoise": 1.0}, (740, 860)),
        "23": ("C2DInvertLatent", {"model": ["1", 0], "positive": ["2", 0], "latent": ["21", 0],
                                   "sigmas": ["22", 0], "refine_steps": 2}, (1100, 700)),
        "24": ("C2DAudioEditSampler", {"inverted": ["23", 0], "feature_fraction": 0.8,
                                       "attention_fraction": 0.5}, (1100, 420)),
        "25": ("SamplerCustom", {"model": ["14", 0], "add_noise": False, "noise_seed": 0, "cfg": 5.0,
                                 "positive": ["2", 0], "negative": ["3", 0], "sampler": ["24", 0],
                                 "sigmas": ["22", 0], "latent_image": ["23", 0]}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["25", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": prefix}, (2060, 300)),
    }
    if preset is not None:
        g["24"][1].update(preset=preset, feature_fraction=0.8, attention_fraction=0.8)
    g.update(_audio_nodes(["1", 0], clap, adapter))
    return g


def _audio_to_image_graph(ckpt: str, *, clap: str, adapter: str, prefix: str, latent: str = "EmptyLatentImage",
                          size: int, steps: int, cfg: float, sampler: str, scheduler: str,
                          negative: str = "blurry, low quality, watermark, text") -> dict:
    """Checkpoint + prompt + sound → Apply Audio Adapter → KSampler → VAE Decode → Save Image: the one layout of the
    family workflows (SD1.5 / SonicDiffusion, SDXL, SD3.5), with each family's usual size and sampling."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": ckpt}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a photograph of a landscape, highly detailed", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": negative, "clip": ["1", 1]}, (380, 640)),
        "4": (latent, {"width": size, "height": size, "batch_size": 1}, (740, 640)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                           "scheduler": scheduler, "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 40)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 40)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": prefix}, (1700, 40)),
    }
    g.update(_audio_nodes(["1", 0], clap, adapter))
    return g


def sonic_landscape_graph() -> dict:
    """SonicDiffusion's released Landscapes model: MS-CLAP 2022 → the `landscape` pair folder → KSampler (CFG: the
    unconditional rows get projector(zeros) tokens, as theirs)."""
    return _audio_to_image_graph(CKPT, clap=SONIC_CLAP, adapter=SONIC_ADAPTER, prefix="sonicdiffusion_landscape",
                                 size=512, steps=20, cfg=7.0, sampler="euler", scheduler="normal")


def sdxl_graph() -> dict:
    """Sound + prompt → SDXL image at SDXL's native 1024², its usual sampling (30 steps dpmpp_2m karras, CFG 6); the
    stock CLIPTextEncode feeds both SDXL text encoders and the pooled / size conditioning, which the adapter leaves
    untouched."""
    return _audio_to_image_graph(SDXL_CKPT, clap=CLAP, adapter=SDXL_ADAPTER, prefix="clap2diffusion_sdxl", size=1024,
                                 steps=30, cfg=6.0, sampler="dpmpp_2m", scheduler="karras")


def sd35_graph() -> dict:
    """Sound + prompt → SD3.5 image (1024², 28 steps euler / sgm_uniform, CFG 4.5: SD3.5 Large's usual settings); the
    adapter acts on the image tokens of SD3.5's joint blocks; the text path (CLIP-L, CLIP-G, T5) is untouched."""
    return _audio_to_image_graph(SD35_CKPT, clap=CLAP, adapter=SD35_ADAPTER, prefix="clap2diffusion_sd35",
                                 latent="EmptySD3LatentImage", size=1024, steps=28, cfg=4.5, sampler="euler",
                                 scheduler="sgm_uniform", negative="blurry, low quality")


def inpaint_graph() -> dict:
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": INPAINT_CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a quiet city street, photo", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "20": ("LoadImage", {"image": "clap2diffusion_source.png"}, (20, 620)),
        "21": ("InpaintModelConditioning", {"positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2],
                                            "pixels": ["20", 0], "mask": ["20", 1], "noise_mask": True}, (740, 620)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["21", 0], "negative": ["21", 1],
                           "latent_image": ["21", 2], "denoise": 1.0}, (1100, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_inpaint"}, (1700, 300)),
    }
    g.update(_audio_nodes(["1", 0]))
    return g


def sound_prompt_graph() -> dict:
    return {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a photograph of a landscape, highly detailed", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality, watermark, text", "clip": ["1", 1]}, (380, 640)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, (740, 640)),
        "11": ("C2DCLAPLoader", {"clap_name": "clap-htsat-unfused"}, (20, 40)),
        "12": ("C2DCLAPTextEncode", {"clap": ["11", 0], "text": "thunderstorm with heavy rain",
                                     "lines": "average"}, (20, 200)),
        "13": ("C2DAudioAdapterLoader", {"adapter_name": "clap2diffusion_sd15.safetensors"}, (380, 40)),
        "14": ("C2DApplyAudioAdapter", {"model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
                                        "audio_blocks": "all", "block_weights": ""}, (740, 40)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 40)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 40)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_sound_prompt"}, (1700, 40)),
    }


def timeline_graph() -> dict:
    """Audio → per-frame CLAP timeline → one image per frame (batch = frame count, strength follows the
    loudness) → animated WEBP at the timeline's fps, plus the embeddings preview."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "an abstract painting, vivid colours", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "12": ("C2DAudioTimeline", {"clap": ["11", 0], "audio": ["10", 0], "fps": 4.0, "window_seconds": 1.0,
                                    "frame_count": 0, "snap": "none"}, (380, 120)),
        "14": ("C2DApplyAudioAdapter", {"model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
                                        "strength_schedule": ["12", 3]}, (740, 40)),
        "15": ("C2DAudioEmbedsPreview", {"embeds": ["12", 0], "loudness": ["12", 3], "size": 512}, (740, 640)),
        "4": ("EmptyLatentImage", {"width": 256, "height": 256, "batch_size": ["12", 1]}, (740, 420)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 300)),
        "6": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 300)),
        "7": ("SaveAnimatedWEBP", {"images": ["6", 0], "filename_prefix": "clap2diffusion_timeline", "fps": ["12", 2],
                                   "lossless": False, "quality": 80, "method": "default"}, (1700, 300)),
    }
    audio = _audio_nodes(["1", 0])
    g.update({k: audio[k] for k in ("10", "11", "13")})
    return g


def to_ui(graph: dict, node_defs, workflow_id: str, note: str) -> dict:
    nodes, links = [], []
    ids = {k: int(k) for k in graph}
    for dst, (ctype, inputs, _pos) in graph.items():
        for name, value in inputs.items():
            if isinstance(value, list):
                links.append([len(links) + 1, ids[value[0]], value[1], ids[dst], name, None])
    for dst, (ctype, inputs, pos) in sorted(graph.items(), key=lambda kv: int(kv[0])):
        cls = node_defs[ctype]
        itypes = _input_types(cls)
        layout = widget_layout(ctype, itypes)
        widget_names = {n for n, kind, _ in layout if kind == "input"}
        node_inputs = []
        for group in ("required", "optional"):
            for name, spec in itypes.get(group, {}).items():
                spec = tuple(spec) if isinstance(spec, (list, tuple)) else (spec,)
                link = next((l for l in links if l[3] == ids[dst] and l[4] == name), None)
                if name in widget_names:
                    if link is not None:  # a widget fed by a link
                        node_inputs.append({"name": name, "type": _spec_type(spec), "widget": {"name": name},
                                            "link": link[0]})
                    continue
                if link is None and group == "optional":
                    continue
                node_inputs.append({"name": name, "type": _spec_type(spec), "link": link[0] if link else None})
        for slot, entry in enumerate(node_inputs):
            for l in links:
                if l[3] == ids[dst] and l[4] == entry["name"]:
                    l[4] = slot
                    l[5] = entry["type"]
        values = []
        for name, kind, spec in layout:
            if kind == "input":
                value = inputs.get(name)  # a linked or unset widget keeps its default
                values.append(_default(spec) if value is None or isinstance(value, list) else value)
            elif kind == "control":
                values.append("fixed")
            else:
                values.append(None)
        outputs = []
        rtypes = getattr(cls, "RETURN_TYPES", None)
        rnames = getattr(cls, "RETURN_NAMES", None) or rtypes
        for slot, (typ, oname) in enumerate(zip(rtypes, rnames)):
            outputs.append({"name": oname, "type": typ, "links": [], "slot_index": slot})
        nodes.append({"id": ids[dst], "type": ctype, "pos": list(pos), "size": [315, 120], "flags": {},
                      "order": len(nodes), "mode": 0, "inputs": node_inputs, "outputs": outputs,
                      "properties": {"Node name for S&R": ctype}, "widgets_values": values})
    by_id = {n["id"]: n for n in nodes}
    for l in links:
        by_id[l[1]]["outputs"][l[2]]["links"].append(l[0])
    note_id = max(by_id) + 1
    nodes.append({"id": note_id, "type": "MarkdownNote", "pos": [20, 1040], "size": [480, 220], "flags": {},
                  "order": len(nodes), "mode": 0, "inputs": [], "outputs": [], "properties": {},
                  "widgets_values": [note]})
    return {"id": workflow_id, "revision": 0, "last_node_id": note_id, "last_link_id": len(links),
            "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {"ds": {"scale": 0.7, "offset": [0, 0]}}, "version": 0.4}


EDIT_NOTE = ("## Audio edit (DDIM inversion + Plug-and-Play)\n"
             "Put a photo in ComfyUI/input as `clap2diffusion_source.png` (512×512) and a sound as "
             "`clap2diffusion_demo.wav`. **Invert Latent** finds the noise that regenerates the photo; "
             "**Audio Edit Sampler** regenerates it with the sound while copying the photo's features "
             "(feature_fraction) and self-attention (attention_fraction) so the layout stays. Keep the same "
             "SIGMAS on both. Lower `strength` for subtler edits.")
TIMELINE_NOTE = ("## Audio timeline → animation\n"
                 "**Audio Timeline** gives one CLAP embedding per frame (fps frames per second of sound, each "
                 "hearing `window_seconds` around its time), the frame count (→ the latent batch size), the fps "
                 "(→ the animation saver) and each frame's loudness (→ strength_schedule: quiet frames get less "
                 "audio). **Preview Audio Embeds** shows where the sound changes. Frames are sampled "
                 "independently (no temporal model): for smooth video feed the embeds to an AnimateDiff/video "
                 "workflow instead. 256×256 and 4 fps keep it quick; raise both for real use.")
INPAINT_NOTE = ("## Audio inpainting\n"
                "Load a photo and paint a mask in the Load Image node (right click → Open in MaskEditor): only the "
                "masked area is regenerated, following the sound. Uses an SD1.5-inpainting checkpoint with the "
                "stock InpaintModelConditioning node; the audio adapter patches it like any SD1.5 model.")
SDXL_NOTE = ("## Sound + prompt → SDXL image\n"
             "Any SDXL checkpoint (SDXL base or a fine-tune: Illustrious, Pony, Juggernaut ...) in models/checkpoints and an "
             "**SDXL** audio adapter (`clap2diffusion_sdxl.safetensors`: made for SDXL's 70 transformer blocks and "
             "2048-wide context; an SD1.5 adapter is refused with an error naming both families) in models/audio_adapters. "
             "1024×1024, 30 steps, CFG 6 are SDXL's usual settings; the audio acts through Apply Audio Adapter exactly as "
             "on SD1.5 (`audio_blocks` chooses all / mid_up / up / light).")
SD35_NOTE = ("## Sound + prompt → SD3.5 image\n"
             "SD3.5 Large (`sd3.5_large_fp8_scaled.safetensors`, text encoders inside) in models/checkpoints and an "
             "**SD3.5** audio adapter (`clap2diffusion_sd35.safetensors`) in models/audio_adapters: the audio attends "
             "in SD3.5's joint blocks, on the image tokens only. No trained SD3.5 adapter is published yet: "
             "`python -m training init --checkpoint <your SD3.5 file> --out ...` makes an untrained one sized from "
             "the checkpoint (Medium and Large differ). 1024×1024, 28 steps, CFG 4.5 are SD3.5 Large's usual settings.")
SOUND_PROMPT_NOTE = ("## Sound prompt (no recording needed)\n"
                     "**CLAP Sound Prompt** turns words (\"thunderstorm with heavy rain\", \"crackling fire\") into "
                     "a CLAP embedding, the same kind CLAP Encode Audio makes from a recording, so it drives the "
                     "audio adapter directly. Needs the CLAP's tokenizer files (a full laion/clap-htsat-unfused "
                     "folder). Several lines: `average` mixes them, `one_per_image` gives line i to image i.")


MOTION = "mm_sd_v15_v2.ckpt"
IPADAPTER = "ip-adapter_sd15.safetensors"
CLIP_VISION = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"


def animatediff_graph() -> dict:
    """Sound → per-frame timeline (16-frame multiple for AnimateDiff's context windows) → AnimateDiff-Evolved motion
    model, then the audio adapter with the loudness schedule → one latent per frame → VHS Video Combine (h264 mp4)
    at the timeline's fps with the sound muxed in."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "an abstract painting, vivid colours, flowing", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "12": ("C2DAudioTimeline", {"clap": ["11", 0], "audio": ["10", 0], "fps": 8.0, "window_seconds": 1.0,
                                    "frame_count": 0, "snap": "multiple_of_16"}, (380, 120)),
        "21": ("ADE_StandardStaticContextOptions", {"context_length": 16, "context_overlap": 4,
                                                    "fuse_method": "pyramid", "use_on_equal_length": False,
                                                    "start_percent": 0.0, "guarantee_steps": 1}, (20, 860)),
        "20": ("ADE_AnimateDiffLoaderGen1", {"model": ["1", 0], "model_name": MOTION, "beta_schedule": "autoselect",
                                             "context_options": ["21", 0]}, (380, 860)),
        "14": ("C2DApplyAudioAdapter", {"model": ["20", 0], "adapter": ["13", 0], "embeds": ["12", 0],
                                        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
                                        "strength_schedule": ["12", 3]}, (740, 40)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": ["12", 1]}, (740, 420)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 300)),
        "6": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 300)),
        "7": ("VHS_VideoCombine", {"images": ["6", 0], "frame_rate": ["12", 2], "loop_count": 0,
                                   "filename_prefix": "clap2diffusion_animatediff", "format": "video/h264-mp4",
                                   "pingpong": False, "save_output": True, "audio": ["10", 0]}, (1700, 300)),
    }
    audio = _audio_nodes(["1", 0])
    g.update({k: audio[k] for k in ("10", "11", "13")})
    return g


def ipadapter_graph() -> dict:
    """An image prompt (IPAdapter_plus) and a sound (the audio adapter) on one model: IPAdapter first, then Apply
    Audio Adapter (either order gives the same model)."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a photograph, highly detailed", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "20": ("LoadImage", {"image": "clap2diffusion_source.png"}, (20, 860)),
        "30": ("IPAdapterModelLoader", {"ipadapter_file": IPADAPTER}, (20, 1240)),
        "31": ("CLIPVisionLoader", {"clip_name": CLIP_VISION}, (20, 1360)),
        "32": ("IPAdapterAdvanced", {"model": ["1", 0], "ipadapter": ["30", 0], "image": ["20", 0], "weight": 0.8,
                                     "weight_type": "linear", "combine_embeds": "concat", "start_at": 0.0,
                                     "end_at": 1.0, "embeds_scaling": "V only", "clip_vision": ["31", 0]}, (380, 860)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, (740, 640)),
        "5": ("KSampler", {"model": ["14", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1100, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1460, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_ipadapter"}, (1700, 300)),
    }
    g.update(_audio_nodes(["32", 0]))
    return g


def _imagebind_nodes():
    return {
        "10": ("C2DLoadAudio", {"audio": "clap2diffusion_demo.wav"}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": IMAGEBIND}, (20, 230)),
        "12": ("C2DCLAPEncode", {"clap": ["11", 0], "audio": ["10", 0]}, (380, 200)),
        "13": ("C2DAudioImageEmbeds", {"embeds": ["12", 0], "scale": 20.0}, (740, 200)),
    }


def unclip_graph() -> dict:
    """Sound → ImageBind → image embeddings → the stock unCLIPConditioning on SD 2.1 unCLIP-H; no adapter."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": UNCLIP_CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a photograph, highly detailed", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "14": ("unCLIPConditioning", {"conditioning": ["2", 0], "clip_vision_output": ["13", 0], "strength": 1.0,
                                      "noise_augmentation": 0.1}, (1100, 420)),
        "4": ("EmptyLatentImage", {"width": 768, "height": 768, "batch_size": 1}, (740, 640)),
        "5": ("KSampler", {"model": ["1", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["14", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_unclip"}, (2060, 300)),
    }
    g.update(_imagebind_nodes())
    return g


def ipadapter_embeds_graph() -> dict:
    """Sound → ImageBind → image embeddings → IPAdapter_plus's IPAdapter Embeds on SD1.5; no adapter, no image."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "2": ("CLIPTextEncode", {"text": "a photograph, highly detailed", "clip": ["1", 1]}, (380, 420)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (380, 640)),
        "30": ("IPAdapterModelLoader", {"ipadapter_file": IPADAPTER}, (20, 860)),
        "32": ("IPAdapterEmbeds", {"model": ["1", 0], "ipadapter": ["30", 0], "pos_embed": ["13", 1],
                                   "neg_embed": ["13", 2], "weight": 0.8, "weight_type": "linear", "start_at": 0.0,
                                   "end_at": 1.0, "embeds_scaling": "V only"}, (1100, 420)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, (1100, 800)),
        "5": ("KSampler", {"model": ["32", 0], "seed": 42, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                           "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_sound_ipadapter"}, (2060, 300)),
    }
    g.update(_imagebind_nodes())
    return g


def audiotoken_graph() -> dict:
    """Sound → BEATs → AudioToken's embedder → one word of the SD1.x prompt → any sampler; no adapter."""
    return {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "10": ("C2DLoadAudio", {"audio": "clap2diffusion_demo.wav"}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": BEATS}, (20, 230)),
        "12": ("C2DAudioTokenLoader", {"embedder_name": AUDIOTOKEN_EMBEDDER}, (380, 40)),
        "2": ("C2DAudioTokenEncode", {"clip": ["1", 1], "beats": ["11", 0], "embedder": ["12", 0], "audio": ["10", 0],
                                      "text": "a photo of <audio>, 4k, high resolution", "placeholder": "<audio>"},
              (740, 200)),
        "3": ("CLIPTextEncode", {"text": "", "clip": ["1", 1]}, (740, 640)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, (1100, 640)),
        "5": ("KSampler", {"model": ["1", 0], "seed": 42, "steps": 50, "cfg": 7.5, "sampler_name": "ddim",
                           "scheduler": "ddim_uniform", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_audiotoken"}, (2060, 300)),
    }


def gluegen_graph() -> dict:
    """Sound → AudioCLIP → GlueGen's GlueNet → the SD1.5 text condition (optionally mixed with a style prompt)."""
    return {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": CKPT}, (20, 420)),
        "10": ("C2DLoadAudio", {"audio": "clap2diffusion_demo.wav"}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": AUDIOCLIP}, (20, 230)),
        "12": ("C2DGlueGenLoader", {"gluegen_name": GLUEGEN}, (380, 40)),
        "2": ("C2DGlueGenEncode", {"clip": ["1", 1], "audioclip": ["11", 0], "gluegen": ["12", 0], "audio": ["10", 0],
                                   "text": "", "mix_tokens": 5}, (740, 200)),
        "4": ("EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}, (1100, 640)),
        "5": ("KSampler", {"model": ["1", 0], "seed": 23, "steps": 50, "cfg": 7.5, "sampler_name": "ddim",
                           "scheduler": "ddim_uniform", "positive": ["2", 0], "negative": ["2", 1],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_gluegen"}, (2060, 300)),
    }


def sound_tags_graph() -> dict:
    """Sound → CLAP → the best AudioSet labels as text → SD3.5's own text encoders → image; no adapter."""
    g = {
        "1": ("CheckpointLoaderSimple", {"ckpt_name": SD35_CKPT}, (20, 420)),
        "10": ("C2DLoadAudio", {"audio": "clap2diffusion_demo.wav"}, (20, 40)),
        "11": ("C2DCLAPLoader", {"clap_name": CLAP}, (20, 230)),
        "12": ("C2DCLAPEncode", {"clap": ["11", 0], "audio": ["10", 0]}, (380, 200)),
        "13": ("C2DSoundTags", {"clap": ["11", 0], "embeds": ["12", 0], "vocabulary": "AudioSet (527 labels, CC BY 4.0)",
                                "custom_labels": "rain\nthunder\nbirds singing\nfire", "top_k": 3, "threshold": 0.0,
                                "template": "a cinematic photograph of {labels}, highly detailed",
                                "label_prompt": "This is a sound of {label}."}, (740, 40)),
        "2": ("CLIPTextEncode", {"text": ["13", 0], "clip": ["1", 1]}, (1100, 40)),
        "3": ("CLIPTextEncode", {"text": "blurry, low quality", "clip": ["1", 1]}, (1100, 420)),
        "4": ("EmptySD3LatentImage", {"width": 1024, "height": 1024, "batch_size": 1}, (1100, 640)),
        "5": ("KSampler", {"model": ["1", 0], "seed": 42, "steps": 28, "cfg": 4.5, "sampler_name": "euler",
                           "scheduler": "sgm_uniform", "positive": ["2", 0], "negative": ["3", 0],
                           "latent_image": ["4", 0], "denoise": 1.0}, (1460, 300)),
        "26": ("VAEDecode", {"samples": ["5", 0], "vae": ["1", 2]}, (1820, 300)),
        "27": ("SaveImage", {"images": ["26", 0], "filename_prefix": "clap2diffusion_sound_tags"}, (2060, 300)),
    }
    return g


SOUND_TAGS_NOTE = ("## Sound → tags → any model (zero-shot, no adapter)\n"
                   "**CLAP Sound Tags → Prompt** ranks AudioSet's 527 sound labels (CC BY 4.0) by CLAP audio–text "
                   "similarity and writes the best into the template; the prompt goes to the model's own text encoder, "
                   "so this works on every family (here SD3.5 Large: `sd3.5_large_fp8_scaled.safetensors`; swap in Flux, "
                   "Qwen-Image, Wan ...). Needs a CLAP with its text tower (a full laion/clap-htsat-unfused folder in "
                   "models/clap). The node shows the labels and their scores; with an Audio Timeline it also gives one "
                   "prompt per frame and a keyframe schedule.")
IMAGEBIND_FILES = ("ImageBind's `imagebind_huge.pth` (Meta, **CC BY-NC-SA 4.0: non-commercial use only**) in "
                   "`models/audio_encoders/` (or `models/clap/`): only its audio tensors are read. ")
UNCLIP_NOTE = ("## Sound → SD 2.1 unCLIP (zero-shot, no adapter)\n" + IMAGEBIND_FILES +
               "SD 2.1 unCLIP-H (`sd21-unclip-h.ckpt`) in models/checkpoints. ImageBind's audio embedding lives in the "
               "space of the ViT-H image embeddings unCLIP was trained on, so **Audio → Image Embeds** hands it to the "
               "stock **unCLIPConditioning** in place of an image (scale 20 = ImageBind's own output length). "
               "`strength` sets how much the sound decides, `noise_augmentation` how loosely; the text prompt still "
               "acts.")
SOUND_IPADAPTER_NOTE = ("## Sound → IP-Adapter (zero-shot, no adapter, no image)\n" + IMAGEBIND_FILES +
                        "Needs **IPAdapter_plus** and a ViT-H IP-Adapter (`ip-adapter_sd15.safetensors`, "
                        "`ip-adapter_sd15_light`, or `ip-adapter_sdxl_vit-h` with an SDXL model) in models/ipadapter; "
                        "no CLIP vision model is needed. The sound's image embedding goes to **IPAdapter Embeds** "
                        "(`neg_embed` = zeros, as IPAdapter_plus does for these models). 'plus' IP-Adapters need the "
                        "vision model's hidden states and cannot take a sound.")


AUDIOTOKEN_NOTE = ("## AudioToken: the sound is a word of the prompt (released weights, no adapter)\n"
                   "Put Microsoft's `BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt` (MIT) in `models/audio_encoders/` "
                   "and AudioToken's `embedder_learned_embeds.bin` (guyyariv/AudioToken, MIT) in `models/audiotoken/`; "
                   "any SD1.4/1.5 checkpoint (AudioToken was trained on SD v1.4). BEATs hears the clip (looped or cut to "
                   "10 s), the embedder makes one token of it, and **AudioToken Text Encode** puts that token where "
                   "`<audio>` stands in the prompt. The output is a plain CONDITIONING: any sampler, LoRA, ControlNet. "
                   "Their settings: 50 DDIM steps, CFG 7.5, an empty negative prompt.")


GLUEGEN_NOTE = ("## GlueGen: sound → the text condition (released weights, no adapter)\n"
                "Put AudioCLIP's `AudioCLIP-Full-Training.pt` (AndreyGuzhov/AudioCLIP, MIT code) in "
                "`models/audio_encoders/` and GlueGen's `gluenet_sound2img_audioclip_us8k.ckpt` (salesforce/GlueGen, "
                "Apache-2.0) in `models/gluegen/`; any SD1.5 checkpoint. AudioCLIP hears the clip's first 4 s; GlueNet "
                "turns its embedding into the condition CLIP would give a prompt. Leave `text` empty for the sound "
                "alone; type a style (\"in Chinese painting style\") for GlueGen's sound + text mix. Their settings: "
                "50 DDIM steps, CFG 7.5, the empty prompt as negative (the node's second output).")


ANIMATEDIFF_NOTE = ("## Sound → AnimateDiff clip (VideoHelperSuite output)\n"
                    "Needs **AnimateDiff-Evolved** (a motion model, e.g. mm_sd_v15_v2.ckpt, in models/animatediff_models) "
                    "and **VideoHelperSuite**. The timeline gives one sound per frame (a multiple of 16 frames for the "
                    "context windows) and the fps; the loudness drives the per-frame strength; Video Combine writes the "
                    "mp4 at that fps with the sound. Order does not matter: AnimateDiff then Apply Audio Adapter.")
IPADAPTER_NOTE = ("## Image prompt + sound (IPAdapter_plus)\n"
                  "Needs **IPAdapter_plus** (ip-adapter_sd15.safetensors in models/ipadapter, the ViT-H image encoder "
                  "in models/clip_vision). The reference image and the sound act together: IPAdapter replaces the "
                  "text cross-attention, the audio adapter adds its own gated branch; strength 0 gives IPAdapter's "
                  "image exactly.")
# workflow name → (graph, note, other packs it needs: devtools.other_packs keys)
OTHER_PACK_WORKFLOWS = {"audio_animatediff": (animatediff_graph, ANIMATEDIFF_NOTE, ("animatediff", "vhs")),
                        "audio_ipadapter": (ipadapter_graph, IPADAPTER_NOTE, ("ipadapter",)),
                        "sound_to_ipadapter": (ipadapter_embeds_graph, SOUND_IPADAPTER_NOTE, ("ipadapter",)),
                        **{name: (graph, dit_workflows.NOTES[name], packs)
                           for name, (graph, packs) in dit_workflows.PACK_GRAPHS.items()}}


SONIC_FILES = ("Put SonicDiffusion's released files in place: `CLAP_weights_2022.pth` in `models/clap/`, "
               "`audio_projector_landscape.pth` + `landscape.pt` in `models/audio_adapters/landscape/` (Greatest Hits: "
               "`audio_projector_gh.pth` + `greatest_hits.pt` in `models/audio_adapters/greatest_hits/`), any SD1.4/1.5 "
               "checkpoint. ")
SONIC_NOTE = ("## SonicDiffusion: sound → landscape\n" + SONIC_FILES +
              "Their math, exactly: Microsoft CLAP 2022 (a clip is repeated to 10 s; a longer one is the mean of its "
              "10 s windows, theirs crops at random), 77 audio tokens, gated audio attention after the text attention "
              "in 10 decoder blocks, CFG with projector(zeros) for the negative. `strength` (theirs is always 1), the "
              "start/end window and block weights are ours on top.")
SONIC_EDIT_NOTE = ("## SonicDiffusion: edit a photo with a sound\n" + SONIC_FILES +
                   "Put a photo in ComfyUI/input as `clap2diffusion_source.png` and a sound as `clap2diffusion_demo.wav`. "
                   "**Invert Latent** finds the photo's noise; **Audio Edit Sampler** regenerates it with the sound, "
                   "copying the photo's features and self-attention so the layout stays (preset `sonicdiffusion`: their "
                   "Plug-and-Play blocks, the source hearing the unconditional audio, fractions 0.8). Keep the same "
                   "SIGMAS on both.")


def workflow_id(name: str) -> str:
    """The front end wants a UUID as a workflow's id (else it warns on load); a fixed one per file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"clap2diffusion/workflows/{name}"))


def main():
    from devtools.comfy_host import get_host
    work = Path(tempfile.mkdtemp(prefix="c2d_wf_"))
    host = get_host(work / "models", work, load_pack=True)
    defs = host.nodes.NODE_CLASS_MAPPINGS
    for name, graph, note in (("audio_to_image_sdxl", sdxl_graph(), SDXL_NOTE), ("audio_to_image_sd35", sd35_graph(), SD35_NOTE),
                              ("audio_edit", edit_graph(), EDIT_NOTE), ("audio_inpaint", inpaint_graph(), INPAINT_NOTE),
                              ("sound_prompt", sound_prompt_graph(), SOUND_PROMPT_NOTE),
                              ("sound_to_unclip", unclip_graph(), UNCLIP_NOTE),
                              ("sound_tags_to_prompt", sound_tags_graph(), SOUND_TAGS_NOTE),
                              ("audiotoken", audiotoken_graph(), AUDIOTOKEN_NOTE),
                              ("gluegen_sound", gluegen_graph(), GLUEGEN_NOTE),
                              ("audio_timeline", timeline_graph(), TIMELINE_NOTE),
                              ("sonicdiffusion_landscape", sonic_landscape_graph(), SONIC_NOTE),
                              ("sonicdiffusion_edit", edit_graph(SONIC_CLAP, SONIC_ADAPTER, "sonicdiffusion_edit", "sonicdiffusion"),
                               SONIC_EDIT_NOTE),
                              *((name, graph(), dit_workflows.NOTES[name])
                                for name, graph in dit_workflows.GRAPHS.items())):
        ui = to_ui(graph, defs, workflow_id(name), note)
        (REPO / "workflows" / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        print("wrote", REPO / "workflows" / f"{name}.json")
    from devtools import other_packs
    for name, (graph, note, packs) in OTHER_PACK_WORKFLOWS.items():
        missing = [k for k in packs if other_packs.pack_path(k) is None]
        if missing:
            print(f"NOT written: {name} ({', '.join(other_packs.skip_reason(k) for k in missing)})")
            continue
        for k in packs:
            host.load_other_pack(other_packs.pack_path(k))
        ui = to_ui(graph(), defs, workflow_id(name), note)
        (REPO / "workflows" / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        print("wrote", REPO / "workflows" / f"{name}.json")


if __name__ == "__main__":
    main()
