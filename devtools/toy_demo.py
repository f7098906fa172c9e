"""The demo's toy path: the shipped toy bundle (toy/bundle) run through the shipped workflow's graph.

workflows/audio_to_image.json is converted to an API prompt and only its model side is swapped: the
checkpoint loader becomes a demo-only loader of the toy bundle (the tiny UNet cannot be read by ComfyUI's
checkpoint loader) that gives the UNet as MODEL, the toy's fixed caption as CONDITIONING (in place of
both CLIP Text Encode nodes: the toy was trained with one caption, and CFG's negative is that caption
with the adapter's null audio) and the task's latent→RGB map as VAE. Everything else is the workflow's
own nodes: Load Audio (C2D) → Load CLAP Model → CLAP Encode Audio → Load Audio Adapter → Apply Audio
Adapter → KSampler → VAE Decode, with the bundle's CLAP folder and adapter under models/.

One prompt per clip: new tones of each pitch class (clips the adapter never saw), one clip per row, and a
row at strength 0 (exactly the base model, no audio), each with the same `COLUMNS` noise seeds (a batch of
latents), so a column shows what the sound alone changes. The picture's rows: one per pitch class,
then "no audio", then the user's clip when one is given.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

COLUMNS = 4               # noise seeds per row (a latent batch)
DEMO_SEED = 2026          # the tone clips: neither the training (seed + 11), test (+ 12) nor grid (2024) ones
NOISE_SEED = 7            # KSampler seed of every row
LOADER = "C2DDemoToyBundle"
ADAPTER_NAME = "c2d_toy.safetensors"
AUDIO_PREFIX = "c2d_toy_"
COLOUR_NAMES = ("red", "green", "blue", "yellow")   # toy.task.RGB, in class order


def layout():
    """The grid geometry (toy.drawing.GridLayout); tests read the tiles back with its box()."""
    from toy.drawing import GridLayout

    return GridLayout(cell=64, pad=6, left=150, top=34)


class ToyVAE:
    """The task's "VAE": decode = ComfyUI LATENT (B, C, S, S) → model space → (B, 8·S, 8·S, 3) RGB in [0, 1]."""

    def __init__(self, model):
        self.model = model

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        from toy import task as S

        return S.latent_to_rgb(self.model.process_latent_in(samples.float()), scale=8)


class ToyBundleLoader:
    """Demo-only ComfyUI node (registered by `register_loader`, never part of the pack): the toy bundle's UNet,
    caption and latent→RGB map, standing where the workflow's checkpoint loader and text encoders are."""

    RETURN_TYPES = ("MODEL", "CONDITIONING", "VAE")
    RETURN_NAMES = ("model", "caption", "vae")
    FUNCTION = "load"
    CATEGORY = "CLAP2Diffusion/demo"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"bundle": ("STRING", {"default": "", "tooltip": "toy bundle folder"})}}

    def load(self, bundle):
        import comfy.model_patcher

        from toy import task as S
        from toy.bundle import load_bundle

        base, _, _, _, task = load_bundle(Path(bundle))   # the adapter and CLAP come through the pack's loaders
        cpu = torch.device("cpu")
        model = comfy.model_patcher.ModelPatcher(base.model, load_device=cpu, offload_device=cpu)
        text, _ = S.caption(task)
        return model, [[text[None], {}]], ToyVAE(base.model)


def register_loader(host) -> None:
    host.nodes.NODE_CLASS_MAPPINGS.setdefault(LOADER, ToyBundleLoader)


def toy_prompt(workflow: dict, node_defs, bundle: Path, clap_name: str, audio_name: str, *, strength: float,
               steps: int, cfg: float, latent_size: int) -> tuple[dict, dict]:
    """The workflow (UI format) as an API prompt on the toy: returns (prompt, {"model", "sampler", "decode"} node
    ids)."""
    from devtools.workflow_api import ui_to_api

    api = ui_to_api(workflow, node_defs)
    ids = {}
    for nid, node in api.items():
        ids.setdefault(node["class_type"], []).append(nid)
    (ckpt,), texts = ids["CheckpointLoaderSimple"], set(ids["CLIPTextEncode"])
    api[ckpt] = {"class_type": LOADER, "inputs": {"bundle": str(bundle)}}
    for nid in texts:
        del api[nid]
    for node in api.values():    # links to the text encoders now come from the loader's caption output
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value[0] in texts:
                node["inputs"][name] = [ckpt, 1]
    one = lambda t: api[ids[t][0]]["inputs"]   # noqa: E731
    one("C2DLoadAudio")["audio"] = audio_name
    one("C2DCLAPLoader")["clap_name"] = clap_name
    one("C2DAudioAdapterLoader")["adapter_name"] = ADAPTER_NAME
    one("C2DApplyAudioAdapter").update(strength=strength, start_percent=0.0, end_percent=1.0)
    one("EmptyLatentImage").update(width=8 * latent_size, height=8 * latent_size, batch_size=COLUMNS)
    one("KSampler").update(seed=NOISE_SEED, steps=steps, cfg=cfg, sampler_name="euler", scheduler="normal",
                           denoise=1.0)
    save = ids["SaveImage"][0]
    api[save] = {"class_type": "PreviewImage", "inputs": {"images": api[save]["inputs"]["images"]}}
    return api, {"model": ckpt, "sampler": ids["KSampler"][0], "decode": ids["VAEDecode"][0]}


