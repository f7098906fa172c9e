"""A random-weight Stable Diffusion 2.1 unCLIP-H stand-in (no weights can be downloaded here).

Built from ComfyUI's own classes like the SDXL stand-in (`devtools.standin_sdxl`): the SD 2.1 UNet with unCLIP-H's
vector input (`adm_in_channels` 2048 = the 1024-d ViT-H image embedding + its 1024-d noise-level embedding; what
ComfyUI detects as `supported_models.SD21UnclipH`), SD2's OpenCLIP ViT-H text encoder saved in open_clip's layout
(`cond_stage_model.model.*`, converted by ComfyUI's own `SD20.process_clip_state_dict_for_saving`) and the
AutoencoderKL, fp16 (≈ 2.6 GB), streamed tensor by tensor. The stock CheckpointLoaderSimple loads it as SD 2.1
unCLIP-H and the stock unCLIPConditioning drives it. The CLIP vision tower of the real file (`embedder.*`) is left
out: audio takes its place, and ComfyUI only reads it through unCLIPCheckpointLoader.

    path = ensure_sd21_unclip_standin()      # builds once into ~/.cache/clap2diffusion/standins/
"""
from __future__ import annotations

import sys
from pathlib import Path

from devtools.standin_cache import cached, recipe_key, with_comfyui
from devtools.standin_sd15 import SD15_VAE
from devtools.standin_sdxl import _no_buffers, write_random_checkpoint

# SD 2.1 unCLIP-H's UNet in ComfyUI's UNetModel arguments (= what model_detection derives from the released file).
SD21_UNCLIP_H_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
    channel_mult=[1, 2, 4, 4], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], transformer_depth_middle=1,
    transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], context_dim=1024, num_heads=-1,
    num_head_channels=64, use_linear_in_transformer=True, use_spatial_transformer=True, legacy=False,
    adm_in_channels=2048, num_classes="sequential", use_checkpoint=False, use_temporal_attention=False,
    use_temporal_resblock=False,
)


def checkpoint_layout() -> dict:
    """{on-disk key: meta tensor (or a constant's real tensor)} in SD 2.1 unCLIP-H's layout."""
    import torch

    import comfy.model_detection
    import comfy.ops
    import comfy.text_encoders.sd2_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**SD21_UNCLIP_H_UNET, dtype=torch.float32, device="meta",
                         operations=comfy.ops.disable_weight_init)
        clip = comfy.text_encoders.sd2_clip.SD2ClipModel(device="meta", dtype=torch.float32)
        vae = AutoencoderKL(ddconfig=dict(SD15_VAE), embed_dim=4)
    sd = {"model.diffusion_model." + k: v for k, v in _no_buffers(unet).items()}
    config = comfy.model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    if type(config).__name__ != "SD21UnclipH":  # the recipe must be what the stock loader calls SD 2.1 unCLIP-H
        raise RuntimeError(f"SD21_UNCLIP_H_UNET is detected as {type(config).__name__}, not SD21UnclipH")
    sd.update(config.process_clip_state_dict_for_saving(dict(_no_buffers(clip))))  # → cond_stage_model.model.* (open_clip names)
    sd.update({"first_stage_model." + k: v for k, v in _no_buffers(vae).items()})
    return sd


def make_sd21_unclip_checkpoint(path, seed: int = 0) -> Path:
    meta = {"clap2diffusion.standin": f"sd21-unclip-h seed {seed}",
            "modelspec.architecture": "stable-diffusion-v2-1-unclip-h"}
    return write_random_checkpoint(path, checkpoint_layout(), seed, meta)


def ensure_sd21_unclip_standin(cache_dir=None, seed: int = 0) -> Path:
    """Build (first call on a machine only: ≈ 2.6 GB) and return the checkpoint's path, named by a hash of this
    recipe (devtools.standin_cache: older recipes are deleted)."""
    key = recipe_key({"seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-sd21-unclip-h-seed{seed}", key, with_comfyui(make_sd21_unclip_checkpoint, seed),
                  folder=cache_dir)
