"""The adapter file: one .safetensors with the AudioAdapter's weights and its declared config.

Metadata (all strings): format="clap2diffusion.adapter", format_version, config (AdapterConfig JSON),
base_family, context_dim, clap_model_id, clap_dim, n_tokens, placement, projector, position, uncond,
gates (JSON {block key: α}, for reading), training_config (JSON).
Keys: the AudioAdapter state dict ("projector.*", "null_tokens", "blocks.<key>.*"); optional
stage-2 LoRA under "lora.*" in ComfyUI LoRA key format.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .adapter import AudioAdapter
from .config import AdapterConfig
from .errors import AdapterFileError, wrap_upstream

FORMAT = "clap2diffusion.adapter"
FORMAT_VERSION = 1
LORA_PREFIX = "lora."


@dataclass
class LoadedAdapter:
    adapter: AudioAdapter
    lora: dict[str, torch.Tensor] = field(default_factory=dict)   # keys without the "lora." prefix
    metadata: dict[str, str] = field(default_factory=dict)
    path: str = ""


def save_adapter(path: str | os.PathLike, adapter: AudioAdapter, *, lora: dict[str, torch.Tensor] | None = None,
                 training_config: dict | None = None) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written adapter."""
    from safetensors.torch import save_file

    cfg = adapter.config
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in adapter.state_dict().items()}
    for k, v in (lora or {}).items():
        tensors[LORA_PREFIX + k] = v.detach().to("cpu").contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": cfg.to_json(),
        "base_family": cfg.base_family,
        "context_dim": str(cfg.context_dim),
        "clap_model_id": cfg.clap_model_id,
        "clap_dim": str(cfg.clap_dim),
        "n_tokens": str(cfg.n_tokens),
        "placement": cfg.placement,
        "projector": cfg.projector,
        "position": cfg.position,
        "uncond": cfg.uncond,
        "gates": json.dumps(adapter.gates(), sort_keys=True),
        "training_config": json.dumps(training_config or {}, sort_keys=True, default=str),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_adapter_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Header only; raises AdapterFileError when the file is not a readable CLAP2Diffusion adapter."""
    from safetensors import safe_open

    path = str(path)
    name = os.path.basename(path)
    if not path.lower().endswith(".safetensors"):
        raise AdapterFileError(
            f"{name}: audio adapters are only read from .safetensors files; .pt/.ckpt/.bin files would need "
            "unpickling, which can run arbitrary code and is refused. Export the adapter with "
            "`python -m training export` (or convert the state dict with safetensors.torch.save_file)")
    if not os.path.isfile(path):
        raise AdapterFileError(f"adapter file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise AdapterFileError(wrap_upstream(
            f"{name} is not a readable safetensors file: it is probably truncated or corrupt; "
            "download or export it again", e)) from e
    if meta.get("format") != FORMAT:
        raise AdapterFileError(
            f"{name} is a safetensors file but not a CLAP2Diffusion audio adapter (metadata format="
            f"{meta.get('format')!r}); if it is a checkpoint or LoRA, load it with ComfyUI's own loaders, "
            "and put audio adapters made by `python -m training` in models/audio_adapters/")
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise AdapterFileError(
            f"{name} uses adapter format version {version}, newer than this node pack understands "
            f"({FORMAT_VERSION}); update CLAP2Diffusion")
    return meta


def load_adapter(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedAdapter:
    from safetensors.torch import load_file

    meta = read_adapter_metadata(path)
    name = os.path.basename(str(path))
    config = AdapterConfig.from_json(meta.get("config", "{}"))
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as e:
        raise AdapterFileError(wrap_upstream(f"{name}: tensor data is unreadable: the file is truncated or corrupt; "
                                             "download or export it again", e)) from e
    lora = {k[len(LORA_PREFIX):]: v for k, v in tensors.items() if k.startswith(LORA_PREFIX)}
    state = {k: v for k, v in tensors.items() if not k.startswith(LORA_PREFIX)}
    adapter = AudioAdapter(config)
    expected = adapter.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {keys[:5]}{' …' if len(keys) > 5 else ''}" for label, keys in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise AdapterFileError(f"{name}: weights do not match its own config ({detail}); the file is damaged "
                               "or was edited: export it again")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AdapterFileError(f"{name}: weights contain NaN/Inf ({bad[:5]}); training diverged — use an "
                               "earlier checkpoint")
    adapter.load_state_dict(state)
    adapter.eval().requires_grad_(False)
    return LoadedAdapter(adapter=adapter, lora=lora, metadata=meta, path=str(path))