@dataclass
class Row:
    label: str
    images: torch.Tensor      # (COLUMNS, H, W, 3) what VAE Decode gave
    classes: list[int]        # the toy classifier's class of each image
    target: int | None = None


def run(host, workflow: dict, out_png: Path, *, audio: Path | None = None, bundle: Path | None = None) -> dict:
    """Run the toy through the workflow's graph in `host` (pack loaded) and draw the grid to out_png.

    Returns {"png", "accuracy" (tone rows, their own class), "correct", "total", "rows": [Row],
    "user_class" (majority class of the user's clip, or None), "seconds"}."""
    from devtools.demo_audio import write_wav
    from toy import task as S
    from toy.bundle import BUNDLE, bundle_meta, classifier
    from toy.drawing import draw_grid

    t0 = time.perf_counter()
    bundle = Path(bundle or BUNDLE)
    meta, task = bundle_meta(bundle)
    register_loader(host)
    clap_name = meta["clap_model_id"]   # the name the adapter was trained with: Apply Audio Adapter checks it
    clap_dir = host.models_dir / "clap" / clap_name
    if not (clap_dir / "config.json").is_file():
        shutil.rmtree(clap_dir, ignore_errors=True)
        shutil.copytree(bundle / "clap", clap_dir)
    shutil.copy(bundle / "adapter.safetensors", host.models_dir / "audio_adapters" / ADAPTER_NAME)
    host.folder_paths.filename_list_cache.clear()

    clips = [(f"{S.FREQS[k]:.0f} Hz tone ({COLOUR_NAMES[k]})", k, wave)
             for k, wave in enumerate(S.clips(list(range(S.N_CLASSES)), DEMO_SEED, task.seconds))]
    names = []
    for label, k, wave in clips:
        names.append(f"{AUDIO_PREFIX}{S.FREQS[k]:.0f}hz.wav")
        write_wav(host.input_dir / names[-1], wave, S.SAMPLE_RATE)
    jobs = [(label, name, 1.0, k) for (label, k, _), name in zip(clips, names)]
    jobs.append(("strength 0 (no audio)", names[0], 0.0, None))
    if audio is not None:
        user = f"{AUDIO_PREFIX}user{Path(audio).suffix.lower()}"
        shutil.copy(audio, host.input_dir / user)
        short = Path(audio).name if len(Path(audio).name) <= 16 else Path(audio).name[:15] + "…"
        jobs.append((f"your clip: {short}", user, 1.0, None))

    import comfy.utils

    clf = classifier(task)
    rows = []
    bars = comfy.utils.PROGRESS_BAR_ENABLED
    comfy.utils.set_progress_bar_enabled(False)   # one bar per 20-step toy run is noise
    try:
        for label, name, strength, target in jobs:
            prompt, at = toy_prompt(workflow, host.nodes.NODE_CLASS_MAPPINGS, bundle, clap_name, name,
                                    strength=strength, steps=meta["sample_steps"], cfg=meta["audio_cfg"],
                                    latent_size=task.latent_size)
            result = host.run(prompt, fresh=False)
            latent = result["outputs"][at["sampler"]][0]["samples"]
            x = result["outputs"][at["model"]][0].model.process_latent_in(latent)   # (COLUMNS, C, S, S) model space
            rows.append(Row(label, result["outputs"][at["decode"]][0], clf.predict(x).tolist(), target))
    finally:
        comfy.utils.set_progress_bar_enabled(bars)

    tone_rows = [r for r in rows if r.target is not None]
    correct = sum(c == r.target for r in tone_rows for c in r.classes)
    total = COLUMNS * len(tone_rows)
    user_class = None
    if audio is not None:
        cls = rows[-1].classes
        user_class = max(set(cls), key=cls.count)
    base_colours = ", ".join(COLOUR_NAMES[c] for c in rows[len(tone_rows)].classes)
    footer = [f"the same starting noise in each column; the tone's pitch picks the square's colour: {correct} of "
              f"{total} as trained (chance 25%)",
              f"strength 0 is the toy UNet without audio: it draws a colour of its own ({base_colours})",
              f"toy bundle: tiny UNet + random-weight CLAP + adapter trained on tones (some backgrounds stay noisy); "
              f"KSampler euler, {meta['sample_steps']} steps, cfg {meta['audio_cfg']:g}"]
    headers = {0: "tone -> Load Audio -> CLAP Encode -> Apply Audio Adapter -> KSampler -> VAE Decode"}
    outlined = {(i, j) for i, r in enumerate(rows) for j, c in enumerate(r.classes)
                if r.target is not None and c != r.target}
    canvas = draw_grid([list(r.images) for r in rows], [r.label for r in rows], headers, footer, layout(), outlined)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_png)
    return {"png": out_png, "correct": correct, "total": total, "accuracy": correct / total, "rows": rows,
            "user_class": user_class, "seconds": time.perf_counter() - t0}

