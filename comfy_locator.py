"""Finds a ComfyUI checkout and imports it as a library — the one locator the trainer, the demo and the
tests share (the nodes themselves run inside ComfyUI and never need it).

Where it looks, in order: $COMFYUI_PATH, the parent of the `custom_nodes/` folder this repository sits in,
/opt/ComfyUI and ~/ComfyUI (or the folders in $C2D_COMFYUI_PLACES, separated by os.pathsep), and the tested
release `scripts/setup_env.sh` fetches into FETCHED when none is found.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
TESTED_VERSION = "0.3.64"   # the ComfyUI release the suite runs against (git tag v0.3.64)
FETCHED = Path.home() / ".cache" / "clap2diffusion" / f"ComfyUI-{TESTED_VERSION}"
DEFAULT_PLACES = (Path("/opt/ComfyUI"), Path.home() / "ComfyUI")
NOT_FOUND = (f"ComfyUI not found: set COMFYUI_PATH to a ComfyUI checkout (>= {TESTED_VERSION}), install this "
             "repository in ComfyUI/custom_nodes/, or unpack ComfyUI at /opt/ComfyUI or ~/ComfyUI")


class HostNotFoundError(ValueError):
    """No usable ComfyUI checkout."""


def is_comfyui(path: Path) -> bool:
    return (Path(path) / "nodes.py").is_file() and (Path(path) / "comfy").is_dir()


def find() -> Path | None:
    """The ComfyUI folder to use (see the module docstring), or None. Only a folder holding `nodes.py` and
    `comfy/` counts; a COMFYUI_PATH that is not one is reported and skipped."""
    candidates: list[tuple[str, Path]] = []
    env = os.environ.get("COMFYUI_PATH")
    if env:
        candidates.append(("COMFYUI_PATH", Path(env).expanduser()))
    if REPO_ROOT.parent.name == "custom_nodes":
        candidates.append(("custom_nodes parent", REPO_ROOT.parent.parent))
    places = os.environ.get("C2D_COMFYUI_PLACES")
    conventional = [Path(p).expanduser() for p in places.split(os.pathsep) if p] if places is not None else DEFAULT_PLACES
    candidates += [("conventional place", p) for p in (*conventional, FETCHED)]
    for origin, path in candidates:
        if is_comfyui(path):
            return path.resolve()
        if origin == "COMFYUI_PATH":
            log.warning("COMFYUI_PATH=%s is not a ComfyUI checkout (no nodes.py and comfy/); looking elsewhere", path)
    return None


def import_comfy(root: str | os.PathLike | None = None, *, cpu: bool | None = None) -> Path:
    """Put ComfyUI first on sys.path and import `comfy.model_management` (idempotent); returns the folder.

    root: the ComfyUI folder (None or "": `find()`). cpu: force ComfyUI onto the CPU (None: only when no CUDA
    device is visible); only the first import decides, a later different wish is logged.
    """
    if root:
        root = Path(root).expanduser().resolve()
        if not is_comfyui(root):
            raise HostNotFoundError(f"{root} is not a ComfyUI checkout (no nodes.py and comfy/); point it at the "
                                    "folder that holds ComfyUI's main.py")
    else:
        root = find()
        if root is None:
            raise HostNotFoundError(NOT_FOUND)
    loaded = sys.modules.get("nodes")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != root / "nodes.py":
        raise HostNotFoundError(
            f"a module named 'nodes' is already imported from {getattr(loaded, '__file__', '?')}, so ComfyUI's "
            "nodes.py cannot be imported; do not import this pack's `nodes` package as a top-level module in the "
            "same process as ComfyUI")
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))  # before the repository root: our `nodes/` package must not shadow ComfyUI's
    import comfy.cli_args  # parses no argv unless comfy.options.enable_args_parsing() was called

    if "comfy.model_management" not in sys.modules:
        if cpu is None:
            import torch
            cpu = not torch.cuda.is_available()
        comfy.cli_args.args.cpu = cpu
        import utils.extra_config  # noqa: F401  (first, as ComfyUI's main.py does; else comfy/utils.py shadows it)
        import comfy.model_management  # noqa: F401
        log.debug("ComfyUI imported from %s (cpu=%s)", root, cpu)
    elif cpu is not None and bool(comfy.cli_args.args.cpu) != cpu:
        log.warning("ComfyUI was already imported with cpu=%s; it keeps its device", comfy.cli_args.args.cpu)
    return root
