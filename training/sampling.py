"""A small deterministic sampler for evaluation (Euler on the model's own sigmas, eps prediction).

Classifier-free guidance runs the way ComfyUI batches it: one UNet call on [uncond; cond] rows with
`cond_or_uncond = [1, 0]` and the inference patch (`train=False`), so uncond rows get the adapter's
null tokens exactly as in the nodes. With `uncond_context` (the empty caption) the uncond rows drop
the caption too: one scale for text and audio, as KSampler with an empty negative prompt. SDXL-type
models take `y` (training.adm.adm_vector) for the cond rows and `uncond_y` (the empty caption's pooled
embedding, same sizes) for the uncond rows.
"""
from __future__ import annotations

import torch

from c2d_core.patch import AudioAttentionPatch

from .objective import unet_dtype


def sigma_schedule(model_sampling, steps: int) -> torch.Tensor:
    """`steps` sigmas evenly spaced in timestep from the largest to the smallest, then 0: (steps + 1,)."""
    sig = model_sampling.sigmas.float().cpu()
    idx = torch.linspace(len(sig) - 1, 0, steps).round().long()
    return torch.cat([sig[idx], torch.zeros(1)])


@torch.no_grad()
def guided_eps(base_model, adapter, x: torch.Tensor, sigma: float, context: torch.Tensor, clap: torch.Tensor | None,
               audio_cfg: float = 1.0, strength: float = 1.0, uncond_context: torch.Tensor | None = None,
               y: torch.Tensor | None = None, uncond_y: torch.Tensor | None = None) -> torch.Tensor:
    """x: (B, C, H, W), context: (B, L, D), clap: (B, clap_dim), uncond_context: (L, D) or None (uncond rows keep
    the caption); SDXL: y (B, adm) and uncond_y (B, adm) (None: the uncond rows get y) → guided ε̂ (B, C, H, W)."""
    ms = base_model.model_sampling
    dtype = unet_dtype(base_model)
    B = x.shape[0]
    guided = adapter is not None and clap is not None and audio_cfg != 1.0
    rows = 2 if guided else 1
    xs = torch.cat([x] * rows)
    s = torch.full((B * rows,), float(sigma), device=x.device)
    options: dict = {"cond_or_uncond": [1, 0] if guided else [0], "sigmas": s}
    if adapter is not None and clap is not None:
        patch = AudioAttentionPatch(adapter, clap, strength=strength)
        options.update(patch.transformer_patches())
    xc = ms.calculate_input(s, xs).to(dtype)
    if guided and uncond_context is not None:
        ctx = torch.cat([uncond_context.to(context).expand_as(context), context])
    else:
        ctx = torch.cat([context] * rows)
    extra = {}
    if y is not None:
        ys = torch.cat([uncond_y if uncond_y is not None and uncond_context is not None else y, y]) if guided else y
        extra["y"] = ys.to(x.device, dtype)
    out = base_model.diffusion_model(xc, ms.timestep(s).float(), context=ctx.to(dtype),
                                     transformer_options=options, **extra).float()
    if not guided:
        return out
    uncond, cond = out[:B], out[B:]
    return uncond + audio_cfg * (cond - uncond)


@torch.no_grad()
def sample(base_model, adapter, shape: tuple, context: torch.Tensor, clap: torch.Tensor | None, *, steps: int = 20,
           audio_cfg: float = 1.0, seed: int = 0, strength: float = 1.0, device="cpu",
           uncond_context: torch.Tensor | None = None, y: torch.Tensor | None = None,
           uncond_y: torch.Tensor | None = None) -> torch.Tensor:
    """Euler sampling from pure noise to x0 (in the UNet's latent space): (B, C, H, W); y / uncond_y: SDXL's ADM
    vectors of the cond / uncond rows (guided_eps)."""
    sigmas = sigma_schedule(base_model.model_sampling, steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g).to(device) * sigmas[0]
    for i in range(steps):
        eps = guided_eps(base_model, adapter, x, float(sigmas[i]), context, clap, audio_cfg, strength, uncond_context,
                         y=y, uncond_y=uncond_y)
        x = x + eps * (sigmas[i + 1] - sigmas[i])
    return x
