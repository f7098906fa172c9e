"""Random-weight stand-ins for Stable Diffusion 1.5 (no weights can be downloaded here).

The checkpoints are built from ComfyUI's own classes (UNetModel with the real SD1.5 widths, the
CLIP-L text encoder, AutoencoderKL) and saved in the original LDM key layout
(`model.diffusion_model.*`, `cond_stage_model.transformer.text_model.*`, `first_stage_model.*`), so
the stock `CheckpointLoaderSimple` detects them as SD1.5 (9 input channels: SD1.5 inpainting).

ComfyUI builds layers with uninitialised storage, so the models are built on the `meta` device and
every tensor is generated explicitly: its own generator seeded from (seed, key), weights normal with
std gain/sqrt(fan_in), biases 0, norm scales 1. The two checkpoints therefore share every tensor
except the UNet's input convolution. They are image-wise meaningless but finite and deterministic.

    paths = ensure_standins()      # builds once into ~/.cache/clap2diffusion/standins/
    paths["sd15"], paths["sd15_inpaint"], paths["sd15_lora"]
"""
from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

from c2d_core.seeded_init import seeded_generator, seeded_tensor
from devtools.standin_cache import DEFAULT_CACHE, cached, recipe_key, with_comfyui  # noqa: F401 (DEFAULT_CACHE: re-exported)

log = logging.getLogger(__name__)

# The original SD v1 UNet, in ComfyUI's UNetModel arguments (what ComfyUI detects from an SD1.5 file).
SD15_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
    channel_mult=[1, 2, 4, 4], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], transformer_depth_middle=1,
    transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], context_dim=768, num_heads=8,
    num_head_channels=-1, use_linear_in_transformer=False, use_spatial_transformer=True, legacy=False,
    adm_in_channels=None, use_checkpoint=False, use_temporal_attention=False, use_temporal_resblock=False,
)
# The SD1.x VAE (AutoencoderKL, 4 latent channels, downscale 8).
SD15_VAE = dict(double_z=True, z_channels=4, resolution=256, in_channels=3, out_ch=3, ch=128,
                ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[], dropout=0.0)
INPAINT_IN_CHANNELS = 9  # 4 noisy latent + 1 mask + 4 masked-image latent

# Residual branches end in a layer the original models zero-initialise; a small gain keeps the
# random UNet's noise prediction modest so sampling stays well inside fp16/fp32 range.
UNET_OUT_GAIN = 0.5
# The decoder's last conv: images mostly inside [0, 1] (about 0.1 % clamped instead of 8 % at gain 1),
# so tests that compare decoded images see differences instead of saturated pixels.
VAE_OUT_GAIN = 0.5
LORA_RANK = 4
# kohya-style LoRA targets (diffusers block names), a few attention layers across the UNet.
LORA_UNET_TARGETS = (
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2",
    "mid_block.attentions.0.transformer_blocks.0.attn2",
    "up_blocks.3.attentions.2.transformer_blocks.0.attn1",
)
LORA_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
LORA_TE_TARGETS = ("text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.0.self_attn.v_proj")


def _meta_modules(in_channels: int):
    """(prefix → module) for the three parts, built by ComfyUI on the meta device (no storage)."""
    import torch

    import comfy.ops
    import comfy.sd1_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**{**SD15_UNET, "in_channels": in_channels}, dtype=torch.float32, device="meta",
                         operations=comfy.ops.disable_weight_init)
        clip = comfy.sd1_clip.SDClipModel(device="meta", dtype=torch.float32)
        vae = AutoencoderKL(ddconfig=dict(SD15_VAE), embed_dim=4)
    return {"model.diffusion_model.": unet, "cond_stage_model.": clip, "first_stage_model.": vae}


def _state_dict_shapes(in_channels: int) -> dict[str, tuple]:
    shapes = {}
    for prefix, module in _meta_modules(in_channels).items():
        named = dict(module.named_parameters())
        buffers = {k: b for k, b in module.named_buffers() if k not in named}
        if buffers:  # none in 0.3.64; a new buffer needs a deliberate value, not a guess
            raise RuntimeError(f"unexpected buffers in {type(module).__name__}: {sorted(buffers)}")
        for k, p in named.items():
            if prefix == "cond_stage_model." and k == "logit_scale":
                continue  # not in SD1.5 files; ComfyUI sets its own
            shapes[prefix + k] = tuple(p.shape)
    return shapes


def _gain(key: str) -> float:
    if key.startswith("model.diffusion_model.") and key.endswith(("out.2.weight", "out_layers.3.weight",
                                                                   "proj_out.weight", "to_out.0.weight",
                                                                   "ff.net.2.weight")):
        return UNET_OUT_GAIN
    if key == "first_stage_model.decoder.conv_out.weight":
        return VAE_OUT_GAIN
    return 1.0


