"""The transformer blocks of a checkpoint's diffusion model, read without loading its weights
(`training init --checkpoint`).

The tensor shapes (a safetensors header, or a `.ckpt` opened with `weights_only` and `mmap`) go through ComfyUI's
own model detection; the UNet or DiT is then built on the meta device (no memory) by the detected model config and
asked for its blocks (the family layout's `discover`), so an adapter made from a checkpoint has exactly the blocks
ComfyUI will run.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from c2d_core.config import BlockSpec
from c2d_core.errors import CheckpointFileError, UnsupportedModelError, wrap_upstream
from c2d_core.families import family_from_comfy_config, family_layout, supported_names

from .host import import_comfy

_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                       "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}


def _meta_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """{key: meta tensor of the stored shape and dtype}; reads the header only."""
    try:
        if path.suffix == ".safetensors":
            with path.open("rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
            header.pop("__metadata__", None)
            return {k: torch.empty(v["shape"], dtype=_SAFETENSORS_DTYPES.get(v["dtype"], torch.float32), device="meta")
                    for k, v in header.items()}
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        state = state.get("state_dict", state)
        return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items() if torch.is_tensor(v)}
    except Exception as e:   # struct/json (truncated header) and torch.load (unsafe or corrupt pickle)
        raise CheckpointFileError(wrap_upstream(
            f"could not read the checkpoint {path.name}: it is truncated, corrupt or not a checkpoint (a .ckpt that "
            "stores Python objects is refused as unsafe); download it again, or use its .safetensors version", e)) from e


def is_diffusion_model_only(path: str | Path) -> bool:
    """Whether the file holds the diffusion model alone (the UNETLoader's files: Flux, Qwen-Image, Wan …), not a
    whole checkpoint with text encoders and VAE; reads the header only (False when it cannot). Needs ComfyUI
    imported."""
    import comfy.model_detection

    try:
        state = _meta_state_dict(Path(path))
    except CheckpointFileError:    # unreadable: ComfyUI's checkpoint loader reports it (our wording around its own)
        return False
    prefix = comfy.model_detection.unet_prefix_from_state_dict(state)
    return bool(state) and not any(k.startswith(prefix) for k in state)


def _detect(path: str | Path, comfyui: str | None) -> tuple[str, object, dict, str]:
    """(family id, ComfyUI model config, meta state dict, key prefix) of the checkpoint's diffusion model, from its
    header alone."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint: {path} does not exist")
    import_comfy(comfyui)
    import comfy.model_detection

    state = _meta_state_dict(path)
    prefix = comfy.model_detection.unet_prefix_from_state_dict(state)
    if not any(k.startswith(prefix) for k in state):   # a diffusion-model-only file (UNETLoader's), as ComfyUI reads it
        prefix = ""
    config = comfy.model_detection.model_config_from_unet(state, prefix)
    if config is None:
        raise UnsupportedModelError(f"{path.name} is not a diffusion checkpoint ComfyUI recognises; give an "
                                    f"{supported_names()} checkpoint")
    family = family_from_comfy_config(type(config).__name__, what=path.name,
                                      fix=f"give an {supported_names()} checkpoint")
    return family, config, state, prefix


def checkpoint_family(path: str | Path, comfyui: str | None = None) -> str:
    """The family id of the checkpoint's diffusion model (its header only; no model is built)."""
    return _detect(path, comfyui)[0]


def checkpoint_blocks(path: str | Path, comfyui: str | None = None) -> tuple[str, tuple[BlockSpec, ...], int]:
    """(family id, transformer blocks in run order, context / token width) of the checkpoint's diffusion model."""
    family, config, state, prefix = _detect(path, comfyui)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model(state, prefix, device="meta")
    blocks, context_dim = family_layout(family).discover(model.diffusion_model)
    return family, blocks, context_dim
