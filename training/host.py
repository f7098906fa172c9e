"""ComfyUI as the trainer's model library: the user's checkpoint, VAE, text encoder and UNet code.

The trainer never re-implements the UNet: it imports ComfyUI through the shared `comfy_locator` and trains on
`model.model.diffusion_model`. Unlike the test host, the trainer lets ComfyUI see the GPU when one is there.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import comfy_locator
from c2d_core.errors import C2DError


class HostNotFoundError(C2DError):
    """No usable ComfyUI checkout."""


def import_comfy(comfyui: str | os.PathLike | None = None, *, cpu: bool | None = None) -> Path:
    """`comfy_locator.import_comfy` with the trainer's wording: comfyui is the `model.comfyui` setting."""
    try:
        return comfy_locator.import_comfy(comfyui, cpu=cpu)
    except comfy_locator.HostDependencyError as e:  # found, but a package it needs is missing: the line says which
        raise HostNotFoundError(str(e)) from None
    except comfy_locator.HostNotFoundError as e:
        raise HostNotFoundError(f"{e}; the trainer uses ComfyUI's model code: set model.comfyui (or COMFYUI_PATH)")


@contextlib.contextmanager
def differentiable_kernels():
    """ComfyUI's own switch for training (`comfy.model_management.in_training`, set the way its TrainLoraNode sets it):
    0.33's fused kernels (Flux's RoPE through comfy_kitchen) have no backward pass, and with the switch on the models
    take their differentiable torch paths. Older hosts lack the switch and need none."""
    import comfy.model_management as mm

    had, old = hasattr(mm, "in_training"), getattr(mm, "in_training", None)
    mm.in_training = True
    try:
        yield
    finally:
        if had:
            mm.in_training = old
        else:
            del mm.in_training
