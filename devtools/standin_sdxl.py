"""Random-weight stand-ins for SDXL base (no weights can be downloaded here).

The checkpoint is built from ComfyUI's own classes (UNetModel with SDXL base's config — what ComfyUI detects as
`supported_models.SDXL` —, the SDXL CLIP-L + CLIP-G text encoders of `comfy.sdxl_clip.SDXLClipModel`, the
AutoencoderKL VAE) and saved in the SDXL base key layout: `model.diffusion_model.*`,
`conditioner.embedders.0.transformer.text_model.*` (CLIP-L, transformers names),
`conditioner.embedders.1.model.*` (CLIP-G in open_clip's layout, converted by ComfyUI's own
`SDXL.process_clip_state_dict_for_saving`) and `first_stage_model.*`, fp16 (≈ 6.9 GB). The stock
`CheckpointLoaderSimple` detects it as SDXL.

The models exist only on the `meta` device (shapes, no storage): the file's header is written first, then each
tensor is generated (c2d_core.seeded_init: its own generator seeded from (seed, key), weights normal with std
gain/sqrt(fan_in), biases 0, norm scales 1) and streamed to disk one at a time, so building needs about one
tensor of memory (the largest, CLIP-G's token embedding, 250 MB fp32) instead of the 14 GB of the fp32 model.

    paths = ensure_sdxl_standins()      # builds once into ~/.cache/clap2diffusion/standins/
    paths["sdxl"], paths["sdxl_lora"]
"""
from __future__ import annotations

import sys
from pathlib import Path

from c2d_core.seeded_init import seeded_tensor
from devtools.safetensors_stream import write_streamed
from devtools.standin_cache import cached, recipe_key, with_comfyui
from devtools.standin_sd15 import LORA_PROJECTIONS, LORA_RANK, SD15_VAE, _gain, random_lora_tensors

# SDXL base's UNet in ComfyUI's UNetModel arguments (= what model_detection derives from an SDXL base file).
SDXL_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2], channel_mult=[1, 2, 4],
    transformer_depth=[0, 0, 2, 2, 10, 10], transformer_depth_middle=10,
    transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10], context_dim=2048, num_heads=-1, num_head_channels=64,
    use_linear_in_transformer=True, use_spatial_transformer=True, legacy=False, adm_in_channels=2816,
    num_classes="sequential", use_checkpoint=False, use_temporal_attention=False, use_temporal_resblock=False,
)
# SDXL's VAE has SD1.x's AutoencoderKL architecture (its own weights and latent scale).
SDXL_VAE = SD15_VAE
CLIP_L_POSITIONS = 77
# kohya-style SDXL LoRA targets (diffusers block names; SDXL has no attention in down_blocks.0).
LORA_UNET_TARGETS = (
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1",
    "down_blocks.2.attentions.1.transformer_blocks.3.attn2",
    "mid_block.attentions.0.transformer_blocks.5.attn2",
    "up_blocks.0.attentions.2.transformer_blocks.9.attn1",
)
# kohya SDXL text-encoder prefixes: te1 = CLIP-L, te2 = CLIP-G (transformers names)
LORA_TE_TARGETS = (("lora_te1_", "clip_l", "text_model.encoder.layers.0.self_attn.q_proj"),
                   ("lora_te2_", "clip_g", "text_model.encoder.layers.0.self_attn.v_proj"))


def _meta_modules():
    """(ComfyUI-name prefix → module) of the three parts, built on the meta device (no storage)."""
    import torch

    import comfy.ops
    import comfy.sdxl_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**SDXL_UNET, dtype=torch.float32, device="meta", operations=comfy.ops.disable_weight_init)
        clip = comfy.sdxl_clip.SDXLClipModel(device="meta", dtype=torch.float32)
        vae = AutoencoderKL(ddconfig=dict(SDXL_VAE), embed_dim=4)
    return unet, clip, vae


def _no_buffers(module) -> dict:
    named = dict(module.named_parameters())
    buffers = {k: b for k, b in module.named_buffers() if k not in named}
    if buffers:  # none in 0.3.64; a new buffer needs a deliberate value, not a guess
        raise RuntimeError(f"unexpected buffers in {type(module).__name__}: {sorted(buffers)}")
    return named


def checkpoint_layout() -> dict:
    """{on-disk key: meta tensor (or the real tensor of a constant, e.g. CLIP-L position_ids)} in SDXL base's layout."""
    import comfy.model_detection

    unet, clip, vae = _meta_modules()
    sd = {"model.diffusion_model." + k: v for k, v in _no_buffers(unet).items()}
    config = comfy.model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    if type(config).__name__ != "SDXL":  # the recipe must be what the stock loader calls SDXL
        raise RuntimeError(f"SDXL_UNET is detected as {type(config).__name__}, not SDXL")
    sd.update(config.process_clip_state_dict_for_saving(dict(_no_buffers(clip))))  # → conditioner.embedders.*
    sd.update({"first_stage_model." + k: v for k, v in _no_buffers(vae).items()})
    return sd