def build_sd15_state_dict(seed: int = 0, inpaint: bool = False) -> dict:
    """The full checkpoint as {key: fp16 tensor} in the LDM layout."""
    import torch

    in_channels = INPAINT_IN_CHANNELS if inpaint else 4
    sd = {}
    for key, shape in sorted(_state_dict_shapes(in_channels).items()):
        sd[key] = seeded_tensor(key, shape, seed, _gain(key)).to(torch.float16)
    return sd


def make_sd15_checkpoint(path, seed: int = 0, inpaint: bool = False) -> Path:
    """Write a random-weight SD1.5 (or SD1.5-inpainting) checkpoint, fp16 safetensors (ensure_standins writes it
    under a temporary name and renames it: devtools.standin_cache.cached)."""
    from safetensors.torch import save_file

    meta = {"clap2diffusion.standin": f"sd15{'-inpainting' if inpaint else ''} seed {seed}",
            "modelspec.architecture": "stable-diffusion-v1" + ("-inpainting" if inpaint else "")}
    save_file(build_sd15_state_dict(seed=seed, inpaint=inpaint), str(path), metadata=meta)
    return Path(path)


def lora_state_dict(seed: int = 0) -> dict:
    """A rank-4 kohya-format LoRA for SD1.5: `lora_unet_<diffusers name>` / `lora_te_<HF name>` with
    lora_down.weight, lora_up.weight and alpha (= rank, so scale 1)."""
    import comfy.utils

    shapes = _state_dict_shapes(4)
    unet_shapes = {k[len("model.diffusion_model."):]: s for k, s in shapes.items()
                   if k.startswith("model.diffusion_model.")}
    te_shapes = {k[len("cond_stage_model.transformer."):]: s for k, s in shapes.items()
                 if k.startswith("cond_stage_model.transformer.")}
    diffusers_to_ldm = comfy.utils.unet_to_diffusers(dict(SD15_UNET))
    targets = []  # (kohya name, (out_features, in_features))
    for block in LORA_UNET_TARGETS:
        for proj in LORA_PROJECTIONS:
            ldm = diffusers_to_ldm[f"{block}.{proj}.weight"]
            targets.append(("lora_unet_" + f"{block}.{proj}".replace(".", "_"), unet_shapes[ldm]))
    for name in LORA_TE_TARGETS:
        targets.append(("lora_te_" + name.replace(".", "_"), te_shapes[name + ".weight"]))
    return random_lora_tensors(targets, seed)


def random_lora_tensors(targets: list[tuple[str, tuple[int, int]]], seed: int) -> dict:
    """kohya LoRA tensors (fp16) for (kohya name, (out_features, in_features)) targets, seeded per name."""
    import torch

    sd = {}
    for name, (out_f, in_f) in targets:
        down = torch.randn(LORA_RANK, in_f, generator=seeded_generator(seed, name + "d")) / math.sqrt(in_f)
        up = torch.randn(out_f, LORA_RANK, generator=seeded_generator(seed, name + "u")) * 0.5
        sd[f"{name}.lora_down.weight"], sd[f"{name}.lora_up.weight"] = down, up
        sd[f"{name}.alpha"] = torch.tensor(float(LORA_RANK))
    return {k: v.to(torch.float16) for k, v in sd.items()}


def make_sd15_lora(path, seed: int = 0) -> Path:
    from safetensors.torch import save_file

    save_file(lora_state_dict(seed), str(path), metadata={"ss_network_dim": str(LORA_RANK),
                                                          "ss_network_alpha": str(LORA_RANK)})
    return Path(path)


def ensure_standins(cache_dir=None, seed: int = 0) -> dict[str, Path]:
    """Build (first call only; devtools.standin_cache names the files by a hash of this recipe) and return
    {"sd15", "sd15_inpaint", "sd15_lora"} → file paths. Needs ComfyUI importable (import_comfyui is called)."""
    key = recipe_key({"seed": seed}, sys.modules[__name__])
    return {"sd15": cached(f"c2d-standin-sd15-seed{seed}", key, with_comfyui(make_sd15_checkpoint, seed=seed),
                           folder=cache_dir),
            "sd15_inpaint": cached(f"c2d-standin-sd15-inpainting-seed{seed}", key,
                                   with_comfyui(make_sd15_checkpoint, seed=seed, inpaint=True), folder=cache_dir),
            "sd15_lora": cached(f"c2d-standin-sd15-lora-seed{seed}", key, with_comfyui(make_sd15_lora, seed),
                                folder=cache_dir)}
