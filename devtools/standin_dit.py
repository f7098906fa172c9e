"""Reduced random-weight DiTs (Flux.1, Chroma, SD3, Qwen-Image, Z-Image, Wan) built in-process from ComfyUI's own classes (tests
only).

The models are the trainer's tiny DiTs (training/tiny_dit.py: the family's `comfy.supported_models` config with a
reduced unet_config → `get_model`), here also at the families' real widths, seeded, and wrapped in a ModelPatcher as
a loader node returns them.

    patcher = dit_patcher("flux", seed=0)     # 2 double + 2 single blocks, 64 wide, 4 heads
    model = dit_model("flux", width="full", blocks=(1, 1))   # Flux.1's real width, one block per stream (benchmarks)
"""
from __future__ import annotations

import torch

from training.tiny_dit import CONFIG_CLASSES, CONFIGS, POOLED_WIDTH, TEXT_WIDTH, build_dit, host_config  # noqa: F401

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


def _host_config(family: str, width: str = "reduced", blocks: tuple[int, int] | None = None) -> dict:
    return host_config(family, FULL_WIDTH[family] if width == "full" else None, blocks)


def dit_model(family: str = "flux", seed: int = 0, dtype: torch.dtype = torch.float32, width: str = "reduced",
              blocks: tuple[int, int] | None = None):
    """The BaseModel ComfyUI would build for a `family` checkpoint with seeded N(0, 0.02²) weights (residual output
    layers 0.006), stored buffers included: reduced (64 wide; Z-Image 256) or at the family's real width
    (width="full"); blocks = (double-stream, single-stream) blocks, default 2 and 2."""
    return build_dit(family, seed=seed, dtype=dtype, overrides=FULL_WIDTH[family] if width == "full" else None,
                     blocks=blocks)


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