def _value(key: str, meta, seed: int):
    """The stored fp16 (or int64 constant) tensor of one key."""
    import torch

    if meta.device.type != "meta":  # a constant ComfyUI's converter wrote (position_ids)
        return meta.contiguous()
    shape = tuple(meta.shape)
    if key.endswith("_bias"):  # open_clip's attn.in_proj_bias: a bias under another leaf name
        return torch.zeros(shape, dtype=torch.float16)
    return seeded_tensor(key, shape, seed, _gain(key)).to(torch.float16)


def write_streamed_safetensors(path: Path, layout: dict, make, metadata: dict) -> None:
    """devtools.safetensors_stream.write_streamed with each meta entry stored as fp16 (a real tensor in the layout
    is a constant, stored as it is)."""
    import torch

    stored = {k: t if t.device.type != "meta" else torch.empty(t.shape, dtype=torch.float16, device="meta")
              for k, t in layout.items()}
    write_streamed(path, stored, make, metadata)


def write_random_checkpoint(path, layout: dict, seed: int, meta: dict) -> Path:
    """`layout` ({key: meta tensor}) written as fp16 safetensors with seeded random values (`_value`), tensor by
    tensor. Stand-ins are built through devtools.standin_cache.cached, which gives a temporary path and renames it."""
    write_streamed_safetensors(Path(path), layout, lambda k: _value(k, layout[k], seed), meta)
    return Path(path)


def make_sdxl_checkpoint(path, seed: int = 0) -> Path:
    """Write the random-weight SDXL base checkpoint (fp16 safetensors, ≈ 6.9 GB), tensor by tensor."""
    return write_random_checkpoint(path, checkpoint_layout(), seed, {
        "clap2diffusion.standin": f"sdxl seed {seed}", "modelspec.architecture": "stable-diffusion-xl-v1-base"})


def lora_state_dict(seed: int = 0) -> dict:
    """A rank-4 kohya-format SDXL LoRA: `lora_unet_<diffusers name>`, `lora_te1_` (CLIP-L) / `lora_te2_` (CLIP-G)
    `<transformers name>`, with lora_down.weight, lora_up.weight and alpha (= rank, so scale 1)."""
    import comfy.utils

    unet, clip, _vae = _meta_modules()
    unet_shapes = {k: tuple(v.shape) for k, v in unet.named_parameters()}
    clip_shapes = {k: tuple(v.shape) for k, v in clip.named_parameters()}
    diffusers_to_ldm = comfy.utils.unet_to_diffusers(dict(SDXL_UNET))
    targets = []  # (kohya name, (out_features, in_features))
    for block in LORA_UNET_TARGETS:
        for proj in LORA_PROJECTIONS:
            ldm = diffusers_to_ldm[f"{block}.{proj}.weight"]
            targets.append(("lora_unet_" + f"{block}.{proj}".replace(".", "_"), unet_shapes[ldm]))
    for prefix, encoder, name in LORA_TE_TARGETS:
        targets.append((prefix + name.replace(".", "_"), clip_shapes[f"{encoder}.transformer.{name}.weight"]))
    return random_lora_tensors(targets, seed)


def make_sdxl_lora(path, seed: int = 0) -> Path:
    from safetensors.torch import save_file

    save_file(lora_state_dict(seed), str(path), metadata={"ss_network_dim": str(LORA_RANK),
                                                          "ss_network_alpha": str(LORA_RANK),
                                                          "ss_base_model_version": "sdxl_base_v1-0"})
    return Path(path)


def ensure_sdxl_standins(cache_dir=None, seed: int = 0, built: list | None = None) -> dict[str, Path]:
    """Build (first call on a machine only; the checkpoint takes about a minute and 6.9 GB of disk) and return
    {"sdxl", "sdxl_lora"} → file paths, named by a hash of this recipe (devtools.standin_cache: older recipes are
    deleted). Each build is logged with its time and peak memory, and the line appended to `built` (tests show it)."""
    key = recipe_key({"seed": seed}, sys.modules[__name__])
    return {"sdxl": cached(f"c2d-standin-sdxl-seed{seed}", key, with_comfyui(make_sdxl_checkpoint, seed),
                           folder=cache_dir, built=built),
            "sdxl_lora": cached(f"c2d-standin-sdxl-lora-seed{seed}", key, with_comfyui(make_sdxl_lora, seed),
                                folder=cache_dir, built=built)}
