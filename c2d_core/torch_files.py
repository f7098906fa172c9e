"""The one safe reader of released checkpoint files (.pt / .pth / .ckpt / .bin, and .safetensors).

A torch pickle is read with `torch.load(weights_only=True)`: a file that needs unsafe unpickling (Python objects
besides tensors, which could run code) is refused unread. Each caller says what the file should be (`what`), which
error class its users see and what to do instead of an unsafe file (`unsafe_advice`).
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import C2DError, wrap_upstream

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
CHECKPOINT_SUFFIXES = TORCH_SUFFIXES + (".safetensors",)


def read_checkpoint(path, *, what: str, error: type[C2DError], unsafe_advice: str,
                    mmap: bool = False) -> object:
    """The object stored in `path`: {name: tensor} for .safetensors, whatever `torch.save` stored otherwise
    (restricted to tensors, containers and plain values). `mmap`: map a torch zip file instead of reading it, so
    tensors the caller drops (another modality's) are never read into memory."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} not found: expected {what} there")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as e:
            raise error(wrap_upstream(f"{path.name} is not a readable safetensors file (truncated or corrupt); "
                                      "download it again", e)) from None
    try:
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as e:
            if not (mmap and "mmap" in str(e)):
                raise
            return torch.load(str(path), map_location="cpu", weights_only=True)  # a pre-zip (legacy) torch file
    except pickle.UnpicklingError as e:
        raise error(wrap_upstream(
            f"{path.name} needs unsafe unpickling (it stores Python objects besides tensors), so it was refused "
            f"unread: a file like that can run arbitrary code. {unsafe_advice}", e, max_lines=1)) from None
    except Exception as e:  # truncated zip, not a torch file at all
        raise error(wrap_upstream(f"could not read {path.name} as a torch checkpoint: the file is truncated or not "
                                  f"{what}; download it again", e)) from None


def tensor_dict(obj, *, name: str, what: str, error: type[C2DError], advice: str) -> dict[str, torch.Tensor]:
    """`obj` as {str: tensor}, or `error` saying what it is instead."""
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise error(f"{name} is not a state dict of named tensors (got {type(obj).__name__}), so it is not {what}; "
                    f"{advice}")
    return obj


def top_level_keys(obj, n: int = 4) -> str:
    """A few words on a loaded object's structure, for errors: "a dict of 12 entries, keys e.g. ['a', 'b']"."""
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}, not a dict of tensors"
    return f"a dict of {len(obj)} entries, keys e.g. {[k for k in obj if isinstance(k, str)][:n]}"


def check_layout(state: dict, layout: dict[str, tuple[int, ...]], *, what: str, advice: str,
                 error: type[C2DError], shown_prefix: str = "") -> None:
    """Every tensor `layout` names is in `state` with its shape, and nothing else is; else `error` naming up to three
    problems: "<what>: a is missing (expected shape [..]); b has shape [..], expected [..] (and N more). <advice>"."""
    problems = [f"{shown_prefix}{k} is missing (expected shape {list(s)})" for k, s in layout.items() if k not in state]
    problems += [f"{shown_prefix}{k} is a {type(state[k]).__name__}, not a tensor" for k in layout
                 if k in state and not torch.is_tensor(state[k])]
    problems += [f"{shown_prefix}{k} has shape {list(state[k].shape)}, expected {list(s)}" for k, s in layout.items()
                 if k in state and torch.is_tensor(state[k]) and tuple(state[k].shape) != s]
    problems += [f"{shown_prefix}{k} is unexpected" for k in state if k not in layout]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise error(f"{what}: " + "; ".join(problems[:3]) + more + f". {advice}")


def meta_layout(build: Callable[[], torch.nn.Module]) -> dict[str, tuple[int, ...]]:
    """{name: shape} of the state dict `build()` makes, built on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def load_checked(build: Callable[[], torch.nn.Module], state: dict, *, what: str, advice: str,
                 error: type[C2DError], shown_prefix: str = "") -> torch.nn.Module:
    """`build()`'s module holding `state` (floating tensors as float32), after `check_layout` against its own state
    dict; built on the meta device and given the file's tensors, so nothing is initialised only to be overwritten
    (the module must keep all its tensors in its state dict). Eval mode, no gradients."""
    check_layout(state, meta_layout(build), what=what, advice=advice, error=error, shown_prefix=shown_prefix)
    with torch.device("meta"):
        model = build()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                          strict=True, assign=True)
    return model.eval().requires_grad_(False)
