"""DDIM inversion and the edit pass's latent math, in k-diffusion sigma space (pure torch).

A denoiser is `denoise(x, sigma) -> x0_hat` (what ComfyUI's samplers call; EPS models:
x = x0 + sigma·eps). Deterministic DDIM is the Euler step of the probability-flow ODE:

    x_next = x + (sigma_next - sigma) · eps(x, sigma),   eps = (x - denoise(x, sigma)) / sigma

`invert` runs that ODE backwards (low → high sigma). Its plain step uses eps at the current point
(the usual DDIM inversion); with `refine_iters > 0` each step is solved as a fixed point so that
one Euler step *down* from the result lands exactly on the current latent, making
invert → `euler_sample` reproduce the source up to the fixed point's convergence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Trajectory:
    """Latents of an inversion: latents[i] is the latent at sigmas[i] (descending, sigmas[-1] = 0,
    latents[-1] = the source). Stored on `device` (CPU by default: latents only, a few MB)."""

    sigmas: torch.Tensor          # (S + 1,) descending
    latents: list[torch.Tensor]   # S + 1 tensors (B, C, H, W)

    def at(self, i: int) -> torch.Tensor:
        return self.latents[i]

    @property
    def noise_latent(self) -> torch.Tensor:
        return self.latents[0]

    @property
    def source(self) -> torch.Tensor:
        return self.latents[-1]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.latents)


def _eps(denoise: Denoiser, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.expand(x.shape[0]) if sigma.ndim == 0 else sigma
    return (x - denoise(x, s)) / sigma


def invert(denoise: Denoiser, x0: torch.Tensor, sigmas: torch.Tensor, refine_iters: int = 0,
           keep_device: torch.device | str | None = "cpu", callback=None, on_progress=None) -> Trajectory:
    """x0: (B, C, H, W) clean latent; sigmas: (S + 1,) descending, ending at 0 (a sampler schedule).

    Returns the Trajectory with latents[0] the noise latent at sigmas[0]. The first step (from
    sigma 0) takes eps at the first non-zero sigma, evaluated at x0. `refine_iters` fixed-point
    iterations per step make the step the exact inverse of an Euler step down.
    After step i (of S): `callback(i, x)` (k-diffusion style, for samplers) and `on_progress(i + 1, S)`.
    """
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError(f"sigmas must be a 1-D schedule of at least 2 values, got shape {tuple(sigmas.shape)}")
    if not bool((sigmas[:-1] >= sigmas[1:]).all()):
        raise ValueError("sigmas must be descending (as a scheduler gives them); inversion walks them backwards")
    up = sigmas.flip(0)                    # ascending: 0 = s_0 < s_1 < … < s_S
    keep = (lambda t: t.detach().to(keep_device)) if keep_device is not None else (lambda t: t.detach())
    x = x0
    kept = [keep(x)]
    for i in range(len(up) - 1):
        s, s_next = up[i], up[i + 1]
        if s_next > s:                     # (a repeated sigma leaves x as it is)
            eval_sigma = s if s > 0 else s_next
            guess = x + (s_next - s) * _eps(denoise, x, eval_sigma)
            for _ in range(refine_iters):  # solve x = guess - (s_next - s)·eps(guess, s_next)
                guess = x + (s_next - s) * _eps(denoise, guess, s_next)
            x = guess
        kept.append(keep(x))
        if callback is not None:
            callback(i, x)
        if on_progress is not None:
            on_progress(i + 1, len(up) - 1)
    return Trajectory(sigmas=sigmas.detach().cpu(), latents=kept[::-1])


def euler_step(x: torch.Tensor, denoised: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """One deterministic Euler (DDIM) step, identical to ComfyUI's `sample_euler` without churn."""
    return x + (sigma_next - sigma) * (x - denoised) / sigma


def euler_sample(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Deterministic sampling from sigmas[0] down to sigmas[-1] (reference for tests)."""
    for i in range(len(sigmas) - 1):
        s = sigmas[i]
        x = euler_step(x, denoise(x, s.expand(x.shape[0])), s, sigmas[i + 1])
    return x


def keep_outside_mask(x: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Latent blend: mask (B|1, 1, H, W) in [0, 1], 1 = may change. Outside the mask → source."""
    if mask is None:
        return x
    return source + (x - source) * mask.to(x)


def resize_mask(mask: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """Image-space mask (H, W) | (B, H, W) | (B, 1, H, W) → (B|1, 1, h, w) at the latent's size.
    Raises ValueError when its aspect ratio does not match the latent's (a mask for another image)."""
    m = mask.float()
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (H, W) or (B, H, W)")
    H, W = m.shape[-2:]
    h, w = latent.shape[-2:]
    if abs(H / W - h / w) > 0.02 or H < h or W < w:
        raise ValueError(f"mask is {W}×{H} but the image is {w * 8}×{h * 8} (latent {w}×{h}); draw the mask on "
                         "the same image (or resize it to the image size)")
    if m.shape[0] not in (1, latent.shape[0]):
        raise ValueError(f"{m.shape[0]} masks for a batch of {latent.shape[0]} latents; give one mask or one per image")
    return torch.nn.functional.interpolate(m, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
