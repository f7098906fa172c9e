"""The training forward: noise a latent the way ComfyUI's sampler does, run the patched model, the family's loss.

UNets (eps prediction): the call is exactly ComfyUI's `BaseModel._apply_model` (input scaling and sigma → timestep
through the model's own `model_sampling`, context cast to the UNet dtype) with the inference patch
`c2d_core.patch.AudioAttentionPatch` in `transformer_options["patches"]` (its `hooks()`), so the trained modules see
the same code path as in ComfyUI. SDXL-type models also get `y`, the ADM vector of ComfyUI's own `encode_adm`
(training/adm.py) from each sample's pooled text embedding and image geometry.

DiTs (flow matching, Flux, SD3.5, Qwen-Image, Z-Image, Chroma): ComfyUI's own `BaseModel.apply_model`, with the
keyword arguments its `extra_conds` makes from the text tokens and pooled vector (Flux's `y` and default guidance,
Z-Image's token count …), and the patch's DiT block entries (`transformer_patches()`). The model's output
v̂ = (x_σ − x̂0) / σ is compared with v = ε − x0, as x_σ = (1 − σ)·x0 + σ·ε (ComfyUI's CONST model_sampling, the
family's shift in its sigmas).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from c2d_core.adapter import AudioAdapter
from c2d_core.families import objective_of
from c2d_core.patch import AudioAttentionPatch

from .adm import adm_vector, default_sizes
from .model_kind import is_dit


@dataclass
class Noise:
    """Everything random about one micro-batch, drawn from a generator seeded by (seed, step, micro, rank)."""

    noise: torch.Tensor        # (B, C, H, W) ε ~ N(0, 1)
    t: torch.Tensor            # (B,) int timestep index into model_sampling.sigmas
    null_audio: torch.Tensor   # (B,) bool: audio dropped (null tokens) for CFG
    null_text: torch.Tensor    # (B,) bool: caption dropped (empty caption) for CFG


def draw_noise(gen: torch.Generator, shape: tuple, n_timesteps: int, audio_dropout: float,
               text_dropout: float) -> Noise:
    B = shape[0]
    return Noise(noise=torch.randn(shape, generator=gen),
                 t=torch.randint(0, n_timesteps, (B,), generator=gen),
                 null_audio=torch.rand(B, generator=gen) < audio_dropout,
                 null_text=torch.rand(B, generator=gen) < text_dropout)


def unet_dtype(base_model) -> torch.dtype:
    """The dtype ComfyUI runs the UNet in (BaseModel._apply_model's rule)."""
    return base_model.manual_cast_dtype or base_model.get_dtype()


def predict_eps(base_model, adapter: AudioAdapter | None, x_noisy: torch.Tensor, sigma: torch.Tensor,
                context: torch.Tensor, clap: torch.Tensor | None, null_audio: torch.Tensor | None = None,
                strength: float = 1.0, y: torch.Tensor | None = None) -> torch.Tensor:
    """ε̂ of the patched UNet. x_noisy: (B, C, H, W) = x0 + σ·ε; sigma: (B,); context: (B, L, ctx_dim);
    clap: (B, clap_dim) or None (adapter off); null_audio: (B,) bool rows that get the null tokens;
    y: (B, adm_channels) ADM vector (SDXL: 2816, training.adm.adm_vector), None for SD1.5."""
    ms = base_model.model_sampling
    dtype = unet_dtype(base_model)
    xc = ms.calculate_input(sigma, x_noisy).to(dtype)
    t = ms.timestep(sigma).float()
    options: dict = {"cond_or_uncond": [0], "sigmas": sigma}
    if adapter is not None and clap is not None:
        patch = AudioAttentionPatch(adapter, clap, strength=strength, train=True, null_rows=null_audio)
        options.update(patch.transformer_patches())
    extra = {} if y is None else {"y": y.to(x_noisy.device, dtype)}
    out = base_model.diffusion_model(xc, t, context=context.to(dtype), transformer_options=options, **extra)
    return out.float()


def dit_conds(base_model, x: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor | None = None) -> dict:
    """apply_model's keyword arguments for a batch: ComfyUI's own `extra_conds` of a conditioning with these tensors
    (c_crossattn; y from the pooled vector; Flux-dev's default guidance 3.5; Z-Image's token count …), batched.
    x: (B, C, H, W) the noisy latent; context: (B, L, D) text tokens; pooled: (B, P) or None."""
    kwargs = {"cross_attn": context, "pooled_output": pooled, "noise": x, "device": x.device}   # the key as a text
                                                                                               # encoder gives it
    return {name: cond.process_cond(batch_size=x.shape[0], device=x.device, area=None).cond
            for name, cond in base_model.extra_conds(**kwargs).items()}


def _pack(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_leaf else t.clone()


def inplace_safe_autograd():
    """Backward through ComfyUI's DiT blocks, which update their own inputs in place (Flux: `img += attn`, after a
    LayerNorm saved `img`): every computed tensor autograd saves is saved as a copy (weights and inputs, the leaves,
    as they are), so the in-place update leaves it intact. Costs one copy of the saved activations; no effect when
    no gradient is being recorded."""
    return torch.autograd.graph.saved_tensors_hooks(_pack, lambda t: t)


def predict_dit(base_model, adapter: AudioAdapter | None, x_noisy: torch.Tensor, sigma: torch.Tensor,
                context: torch.Tensor, clap: torch.Tensor | None, null_audio: torch.Tensor | None = None,
                strength: float = 1.0, pooled: torch.Tensor | None = None, cond_or_uncond: list | None = None,
                train: bool = True) -> torch.Tensor:
    """The DiT's raw output (flow: v̂) through ComfyUI's apply_model. x_noisy: (B, C, H, W); sigma: (B,); context:
    (B, L, D); clap: (B, clap_dim), or (B, frames, clap_dim) for videos (each latent frame hears its own frames,
    c2d_core.frame_audio), or None (adapter off); pooled: (B, P) where the family reads one (Flux, SD3);
    cond_or_uncond: ComfyUI's chunk list ([1, 0]: uncond rows then cond rows, the sampler's CFG batch)."""
    options: dict = {"cond_or_uncond": cond_or_uncond or [0], "sigmas": sigma}
    if adapter is not None and clap is not None:
        if clap.ndim == 3:      # video: (videos, frames, clap_dim), one timeline per video → frame-local audio
            clap = clap.reshape(-1, clap.shape[-1])
        patch = AudioAttentionPatch(adapter, clap, strength=strength, train=train, null_rows=null_audio)
        options.update(patch.transformer_patches())
    image_as_video = getattr(base_model.latent_format, "latent_dimensions", 2) == 3 and x_noisy.ndim == 4
    x = x_noisy.unsqueeze(2) if image_as_video else x_noisy    # Qwen-Image: one frame, as ComfyUI's sampler does
    conds = dit_conds(base_model, x, context, pooled)
    with inplace_safe_autograd():
        denoised = base_model.apply_model(x, sigma, transformer_options=options, **conds)
    v = (x.float() - denoised.float()) / sigma.float().view(-1, *[1] * (x.ndim - 1))
    return v.squeeze(2) if image_as_video else v


def snr_weights(sigma: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-γ weights for ε-prediction (Hang et al. 2023): min(SNR, γ) / SNR with SNR = 1/σ²; 1 where
    the noise is high, γσ² where it is low (those steps say little about the audio). gamma 0: all ones."""
    if gamma <= 0:
        return torch.ones_like(sigma)
    snr = 1.0 / sigma.float() ** 2
    return torch.clamp(snr, max=gamma) / snr


def text_rows(context: torch.Tensor, null_context: torch.Tensor, drop: torch.Tensor,
              context_len: torch.Tensor | None = None) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
    """The conditioning each row is trained with, grouped by text length: [(rows (b,), (b, L, D))], rows None for
    all of them in order. A row's caption
    (its first context_len[i] tokens of the zero-padded (B, Lmax, D) context; all of them when context_len is None)
    or, where `drop`, the empty caption's (L0, D). One group when every row has one length (the usual case: CLIP
    77, T5 256); Qwen-Image's and Z-Image's encoders do not pad, so their captions differ in length."""
    B, Lmax = context.shape[:2]
    null = null_context.to(context)
    lengths = torch.full((B,), Lmax, dtype=torch.long) if context_len is None else context_len.cpu().long()
    lengths = torch.where(drop.cpu(), torch.tensor(null.shape[0]), lengths)
    if context_len is None and null.shape[0] == Lmax:
        return [(None, torch.where(drop.to(context.device).view(-1, 1, 1), null.unsqueeze(0), context))]
    groups = []
    for length in sorted(set(lengths.tolist())):
        rows = (lengths == length).nonzero().view(-1)
        groups.append((rows, torch.stack([null if bool(drop[i]) else context[i, :length] for i in rows.tolist()])))
    return groups


def diffusion_loss(base_model, adapter: AudioAdapter, x0: torch.Tensor, context: torch.Tensor, null_context: torch.Tensor,
                   clap: torch.Tensor, rnd: Noise, snr_gamma: float = 0.0, pooled: torch.Tensor | None = None,
                   null_pooled: torch.Tensor | None = None, sizes: torch.Tensor | None = None,
                   context_len: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of the model's prediction: ε̂ against ε (eps prediction, SD1.5 and SDXL), optionally
    min-SNR-γ weighted, or v̂ against ε − x0 (flow matching, the DiT families).

    x0: (B, C, H, W) latents as the model sees them (after latent_format.process_in); context: (B, L, D), zero-padded
    to the longest caption where context_len (B,) gives each row's length (captions of several lengths are run as
    one model call per length, see text_rows); null_context: (L0, D) the empty caption's embedding; clap:
    (B, clap_dim). pooled (B, P) and null_pooled (P,): SDXL's and Flux's / SD3's pooled text vector (dropped-caption
    rows get the empty caption's, as its negative would); SDXL: sizes (B, 6) each image's geometry
    (training.adm.SIZE_FIELDS; kept when the caption is dropped; None: the latent's pixel size, uncropped)."""
    ms = base_model.model_sampling
    dev = x0.device
    sigma = ms.sigmas.to(dev)[rnd.t.to(dev)].float()
    noise = rnd.noise.to(dev, x0.dtype)
    x_noisy = ms.noise_scaling(sigma, noise, x0)
    drop = rnd.null_text.to(dev)
    null_audio = rnd.null_audio.to(dev)
    if pooled is not None:
        pooled = torch.where(drop.view(-1, 1), null_pooled.to(pooled).unsqueeze(0), pooled)
    dit = is_dit(base_model)
    if dit:
        if objective_of(ms) != "flow":
            raise ValueError("diffusion_loss: the DiT families train with flow matching; this model's sampling is not")
        if snr_gamma > 0:
            raise ValueError("train.snr_gamma weights ε-prediction losses; flow-matching models (DiTs) train with "
                             "plain flow matching: set train.snr_gamma=0")
    y = None
    if not dit and pooled is not None:
        if sizes is None:
            sizes = default_sizes(tuple(x0.shape[2:]), x0.shape[0])
        y = adm_vector(base_model, pooled, sizes)
    parts = []
    for rows, ctx in text_rows(context, null_context, drop, context_len):
        r = slice(None) if rows is None else rows.to(dev)
        sub = lambda t: None if t is None else t[r]          # noqa: E731
        if dit:
            out = predict_dit(base_model, adapter, x_noisy[r], sigma[r], ctx, sub(clap), null_audio[r],
                              pooled=sub(pooled))
        else:
            out = predict_eps(base_model, adapter, x_noisy[r], sigma[r], ctx, sub(clap), null_audio[r], y=sub(y))
        parts.append((r, out))
    pred = parts[0][1] if isinstance(parts[0][0], slice) else torch.empty(
        (x0.shape[0],) + tuple(parts[0][1].shape[1:]), dtype=parts[0][1].dtype, device=dev).index_put_(
        (torch.cat([r for r, _ in parts]),), torch.cat([o for _, o in parts]))
    if dit:
        return F.mse_loss(pred, noise.float() - x0.float())
    if snr_gamma <= 0:
        return F.mse_loss(pred, noise.float())
    per_sample = (pred - noise.float()).square().flatten(1).mean(1)          # (B,)
    return (snr_weights(sigma, snr_gamma) * per_sample).mean()
