"""Random-weight stand-ins for the model files other node packs load (tests only; no weights can be downloaded).

Each is built from the classes that load it (the other pack's own, or ComfyUI's) and saved with the key names
of the real file, so the pack's own loader accepts it exactly as it accepts the real one:

- `motion_module(path, ad_module)`: AnimateDiff `mm_sd_v15_v2` (down/up/mid motion modules, position encoding
  of 32 frames, two temporal self-attention blocks), built from AnimateDiff-Evolved's `AnimateDiffModel`.
- `ip_adapter_sd15(path, ipa_module)`: `ip-adapter_sd15.safetensors` (`image_proj.*` from IPAdapter_plus's own
  `ImageProjModel`: 4 tokens of 768 from a 1024-wide CLIP image embedding; `ip_adapter.{1,3,…,31}.to_k_ip/to_v_ip`
  for the 16 cross-attention layers of the SD1.5 UNet in diffusers processor order).
- `clip_vision_h(path)`: CLIP-ViT-H-14 image encoder (ComfyUI's `clip_vision_config_h.json`, HF key layout).
- `controlnet_sd15(path)`: an SD1.5 ControlNet (`comfy.cldm.cldm.ControlNet`, `control_model.*` keys of the
  lllyasviel v1.1 `.pth` files, here as safetensors).

Weights: normal with std gain/sqrt(fan_in) per tensor from a (seed, key) generator (devtools.standin_sd15), biases 0,
norm scales 1; buffers keep the value the class computes (AnimateDiff's sinusoidal `pos_encoder.pe`). Layers the
real models zero-initialise (motion `proj_out`, ControlNet zero convs) get a small gain instead, so a test sees
them act. `ensure(kind, build)` caches each file under ~/.cache/clap2diffusion/standins/.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from c2d_core.seeded_init import seeded_tensor
from devtools.standin_cache import cached, recipe_key
from devtools.standin_sd15 import SD15_UNET

# the names they are linked under in the models folders (the cached files add a hash of the recipe)
NAMES = {"motion": "c2d-standin-mm_sd_v15_v2.safetensors",
         "ip_adapter": "c2d-standin-ip-adapter_sd15.safetensors",
         "clip_vision": "c2d-standin-CLIP-ViT-H-14.safetensors",
         "controlnet": "c2d-standin-control_sd15.safetensors"}
SMALL_GAIN = 0.5  # for layers the real models zero-initialise

# ip-adapter_sd15: cross-attention widths of the SD1.5 UNet's 16 attn2 layers in diffusers' processor order
# (down 0-2, up 1-3, mid), processor index 2k+1 = the k-th attn2.
SD15_ATTN2_WIDTHS = (320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320, 1280)
IPA_TOKENS, IPA_CLIP_DIM, TEXT_DIM = 4, 1024, 768


def _randomise(module, seed: int, small=()) -> dict:
    """{key: fp16 tensor}: parameters random by name, buffers as the class computed them."""
    import torch

    named = dict(module.named_parameters())
    sd = {}
    for key, value in module.state_dict().items():
        if key in named:
            gain = SMALL_GAIN if any(s in key for s in small) else 1.0
            sd[key] = seeded_tensor(key, tuple(value.shape), seed, gain).to(torch.float16)
        else:
            sd[key] = value.detach().to(torch.float16).clone()
    return sd


def _save(sd: dict, path: Path) -> Path:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))  # ensure() gives a temporary path, then renames
    return path


def motion_module(path: Path, ad_motion_module, seed: int = 0) -> Path:
    """`ad_motion_module`: AnimateDiff-Evolved's `animatediff.motion_module_ad` module (imported from the pack)."""
    import torch

    m = ad_motion_module
    layout = {"down_blocks.3.motion_modules.0.temporal_transformer.proj_in.weight": None,
              "up_blocks.3.motion_modules.0.temporal_transformer.proj_in.weight": None,
              "mid_block.motion_modules.0.temporal_transformer.proj_in.weight": None,
              "x.attention_blocks.1.x": None,
              "x.pos_encoder.pe": torch.zeros(1, 32, 320)}  # v2: 32 frames of position encoding
    info = m.AnimateDiffInfo(sd_type="SD1.5", mm_format=m.AnimateDiffFormat.ANIMATEDIFF,
                             mm_version=m.AnimateDiffVersion.V2, mm_name=path.name)
    import comfy.ops
    model = m.AnimateDiffModel(layout, info, init_kwargs={"ops": comfy.ops.disable_weight_init})
    sd = _randomise(model, seed, small=("proj_out",))
    return _save(sd, path)


def ip_adapter_sd15(path: Path, ipa_image_proj_models, seed: int = 0) -> Path:
    """`ipa_image_proj_models`: IPAdapter_plus's `image_proj_models` module."""
    proj = ipa_image_proj_models.ImageProjModel(cross_attention_dim=TEXT_DIM, clip_embeddings_dim=IPA_CLIP_DIM,
                                                clip_extra_context_tokens=IPA_TOKENS)
    sd = {f"image_proj.{k}": v for k, v in _randomise(proj, seed).items()}
    import torch
    for i, width in enumerate(SD15_ATTN2_WIDTHS):
        for kv in ("to_k_ip", "to_v_ip"):
            key = f"ip_adapter.{2 * i + 1}.{kv}.weight"
            sd[key] = seeded_tensor(key, (width, TEXT_DIM), seed).to(torch.float16)
    return _save(sd, path)


def clip_vision_h(path: Path, seed: int = 0) -> Path:
    import torch

    import comfy.clip_model
    import comfy.ops
    config = json.loads((Path(comfy.clip_model.__file__).parent / "clip_vision_config_h.json").read_text())
    model = comfy.clip_model.CLIPVisionModelProjection(config, torch.float32, "cpu", comfy.ops.disable_weight_init)
    return _save(_randomise(model, seed), path)


def controlnet_sd15(path: Path, seed: int = 0) -> Path:
    import torch

    import comfy.cldm.cldm
    import comfy.ops
    config = {k: v for k, v in SD15_UNET.items() if k not in ("out_channels",)}
    model = comfy.cldm.cldm.ControlNet(hint_channels=3, **config, dtype=torch.float32, device="cpu",
                                       operations=comfy.ops.disable_weight_init)
    sd = {f"control_model.{k}": v for k, v in _randomise(model, seed, small=("zero_convs", "middle_block_out",
                                                                            "input_hint_block.14")).items()}
    return _save(sd, path)


def ensure(kind: str, build, cache_dir=None) -> Path:
    """The cached file for `kind` (a NAMES key), built with `build(path)` on first use and named by a hash of this
    module's code (devtools.standin_cache: older recipes are deleted)."""
    stem = NAMES[kind].removesuffix(".safetensors")
    return cached(stem, recipe_key({"kind": kind}, sys.modules[__name__]), build, folder=cache_dir)
