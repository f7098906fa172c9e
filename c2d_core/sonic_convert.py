"""SonicDiffusion's released files → our AudioAdapter (pure torch, no pickled code ever runs).

A released pair (README of BurakCanBiner/SonicDiffusion; loaded by its `app.py:53-73`):
- projector `audio_projector_<name>.pth`: the flat state dict of their `Adapter` class
  (`ldm/modules/encoders/audio_projector_res.py`) = our `SonicProjector`, key for key;
- adapter `<name>.pt`: UNet parameters by diffusers name, `app.py:54-56` copies every parameter whose
  name contains "adapter". Per block (attention_custom.py:233-245):
      <block>.transformer_blocks.<t>.attn_adapter.{to_q,to_k,to_v}.weight   (no bias)
      <block>.transformer_blocks.<t>.attn_adapter.to_out.0.{weight,bias}
      <block>.transformer_blocks.<t>.norm_adapter.{weight,bias}
      <block>.transformer_blocks.<t>.gate_adapter                           (shape (1,))
  for <block> in mid_block.attentions.0 and up_blocks.{1,2,3}.attentions.{0,1,2} (`use_adapter_list=
  [False, True, True]`, app.py:47). The file may hold only these tensors or a whole UNet state dict;
  every "*adapter*" tensor is checked against this declared layout (nothing unknown, nothing missing).

Both files are read with `torch.load(weights_only=True)`: a file that needs anything beyond tensors and
plain containers is refused before any of its code can run.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from .adapter import AudioAdapter
from .adapter_file import FORMAT, FORMAT_VERSION, LoadedAdapter
from .config import AdapterConfig, BlockSpec
from .errors import AdapterFileError
from .families import family_layout
from .placement import select_blocks
from .torch_files import read_checkpoint, tensor_dict

SONIC_CLAP_ID = "msclap-2022"
SONIC_CONFIG = dict(clap_dim=1024, context_dim=768, n_tokens=77, n_mlps=1, hidden_dim=1024, gate_init=0.1,
                    placement="sonic_mid_up", base_family="sd15", clap_model_id=SONIC_CLAP_ID,
                    projector="sonic77", position="after_text", uncond="projector_zeros")

_BLOCK = re.compile(r"^(mid_block\.attentions\.0|up_blocks\.(\d+)\.attentions\.(\d+))\.transformer_blocks\.(\d+)\.(.+)$")
# diffusers name inside a transformer block → our GatedAudioAttention name
_TENSORS = {"attn_adapter.to_q.weight": "attn.to_q.weight", "attn_adapter.to_k.weight": "attn.to_k.weight",
            "attn_adapter.to_v.weight": "attn.to_v.weight", "attn_adapter.to_out.0.weight": "attn.to_out.weight",
            "attn_adapter.to_out.0.bias": "attn.to_out.bias", "norm_adapter.weight": "norm.weight",
            "norm_adapter.bias": "norm.bias", "gate_adapter": "gate"}


SONIC_HEADS = 8   # SD1.x attention heads (diffusers attention_head_dim=8); the adapter uses the block's own heads


def sonic_config(widths: dict[str, int] | None = None) -> AdapterConfig:
    """The declared config of a SonicDiffusion adapter: SonicDiffusion's 10 blocks (middle_0_0, output_3_0 …
    output_11_0), after text attention, projector(0) uncond, 8 heads per block. widths: block key → query width
    (default: SD1.x's 320/640/1280; the converter reads them from the file, the model check compares them)."""
    specs = select_blocks(family_layout("sd15").blocks(), "sonic_mid_up")
    if widths is not None:
        specs = tuple(BlockSpec(key=b.key, query_dim=widths[b.key], heads=SONIC_HEADS,
                                dim_head=widths[b.key] // SONIC_HEADS) for b in specs)
    return AdapterConfig(**SONIC_CONFIG, blocks=specs)


def comfy_block_key(diffusers_block: str, transformer_index: int) -> str | None:
    """"mid_block.attentions.0" → "middle_0_<t>"; "up_blocks.<i>.attentions.<j>" → "output_<3i+j>_<t>" (SD1.x:
    3 resnets per up block, so diffusers up block i, attention j is ComfyUI output block 3i + j)."""
    m = _BLOCK.match(f"{diffusers_block}.transformer_blocks.{transformer_index}.x")
    if m is None:
        return None
    if m.group(2) is None:
        return f"middle_0_{transformer_index}"
    return f"output_{3 * int(m.group(2)) + int(m.group(3))}_{transformer_index}"


def _diffusers_name(key: str, tensor: str) -> str:
    """"output_4_0", "norm_adapter.weight" → "up_blocks.1.attentions.1.transformer_blocks.0.norm_adapter.weight"."""
    stage, number, t = key.split("_")
    block = "mid_block.attentions.0" if stage == "middle" else f"up_blocks.{int(number) // 3}.attentions.{int(number) % 3}"
    return f"{block}.transformer_blocks.{t}.{tensor}"


def read_torch_file(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """A .pt/.pth state dict, read with weights_only=True (no pickled code runs) → {name: tensor}."""
    path = Path(path)
    obj = read_checkpoint(path, what=f"a SonicDiffusion {what} file", error=AdapterFileError,
                          unsafe_advice="Use the file as released by SonicDiffusion, or re-save its state dict with "
                                        "torch.save(state_dict)")
    state = tensor_dict(obj, name=f"{path.name} ({what})", what=f"a SonicDiffusion {what}", error=AdapterFileError,
                        advice="give SonicDiffusion's released file")
    return {k: v.detach() for k, v in state.items()}


def _shape_error(file: str, name: str, got, want) -> AdapterFileError:
    return AdapterFileError(f"{file}: tensor {name} has shape {tuple(got)} but a SonicDiffusion adapter needs "
                            f"{tuple(want)}; this is not a released SonicDiffusion (SD1.x, 77-token) file")


def convert_sonicdiffusion(projector_state: dict[str, torch.Tensor], adapter_state: dict[str, torch.Tensor], *,
                           projector_name: str = "projector", adapter_name: str = "adapter") -> AudioAdapter:
    """Their projector state dict + adapter (or whole-UNet) state dict → AudioAdapter (eval, frozen)."""
    # UNet adapter tensors: every "*adapter*" key must be in the declared layout
    theirs = {k: v for k, v in adapter_state.items() if "adapter" in k}
    if not theirs:
        raise AdapterFileError(f"{adapter_name}: holds no SonicDiffusion adapter tensors (no '*adapter*' names, "
                               f"{len(adapter_state)} tensors in all); give the released <name>.pt")
    expected_keys = {b.key for b in sonic_config().blocks}
    mapped: dict[str, torch.Tensor] = {}
    for k, v in theirs.items():
        m = _BLOCK.match(k)
        key = comfy_block_key(m.group(1), int(m.group(4))) if m else None
        ours_name = _TENSORS.get(m.group(5)) if m else None
        if key not in expected_keys or ours_name is None:
            raise AdapterFileError(f"{adapter_name}: tensor {k} is not part of SonicDiffusion's adapter layout (10 "
                                   "blocks: mid_block.attentions.0, up_blocks.1-3.attentions.0-2); give the released file")
        mapped[f"blocks.{key}.{ours_name}"] = v
    for key in sorted(expected_keys):
        for d_name, o_name in _TENSORS.items():
            if f"blocks.{key}.{o_name}" not in mapped:
                raise AdapterFileError(f"{adapter_name}: tensor {_diffusers_name(key, d_name)} is missing; the file is "
                                       "incomplete (re-download the released SonicDiffusion adapter)")
    # block widths from the LayerNorm of each block; every other tensor is checked against them below
    widths = {key: int(mapped[f"blocks.{key}.norm.weight"].shape[0]) for key in expected_keys}
    adapter = AudioAdapter(sonic_config(widths))
    ours = adapter.state_dict()

    # projector: their key names are ours under "projector."
    want = {k[len("projector."):]: v for k, v in ours.items() if k.startswith("projector.")}
    unknown = sorted(set(projector_state) - set(want))
    missing = sorted(set(want) - set(projector_state))
    if unknown or missing:
        raise AdapterFileError(
            f"{projector_name}: not SonicDiffusion's audio projector (missing {missing[:4]}, unknown {unknown[:4]}); "
            "give the released audio_projector_*.pth")
    state: dict[str, torch.Tensor] = {}
    for k, v in projector_state.items():
        if v.shape != want[k].shape:
            raise _shape_error(projector_name, k, v.shape, want[k].shape)
        state["projector." + k] = v
    for target, v in mapped.items():
        _, key, o_name = target.split(".", 2)
        d_name = next(d for d, o in _TENSORS.items() if o == o_name)
        if o_name == "gate":
            if v.numel() != 1:
                raise _shape_error(adapter_name, _diffusers_name(key, d_name), v.shape, (1,))
            v = v.reshape(())
        elif v.shape != ours[target].shape:
            raise _shape_error(adapter_name, _diffusers_name(key, d_name), v.shape, ours[target].shape)
        state[target] = v
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AdapterFileError(f"{adapter_name}/{projector_name}: weights contain NaN/Inf ({bad[:3]}); re-download them")
    adapter.load_state_dict({k: v.to(ours[k].dtype) for k, v in state.items()})
    return adapter.eval().requires_grad_(False)


def load_sonicdiffusion(projector_path: str | os.PathLike, adapter_path: str | os.PathLike) -> LoadedAdapter:
    """Read and convert a released pair (nothing written)."""
    p, a = Path(projector_path), Path(adapter_path)
    adapter = convert_sonicdiffusion(read_torch_file(p, "audio projector"), read_torch_file(a, "UNet adapter"),
                                     projector_name=p.name, adapter_name=a.name)
    cfg = adapter.config
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": cfg.to_json(),
            "base_family": cfg.base_family, "context_dim": str(cfg.context_dim), "clap_model_id": cfg.clap_model_id,
            "clap_dim": str(cfg.clap_dim), "n_tokens": str(cfg.n_tokens), "placement": cfg.placement,
            "converted_from": f"SonicDiffusion {p.name} + {a.name}"}
    return LoadedAdapter(adapter=adapter, metadata=meta, path=str(a.parent))


def find_pair(folder: str | os.PathLike) -> tuple[Path, Path]:
    """A folder models/audio_adapters/<name>/ holding one released pair: exactly one `.pth` (the audio projector,
    `audio_projector_<name>.pth`) and one `.pt` (the UNet adapter, `<name>.pt`) → (projector, adapter)."""
    folder = Path(folder)
    files = sorted(f for f in folder.iterdir() if f.is_file())
    projectors = [f for f in files if f.suffix.lower() == ".pth"]
    adapters = [f for f in files if f.suffix.lower() == ".pt"]
    if len(projectors) != 1:
        raise AdapterFileError(
            f"audio adapter folder {folder.name}/ must hold exactly one audio projector (.pth, e.g. "
            f"audio_projector_landscape.pth) but has {len(projectors)}: {[f.name for f in projectors]}; keep one "
            "SonicDiffusion pair per folder")
    if len(adapters) != 1:
        raise AdapterFileError(
            f"audio adapter folder {folder.name}/ must hold exactly one UNet adapter (.pt, e.g. landscape.pt) but "
            f"has {len(adapters)}: {[f.name for f in adapters]}; keep one SonicDiffusion pair per folder")
    return projectors[0], adapters[0]


def is_sonic_folder(folder: str | os.PathLike) -> bool:
    """A folder that holds .pt/.pth files is a SonicDiffusion pair folder (checked fully by find_pair)."""
    folder = Path(folder)
    return folder.is_dir() and any(f.suffix.lower() in (".pt", ".pth") for f in folder.iterdir() if f.is_file())
