"""Adapter export: the trainable weights of a run (or a checkpoint) → the adapter file the nodes load.

The adapter file holds the adapter, the stage-2 LoRA under `lora.*` in ComfyUI's generic LoRA key
format (applied by the Apply Audio Adapter node), and the resolved training config. `--lora-out`
also writes the LoRA alone as a standard LoRA file that ComfyUI's stock LoraLoaderModelOnly loads.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from c2d_core.adapter import AudioAdapter
from c2d_core.adapter_file import save_adapter
from c2d_core.config import AdapterConfig

from .lora import PREFIX

log = logging.getLogger(__name__)


def split_trainable(state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Trainable state dict ("adapter.*", "lora.layers.*") → (adapter state, lora state)."""
    adapter = {k[len("adapter."):]: v for k, v in state.items() if k.startswith("adapter.")}
    lora = {k[len("lora."):]: v for k, v in state.items() if k.startswith("lora.")}
    return adapter, lora


def lora_to_comfy(lora_state: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """{"layers.<path with __>.down"/".up"} → ComfyUI keys `diffusion_model.<path>.lora_down.weight` etc.
    Empty when the LoRA never trained (every up matrix still zero)."""
    out = {}
    ups = [v for k, v in lora_state.items() if k.endswith(".up")]
    if not ups or all(float(u.abs().max()) == 0.0 for u in ups):
        return out
    for k, v in lora_state.items():
        name, kind = k[len("layers."):].rsplit(".", 1)
        key = PREFIX + name.replace("__", ".")
        out[f"{key}.lora_{kind}.weight"] = v.detach().float().cpu().contiguous()
        out[f"{key}.alpha"] = torch.tensor(float(alpha))
    return out


def build_adapter(adapter_config_json: str, adapter_state: dict) -> AudioAdapter:
    adapter = AudioAdapter(AdapterConfig.from_json(adapter_config_json))
    adapter.load_state_dict(adapter_state)
    return adapter


def write_adapter(out: Path, adapter: AudioAdapter, lora: dict, training_config: dict,
                  lora_out: Path | None = None) -> Path:
    save_adapter(out, adapter, lora=lora, training_config=training_config)
    if lora_out is not None:
        if not lora:
            log.warning("no LoRA to write to %s: no stage of this run trained the LoRA", lora_out)
        else:
            from safetensors.torch import save_file
            lora_out.parent.mkdir(parents=True, exist_ok=True)
            save_file(lora, str(lora_out), metadata={"clap2diffusion.training_config": json.dumps(training_config)})
    return out


def export_checkpoint(checkpoint: Path, out: Path, lora_out: Path | None = None) -> Path:
    """Export a resumable checkpoint (its own config decides the adapter's shape)."""
    from .checkpoints import load_checkpoint

    ck = load_checkpoint(checkpoint)
    adapter_state, lora_state = split_trainable(ck.trainable)
    run = ck.config
    adapter = build_adapter(run["adapter_config"], adapter_state)
    lora = lora_to_comfy(lora_state, run["config"]["lora"]["alpha"])
    training_config = dict(run["config"], run=dict(run.get("run", {}), step=ck.state.step,
                                                   checkpoint=str(checkpoint)))
    return write_adapter(out, adapter, lora, training_config, lora_out)
