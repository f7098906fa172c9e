"""A small deterministic sampler for evaluation (Euler on the model's own sigmas, eps prediction).

Classifier-free guidance runs the way ComfyUI batches it: one UNet call on [uncond; cond] rows with
`cond_or_uncond = [1, 0]` and the inference patch (`train=False`), so uncond rows get the adapter's
null tokens exactly as in the nodes. With `uncond_context` (the empty caption) the uncond rows drop
the caption too: one scale for text and audio, as KSampler with an empty negative prompt. SDXL-type
models take `y` (training.adm.adm_vector) for the cond rows and `uncond_y` (the empty caption's pooled
embedding, same sizes) for the uncond rows. DiTs (flow: the model's output is v, and x_σ = (1 − σ)·x0 + σ·ε, so
the same Euler step x += v·Δσ from x = ε at σ = 1) take `pooled` / `uncond_pooled` (Flux, SD3) instead of y.
"""
from __future__ import annotations

import torch

from c2d_core.patch import AudioAttentionPatch

from .model_kind import is_dit
from .objective import predict_dit, unet_dtype


def sigma_schedule(model_sampling, steps: int) -> torch.Tensor:
    """`steps` sigmas evenly spaced in timestep from the largest to the smallest, then 0: (steps + 1,)."""
    sig = model_sampling.sigmas.float().cpu()
    idx = torch.linspace(len(sig) - 1, 0, steps).round().long()
    return torch.cat([sig[idx], torch.zeros(1)])


@torch.no_grad()
def guided_eps(base_model, adapter, x: torch.Tensor, sigma: float, context: torch.Tensor, clap: torch.Tensor | None,
               audio_cfg: float = 1.0, strength: float = 1.0, uncond_context: torch.Tensor | None = None,
               y: torch.Tensor | None = None, uncond_y: torch.Tensor | None = None,
               pooled: torch.Tensor | None = None, uncond_pooled: torch.Tensor | None = None) -> torch.Tensor:
    """x: (B, C, H, W), context: (B, L, D), clap: (B, clap_dim), uncond_context: (L, D) or None (uncond rows keep
    the caption); SDXL: y (B, adm) and uncond_y (B, adm) (None: the uncond rows get y); DiTs: pooled (B, P) and
    uncond_pooled (P,) where the family reads one → the guided model output (ε̂ or v̂), (B, C, H, W)."""
    B = x.shape[0]
    guided = adapter is not None and clap is not None and audio_cfg != 1.0
    if not guided:
        return _output(base_model, adapter, x, float(sigma), context, clap, strength, [0], y, pooled)
    drop_text = uncond_context is not None
    u_ctx = uncond_context.to(context).unsqueeze(0).expand(B, -1, -1) if drop_text else context
    u_y = uncond_y if uncond_y is not None and drop_text else y
    u_pooled = (uncond_pooled.to(pooled).expand_as(pooled) if pooled is not None and drop_text
                and uncond_pooled is not None else pooled)
    if u_ctx.shape[1] != context.shape[1]:   # the empty caption has another length (Qwen-Image, Z-Image): two calls
        uncond = _output(base_model, adapter, x, float(sigma), u_ctx, clap, strength, [1], u_y, u_pooled)
        cond = _output(base_model, adapter, x, float(sigma), context, clap, strength, [0], y, pooled)
    else:
        cat = lambda a, b: None if b is None else torch.cat([a, b])   # noqa: E731
        out = _output(base_model, adapter, torch.cat([x, x]), float(sigma), torch.cat([u_ctx, context]), clap,
                      strength, [1, 0], cat(u_y, y), cat(u_pooled, pooled))
        uncond, cond = out[:B], out[B:]
    return uncond + audio_cfg * (cond - uncond)


def _output(base_model, adapter, xs, sigma: float, ctx, clap, strength, cond_or_uncond: list, y=None, pooled=None):
    """The model's raw output (ε̂ or v̂) for rows xs, made of len(cond_or_uncond) chunks (1: uncond, 0: cond) as
    ComfyUI batches them; clap (B, …) is each chunk's."""
    s = torch.full((xs.shape[0],), sigma, device=xs.device)
    if is_dit(base_model):
        return predict_dit(base_model, adapter, xs, s, ctx, clap, strength=strength, pooled=pooled,
                           cond_or_uncond=cond_or_uncond, train=False)
    ms = base_model.model_sampling
    dtype = unet_dtype(base_model)
    options: dict = {"cond_or_uncond": cond_or_uncond, "sigmas": s}
    if adapter is not None and clap is not None:
        patch = AudioAttentionPatch(adapter, clap, strength=strength)
        options.update(patch.transformer_patches())
    xc = ms.calculate_input(s, xs).to(dtype)
    extra = {} if y is None else {"y": y.to(xs.device, dtype)}
    return base_model.diffusion_model(xc, ms.timestep(s).float(), context=ctx.to(dtype),
                                      transformer_options=options, **extra).float()


@torch.no_grad()
def sample(base_model, adapter, shape: tuple, context: torch.Tensor, clap: torch.Tensor | None, *, steps: int = 20,
           audio_cfg: float = 1.0, seed: int = 0, strength: float = 1.0, device="cpu",
           uncond_context: torch.Tensor | None = None, y: torch.Tensor | None = None,
           uncond_y: torch.Tensor | None = None, pooled: torch.Tensor | None = None,
           uncond_pooled: torch.Tensor | None = None) -> torch.Tensor:
    """Euler sampling from pure noise to x0 (in the model's latent space): (B, C, H, W); y / uncond_y: SDXL's ADM
    vectors of the cond / uncond rows, pooled / uncond_pooled: a DiT's pooled text vectors (guided_eps)."""
    sigmas = sigma_schedule(base_model.model_sampling, steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g).to(device) * sigmas[0]
    for i in range(steps):
        eps = guided_eps(base_model, adapter, x, float(sigmas[i]), context, clap, audio_cfg, strength, uncond_context,
                         y=y, uncond_y=uncond_y, pooled=pooled, uncond_pooled=uncond_pooled)
        x = x + eps * (sigmas[i + 1] - sigmas[i])
    return x
