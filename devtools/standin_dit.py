"""Reduced random-weight DiTs (Flux.1, Chroma, SD3, Qwen-Image, Z-Image, Wan) built in-process from ComfyUI's own classes (tests
only).

ComfyUI's model detection fixes Flux's width (3072), so a narrow Flux cannot be loaded from a file through the stock
loaders; these are built the way ComfyUI builds a loaded one: the family's `comfy.supported_models` config with a
reduced unet_config → `get_model` (the real BaseModel: Flux's model_sampling, latent format, conditioning) →
ModelPatcher. Same block structure as the real models (double- then single-stream blocks, RoPE, modulation),
fewer and narrower blocks.

    patcher = dit_patcher("flux", seed=0)     # 2 double + 2 single blocks, 64 wide, 4 heads
    model = dit_model("flux", width="full", blocks=(1, 1))   # Flux.1's real width, one block per stream (benchmarks)
"""
from __future__ import annotations

import dataclasses

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
    # Z-Image's modulation input is 256 wide, so its width is at least that
    "z_image": dict(image_model="lumina2", patch_size=2, in_channels=16, dim=256, n_layers=DEPTH, n_refiner_layers=1,
                    n_heads=HEADS, n_kv_heads=HEADS, qk_norm=True, cap_feat_dim=TEXT_WIDTH, axes_dims=[16, 24, 24],
                    axes_lens=[64, 64, 64], rope_theta=256.0, ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True,
                    time_scale=1000.0, multiple_of=16),
    "wan": dict(image_model="wan2.1", model_type="t2v", patch_size=(1, 2, 2), text_len=16, in_dim=16, dim=WIDTH,
                ffn_dim=2 * WIDTH, freq_dim=32, text_dim=TEXT_WIDTH, out_dim=16, num_heads=HEADS, num_layers=DEPTH),
}
# The real widths (as ComfyUI's model_detection derives them), applied over CONFIGS by width="full"; the text
# embedder keeps TEXT_WIDTH (its cost is per text token, not per image token).
FULL_WIDTH = {
    "flux": dict(hidden_size=3072, num_heads=24, mlp_ratio=4.0, axes_dim=[16, 56, 56]),
    "chroma": dict(hidden_size=3072, num_heads=24, mlp_ratio=4.0, axes_dim=[16, 56, 56], out_dim=3072,
                   hidden_dim=5120),
    "sd3": dict(depth=38, context_embedder_config={"target": "torch.nn.Linear",
                                                    "params": {"in_features": TEXT_WIDTH, "out_features": 64 * 38}}),
    "qwen_image": dict(attention_head_dim=128, num_attention_heads=24, axes_dims_rope=(16, 56, 56)),
    "z_image": dict(dim=3840, n_heads=30, n_kv_heads=30, axes_dims=[32, 48, 48], multiple_of=256),
    "wan": dict(dim=1536, ffn_dim=8960, num_heads=12, freq_dim=256),   # Wan 2.1 1.3B
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


def _host_config(family: str, width: str = "reduced", blocks: tuple[int, int] | None = None) -> dict:
    import importlib
    import inspect
    module, name = PARAMS[family]
    declared = getattr(importlib.import_module(module), name)
    fields = ({f.name for f in dataclasses.fields(declared)} if dataclasses.is_dataclass(declared)
              else set(inspect.signature(declared.__init__).parameters))
    config = {**CONFIGS[family], **(FULL_WIDTH[family] if width == "full" else {})}
    for arg, n in zip(BLOCK_COUNTS[family], blocks or ()):
        if arg is not None:
            config[arg] = n
    return {k: v for k, v in config.items() if k in fields or k == "image_model"}


def dit_model(family: str = "flux", seed: int = 0, dtype: torch.dtype = torch.float32, width: str = "reduced",
              blocks: tuple[int, int] | None = None):
    """The BaseModel ComfyUI would build for a `family` checkpoint with seeded N(0, 0.02²) weights (residual output
    layers 0.006), stored buffers included: reduced (64 wide; Z-Image 256) or at the family's real width
    (width="full"); blocks = (double-stream, single-stream) blocks, default 2 and 2."""
    import comfy.supported_models

    mc = getattr(comfy.supported_models, CONFIG_CLASSES[family])(_host_config(family, width, blocks))
    mc.set_inference_dtype(dtype, None)
    model = mc.get_model({})
    g = torch.Generator().manual_seed(seed)
    net = model.diffusion_model
    saved = set(net.state_dict())   # parameters and the buffers a checkpoint stores (SD3's pos_embed)
    with torch.no_grad():
        for name, p in [*net.named_parameters(), *((n, b) for n, b in net.named_buffers() if n in saved)]:
            if not p.is_floating_point():
                continue
            scale = 0.006 if name.endswith(("proj.weight", "linear2.weight")) else 0.02
            p.copy_((torch.randn(p.shape, generator=g) * scale).to(p.dtype))
    return model.eval()


def dit_patcher(family: str = "flux", seed: int = 0, dtype: torch.dtype = torch.float32, **size):
    """dit_model(...) in a ModelPatcher, as a loader node returns it; size: dit_model's width / blocks."""
    import comfy.model_management as mm
    import comfy.model_patcher

    device = mm.get_torch_device()
    return comfy.model_patcher.ModelPatcher(dit_model(family, seed, dtype, **size), load_device=device,
                                            offload_device=device)


def dit_conditioning(family: str, batch: int = 1, tokens: int = 6, seed: int = 0, guidance: float = 3.5) -> list:
    """A CONDITIONING as the family's text encoder node gives it (random text tokens; pooled vector and Flux-dev's
    guidance where the family reads them)."""
    g = torch.Generator().manual_seed(seed)
    extra = {"pooled_output": None}   # Chroma, Qwen-Image: no pooled vector (0.3.64 still reads the key)
    if family in ("flux", "sd3"):
        extra = {"pooled_output": torch.randn(batch, POOLED_WIDTH, generator=g)}
    if family == "flux":
        extra["guidance"] = guidance
    return [[torch.randn(batch, tokens, TEXT_WIDTH, generator=g), extra]]
