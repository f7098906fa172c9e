"""The Plug-and-Play edit loop (pure torch): Euler steps of a source row and the edit rows in one model call.

Each step the source row regenerates the source from its inverted noise while the edit rows sample with the
sound; `PnPState` switches feature / attention copying (pnp.py) on for the first fractions of the steps, and a
mask blends the edit back to the source's inversion trajectory outside it after every step.
"""
from __future__ import annotations

from typing import Callable

import torch

from .inversion import Trajectory, euler_step, keep_outside_mask
from .pnp import PnPState

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x (B, C, H, W), sigma (B,)) → denoised


def pnp_edit(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, trajectory: Trajectory, state: PnPState, *,
             feature_fraction: float, attention_fraction: float, mask: torch.Tensor | None = None,
             callback: Callable[[dict], None] | None = None) -> torch.Tensor:
    """x: (B, C, H, W) the edit rows' start (the inverted noise), sigmas: (steps + 1,) descending.

    denoise is called on (1 + B) rows, the source first; mask: (B or 1, 1, H, W) in [0, 1], 1 = may change.
    Returns the edited latents (B, C, H, W).
    """
    steps = len(sigmas) - 1
    B = x.shape[0]
    src = trajectory.noise_latent.to(x)[:1]
    for i in range(steps):
        s = sigmas[i]
        state.features = i < round(feature_fraction * steps)
        state.attention = i < round(attention_fraction * steps)
        den = denoise(torch.cat([src, x]), s * x.new_ones(B + 1))
        src = euler_step(src, den[:1], s, sigmas[i + 1])
        x = euler_step(x, den[1:], s, sigmas[i + 1])
        if mask is not None:
            x = keep_outside_mask(x, trajectory.at(i + 1).to(x)[:1].expand_as(x), mask)
        if callback is not None:
            callback({"i": i, "x": x, "denoised": den[1:], "sigma": s, "sigma_hat": s})
    return x
