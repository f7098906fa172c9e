"""Tiny DiTs of each family, built from ComfyUI's own classes: the trainer's `model.tiny_dit` (tests, the toy).

ComfyUI's model detection fixes Flux's width (3072), so a narrow Flux cannot come from a file through the stock
loaders; a tiny one is built the way ComfyUI builds a loaded one: the family's `comfy.supported_models` config with a
reduced unet_config → `get_model` (the real BaseModel: the family's model_sampling, latent format, conditioning).
Same block structure as the real models (double- then single-stream blocks, RoPE, modulation), fewer and narrower
blocks: 64 wide, 4 heads (Z-Image 256: its modulation input is 256 wide), text tokens 32 wide, pooled vector 24.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect

import torch

WIDTH, HEADS, DEPTH, SINGLE = 64, 4, 2, 2
TEXT_WIDTH, POOLED_WIDTH = 32, 24

# Each family's reduced unet_config; fields a host's params dataclass lacks are dropped, so both hosts build it.
CONFIGS = {
    "flux": dict(image_model="flux", in_channels=16, out_channels=16, vec_in_dim=POOLED_WIDTH,
                 context_in_dim=TEXT_WIDTH, hidden_size=WIDTH, mlp_ratio=2.0, num_heads=HEADS, depth=DEPTH,
                 depth_single_blocks=SINGLE, axes_dim=[4, 6, 6], theta=10_000, patch_size=2, qkv_bias=True,
                 guidance_embed=True, txt_ids_dims=[]),
    "chroma": dict(image_model="chroma", in_channels=64, out_channels=64, context_in_dim=TEXT_WIDTH,  # patchified
                   hidden_size=WIDTH, mlp_ratio=2.0, num_heads=HEADS, depth=DEPTH, depth_single_blocks=SINGLE,
                   axes_dim=[4, 6, 6], theta=10_000, patch_size=2, qkv_bias=True, in_dim=64, out_dim=WIDTH,
                   hidden_dim=32, n_layers=2, txt_ids_dims=[], vec_in_dim=None),
    # SD3's width rule: hidden = 64 × depth, heads = depth
    "sd3": dict(in_channels=16, out_channels=16, patch_size=2, depth=DEPTH, adm_in_channels=POOLED_WIDTH,
                context_embedder_config={"target": "torch.nn.Linear",
                                         "params": {"in_features": TEXT_WIDTH, "out_features": 64 * DEPTH}},
                pos_embed_max_size=32, num_patches=1024, qk_norm="rms", pos_embed_scaling_factor=None),
    "qwen_image": dict(image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=DEPTH,
                       attention_head_dim=WIDTH // HEADS, num_attention_heads=HEADS, joint_attention_dim=TEXT_WIDTH,
                       axes_dims_rope=(4, 6, 6)),
    "z_image": dict(image_model="lumina2", patch_size=2, in_channels=16, dim=256, n_layers=DEPTH, n_refiner_layers=1,
                    n_heads=HEADS, n_kv_heads=HEADS, qk_norm=True, cap_feat_dim=TEXT_WIDTH, axes_dims=[16, 24, 24],
                    axes_lens=[64, 64, 64], rope_theta=256.0, ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True,
                    time_scale=1000.0, multiple_of=16),
    "wan": dict(image_model="wan2.1", model_type="t2v", patch_size=(1, 2, 2), text_len=16, in_dim=16, dim=WIDTH,
                ffn_dim=2 * WIDTH, freq_dim=32, text_dim=TEXT_WIDTH, out_dim=16, num_heads=HEADS, num_layers=DEPTH),
}
# The arguments that set how many blocks of each stream the model has
BLOCK_COUNTS = {"flux": ("depth", "depth_single_blocks"), "chroma": ("depth", "depth_single_blocks"),
                "sd3": ("num_blocks", None), "qwen_image": ("num_layers", None), "z_image": ("n_layers", None),
                "wan": ("num_layers", None)}
CONFIG_CLASSES = {"flux": "Flux", "chroma": "Chroma", "sd3": "SD3", "qwen_image": "QwenImage", "z_image": "ZImage",
                  "wan": "WAN21_T2V"}
# Where each host declares the model's arguments (a params dataclass, or the model's own __init__)
PARAMS = {"flux": ("comfy.ldm.flux.model", "FluxParams"), "chroma": ("comfy.ldm.chroma.model", "ChromaParams"),
          "sd3": ("comfy.ldm.modules.diffusionmodules.mmdit", "MMDiT"),
          "qwen_image": ("comfy.ldm.qwen_image.model", "QwenImageTransformer2DModel"),
          "z_image": ("comfy.ldm.lumina.model", "NextDiT"), "wan": ("comfy.ldm.wan.model", "WanModel")}
# What each family's tiny model reads beside the text tokens (the cache must hold it): the pooled vector's width
POOLED = {"flux": POOLED_WIDTH, "sd3": POOLED_WIDTH}


def host_config(family: str, overrides: dict | None = None, blocks: tuple[int, int] | None = None) -> dict:
    """The reduced unet_config of `family` (+ overrides, e.g. real widths) with `blocks` = (double, single) blocks,
    limited to the arguments this host's model declares."""
    if family not in CONFIGS:
        raise ValueError(f"no tiny {family!r} model: tiny DiTs exist for {sorted(CONFIGS)}")
    module, name = PARAMS[family]
    declared = getattr(importlib.import_module(module), name)
    fields = ({f.name for f in dataclasses.fields(declared)} if dataclasses.is_dataclass(declared)
              else set(inspect.signature(declared.__init__).parameters))
    config = {**CONFIGS[family], **(overrides or {})}
    for arg, n in zip(BLOCK_COUNTS[family], blocks or ()):
        if arg is not None:
            config[arg] = n
    return {k: v for k, v in config.items() if k in fields or k == "image_model"}


def init_dit(model, seed: int) -> None:
    """Seeded N(0, 0.02²) weights (residual output layers 0.006), stored buffers included (SD3's pos_embed);
    ComfyUI allocates uninitialised storage."""
    g = torch.Generator().manual_seed(seed)
    net = model.diffusion_model
    saved = set(net.state_dict())
    with torch.no_grad():
        for name, p in [*net.named_parameters(), *((n, b) for n, b in net.named_buffers() if n in saved)]:
            if p.is_floating_point():
                scale = 0.006 if name.endswith(("proj.weight", "linear2.weight")) else 0.02
                p.copy_((torch.randn(p.shape, generator=g) * scale).to(p.dtype))


def build_dit(family: str, *, seed: int = 0, dtype: torch.dtype = torch.float32, overrides: dict | None = None,
              blocks: tuple[int, int] | None = None, init: bool = True):
    """The comfy.model_base.BaseModel ComfyUI would build for a `family` checkpoint, reduced (see module doc),
    in eval mode; seeded random weights unless init=False (then the caller loads its own)."""
    import comfy.supported_models

    mc = getattr(comfy.supported_models, CONFIG_CLASSES[family])(host_config(family, overrides, blocks))
    mc.set_inference_dtype(dtype, None)
    model = mc.get_model({})
    if init:
        init_dit(model, seed)
    return model.eval()
