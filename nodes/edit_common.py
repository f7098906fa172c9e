"""What the editing nodes share: the inversion record carried in the LATENT, and the inversion SAMPLER."""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from ..c2d_core.errors import EditInputError
from ..c2d_core.families import objective_of
from ..c2d_core.inversion import Trajectory, invert

INVERSION_KEY = "c2d_inversion"


def loader_identity(patcher) -> tuple | None:
    """The loader call ComfyUI 0.33+ records on a MODEL (`cached_patcher_init` = (loader, args[, output])): the same
    for every clone(), non-dynamic delegate, multi-GPU clone and reload of that file; None on 0.3.64 or a MODEL
    whose loader records none."""
    init = getattr(patcher, "cached_patcher_init", None)
    if not init:
        return None
    loader = init[0]
    return (getattr(loader, "__module__", None), getattr(loader, "__qualname__", repr(loader)), repr(init[1]),
            init[2] if len(init) > 2 else None)


@dataclass
class InversionRecord:
    """Kept with the inverted LATENT: the trajectory (model space, CPU) and what made it."""

    trajectory: Trajectory
    model_id: int           # id() of the diffusion model object that inverted it
    model_name: str
    loader: tuple | None = None   # loader_identity() of the MODEL given to Invert Latent
    base_ref: object = None       # weakref.ref to its diffusion model (an id() can be reused once it is freed)

    @classmethod
    def of(cls, trajectory: Trajectory, patcher) -> "InversionRecord":
        return cls(trajectory, id(patcher.model), type(patcher.model).__name__, loader_identity(patcher),
                   weakref.ref(patcher.model))

    def made_with(self, guider) -> bool:
        """Whether the guider a SAMPLER runs with samples the model this latent was inverted with: the same
        diffusion model object (any clone of the MODEL, LoRA added: 0.3.64 and 0.33), or the same loader call (0.33:
        a non-dynamic delegate or a multi-GPU clone holds a reloaded copy of the model)."""
        base = getattr(guider, "inner_model", None)
        patcher = getattr(guider, "model_patcher", None)
        model = self.base_ref() if self.base_ref is not None else None
        if model is not None and (model is base or (patcher is not None and model is patcher.model)):
            return True
        if self.base_ref is None and id(base) == self.model_id:
            return True
        return self.loader is not None and patcher is not None and loader_identity(patcher) == self.loader


def check_latent(model, samples: torch.Tensor) -> None:
    want = model.model.latent_format.latent_channels
    if samples.ndim != 4 or samples.shape[1] != want:
        raise EditInputError(f"latent has shape {tuple(samples.shape)} but this model works on {want}-channel latents; "
                             "encode the image with this model's VAE (VAE Encode)")


def sampler_start(model, x: torch.Tensor) -> torch.Tensor:
    """The latent a c2d sampler starts from, in the model's space. ComfyUI hands a sampler noise_scaling(sigma_max,
    noise, latent); on flow models (Flux, SD3, Qwen-Image, Z-Image: sigma_max = 1) that is all noise and the latent
    is dropped, so it is read where KSAMPLER keeps it (the sampled model's `latent_image`); elsewhere x itself (the
    latent, as these nodes pass zero noise)."""
    latent = getattr(model, "latent_image", None)
    base = getattr(getattr(model, "inner_model", None), "inner_model", None)
    if latent is not None and objective_of(getattr(base, "model_sampling", None)) == "flow":
        return latent.to(x)
    return x


def inversion_sampler(refine_steps: int, holder: list | None = None):
    """A KSAMPLER that inverts (c2d_core.inversion.invert) instead of sampling; the Trajectory goes to holder."""
    import comfy.samplers

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = dict(extra_args or {})
        if extra_args.get("denoise_mask") is not None:
            raise EditInputError("inversion does not take a noise mask; connect the mask to the Audio Edit Sampler")
        traj = invert(lambda xi, s: model(xi, s, **extra_args), sampler_start(model, x), sigmas,
                      refine_iters=refine_steps,
                      callback=(lambda i, xi: callback({"i": i, "x": xi, "denoised": xi, "sigma": sigmas[i],
                                                        "sigma_hat": sigmas[i]})) if callback else None)
        if holder is not None:
            holder.append(traj)
        return traj.noise_latent.to(x)
    return comfy.samplers.KSAMPLER(sample)
