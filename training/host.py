"""ComfyUI as the trainer's model library: the user's checkpoint, VAE, text encoder and UNet code.

The trainer never re-implements the UNet: it imports ComfyUI (found as the nodes find it, see
`devtools.comfy_host.find_comfyui`) and trains on `model.model.diffusion_model`. Unlike the test
host, the trainer lets ComfyUI see the GPU when one is there (`cpu=False`).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from c2d_core.errors import C2DError

log = logging.getLogger(__name__)


class HostNotFoundError(C2DError):
    """No usable ComfyUI checkout."""


def import_comfy(comfyui: str | os.PathLike | None = None, *, cpu: bool | None = None) -> Path:
    """Put ComfyUI on sys.path and import `comfy.model_management` (idempotent).

    comfyui: the ComfyUI folder ("" / None: $COMFYUI_PATH, the custom_nodes parent, /opt/ComfyUI, ~/ComfyUI).
    cpu: force ComfyUI onto the CPU (None: only when no CUDA device is visible). Only the first call decides.
    """
    from devtools.comfy_host import find_comfyui, is_comfyui

    if comfyui:
        root = Path(comfyui).expanduser().resolve()
        if not is_comfyui(root):
            raise HostNotFoundError(f"model.comfyui={comfyui} is not a ComfyUI checkout (no nodes.py and comfy/); "
                                    "point it at the folder that holds ComfyUI's main.py")
    else:
        root = find_comfyui()
        if root is None:
            raise HostNotFoundError(
                "ComfyUI not found: the trainer uses ComfyUI's model code. Set model.comfyui (or COMFYUI_PATH) to a "
                "ComfyUI checkout (>= 0.3.64), or install this repository in ComfyUI/custom_nodes/")
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))  # before the repository root: our `nodes/` package must not shadow ComfyUI's
    if "comfy.model_management" not in sys.modules:
        import torch

        import comfy.cli_args
        comfy.cli_args.args.cpu = (not torch.cuda.is_available()) if cpu is None else cpu
        import utils.extra_config  # noqa: F401  (first, as ComfyUI's main.py does; else comfy/utils.py shadows it)
        import comfy.model_management  # noqa: F401
        log.debug("ComfyUI imported from %s (cpu=%s)", root, comfy.cli_args.args.cpu)
    return root
