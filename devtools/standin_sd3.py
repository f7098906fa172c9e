"""A reduced random-weight Stable Diffusion 3.5 stand-in (a DiT), for workflows whose sound acts through text.

Built from ComfyUI's own classes and saved in the key layout of an all-in-one SD3.5 checkpoint:
`model.diffusion_model.*` (comfy.ldm.modules.diffusionmodules.mmdit.MMDiT), `text_encoders.clip_l.*` and
`text_encoders.clip_g.*` (comfy.text_encoders.sd3_clip with CLIP-L and CLIP-G at their real sizes; no T5, which
SD3 runs without) and `first_stage_model.*` (SD3's 16-channel VAE). Reduced: the MMDiT has depth 2 (hidden
2 × 64 = 128, the width rule of SD3's detection) instead of SD3.5 large's 38, so the file is ≈ 1.8 GB fp16, mostly
the two text encoders. The stock CheckpointLoaderSimple loads it as SD3 (`supported_models.SD3`).

    path = ensure_sd3_standin()      # builds once into ~/.cache/clap2diffusion/standins/
"""
from __future__ import annotations

import sys
from pathlib import Path

from devtools.standin_cache import cached, recipe_key, with_comfyui
from devtools.standin_sdxl import _no_buffers, write_random_checkpoint

DEPTH = 2
# SD3.5's MMDiT in ComfyUI's arguments, depth reduced (model_detection reads depth from the x_embedder's width / 64)
SD3_MMDIT = dict(input_size=None, patch_size=2, in_channels=16, out_channels=16, depth=DEPTH, num_patches=36864,
                 pos_embed_max_size=192, adm_in_channels=2048, qk_norm="rms",
                 context_embedder_config={"target": "torch.nn.Linear", "params": {"in_features": 4096,
                                                                                   "out_features": 64 * DEPTH}})
SD3_VAE = dict(double_z=True, z_channels=16, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
               num_res_blocks=2, attn_resolutions=[], dropout=0.0)


def checkpoint_layout() -> dict:
    import torch

    import comfy.model_detection
    import comfy.ops
    import comfy.text_encoders.sd3_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT

    with torch.device("meta"):
        dit = MMDiT(**SD3_MMDIT, dtype=torch.float32, device="meta", operations=comfy.ops.disable_weight_init)
        clip = comfy.text_encoders.sd3_clip.SD3ClipModel(clip_l=True, clip_g=True, t5=False, device="meta",
                                                          dtype=torch.float32)
        vae = AutoencoderKL(ddconfig=dict(SD3_VAE), embed_dim=16)
    sd = {"model.diffusion_model." + k: v for k, v in dit.state_dict().items()}  # pos_embed: a saved buffer
    config = comfy.model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    if type(config).__name__ != "SD3":  # the recipe must be what the stock loader calls SD3
        raise RuntimeError(f"SD3_MMDIT is detected as {type(config).__name__}, not SD3")
    sd.update(config.process_clip_state_dict_for_saving(dict(_no_buffers(clip))))  # → text_encoders.clip_l/clip_g.*
    sd.update({"first_stage_model." + k: v for k, v in _no_buffers(vae).items() if "quant_conv" not in k})
    return sd


def make_sd3_checkpoint(path, seed: int = 0) -> Path:
    meta = {"clap2diffusion.standin": f"sd3.5 depth {DEPTH} seed {seed}",
            "modelspec.architecture": "stable-diffusion-v3.5-large"}
    return write_random_checkpoint(path, checkpoint_layout(), seed, meta)


def ensure_sd3_standin(cache_dir=None, seed: int = 0) -> Path:
    """Build (first call on a machine only: ≈ 1.8 GB) and return the checkpoint's path, named by a hash of this
    recipe (devtools.standin_cache: older recipes are deleted)."""
    key = recipe_key({"seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-sd35-depth{DEPTH}-seed{seed}", key, with_comfyui(make_sd3_checkpoint, seed),
                  folder=cache_dir)
