"""What the editing nodes share: the inversion record carried in the LATENT, and the inversion SAMPLER."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..c2d_core.errors import EditInputError
from ..c2d_core.inversion import Trajectory, invert

INVERSION_KEY = "c2d_inversion"


@dataclass
class InversionRecord:
    """Kept with the inverted LATENT: the trajectory (model space, CPU) and what made it."""

    trajectory: Trajectory
    model_id: int           # id() of the diffusion model object that inverted it
    model_name: str


def check_latent(model, samples: torch.Tensor) -> None:
    want = model.model.latent_format.latent_channels
    if samples.ndim != 4 or samples.shape[1] != want:
        raise EditInputError(f"latent has shape {tuple(samples.shape)} but this model works on {want}-channel latents; "
                             "encode the image with this model's VAE (VAE Encode)")


def inversion_sampler(refine_steps: int, holder: list | None = None):
    """A KSAMPLER that inverts (c2d_core.inversion.invert) instead of sampling; the Trajectory goes to holder."""
    import comfy.samplers

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = dict(extra_args or {})
        if extra_args.get("denoise_mask") is not None:
            raise EditInputError("inversion does not take a noise mask; connect the mask to the Audio Edit Sampler")
        traj = invert(lambda xi, s: model(xi, s, **extra_args), x, sigmas, refine_iters=refine_steps,
                      callback=(lambda i, xi: callback({"i": i, "x": xi, "denoised": xi, "sigma": sigmas[i],
                                                        "sigma_hat": sigmas[i]})) if callback else None)
        if holder is not None:
            holder.append(traj)
        return traj.noise_latent.to(x)
    return comfy.samplers.KSAMPLER(sample)
