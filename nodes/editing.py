"""Audio-driven editing: DDIM inversion and the structure-preserving edit sampler.

Stock composition: `C2DInvertLatent` (or the `C2DInversionSampler` SAMPLER in `SamplerCustom`) turns
the source latent into its noise latent; `SamplerCustom` (add_noise off, the same SIGMAS) with the
`C2DAudioEditSampler` SAMPLER and the audio-patched MODEL regenerates it with the sound.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from .comfy_api_pin import io

from ..c2d_core.errors import C2DError
from ..c2d_core.inversion import Trajectory, euler_step, invert, keep_outside_mask, resize_mask
from ..c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState
from .types import CATEGORY

INVERSION_KEY = "c2d_inversion"


class EditInputError(C2DError):
    """Inputs of the edit nodes do not belong together."""


@dataclass
class InversionRecord:
    """Kept with the inverted LATENT: the trajectory (model space, CPU) and what made it."""

    trajectory: Trajectory
    model_id: int           # id() of the diffusion model object that inverted it
    model_name: str


def _denoiser(model_k, extra_args):
    return lambda x, s: model_k(x, s, **extra_args)


def _inversion_sampler(refine_steps: int, holder: list | None = None):
    import comfy.samplers

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = dict(extra_args or {})
        if extra_args.get("denoise_mask") is not None:
            raise EditInputError("inversion does not take a noise mask; connect the mask to the Audio Edit Sampler")
        traj = invert(_denoiser(model, extra_args), x, sigmas, refine_iters=refine_steps,
                      callback=(lambda i, xi: callback({"i": i, "x": xi, "denoised": xi, "sigma": sigmas[i],
                                                        "sigma_hat": sigmas[i]})) if callback else None)
        if holder is not None:
            holder.append(traj)
        return traj.noise_latent.to(x)
    return comfy.samplers.KSAMPLER(sample)


def _check_latent(model, samples: torch.Tensor) -> None:
    want = model.model.latent_format.latent_channels
    if samples.ndim != 4 or samples.shape[1] != want:
        raise EditInputError(f"latent has shape {tuple(samples.shape)} but this model works on {want}-channel latents; "
                             "encode the image with this model's VAE (VAE Encode)")


class C2DInversionSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DInversionSampler",
            display_name="DDIM Inversion Sampler (C2D)",
            category=CATEGORY,
            description="A SAMPLER for SamplerCustom that runs the deterministic (DDIM/Euler) ODE backwards: "
                        "use add_noise off, cfg 1, the usual (descending) SIGMAS; the output LATENT is the noise "
                        "that regenerates the image with an euler/ddim sampler.",
            inputs=[io.Int.Input("refine_steps", default=2, min=0, max=20,
                                 tooltip="fixed-point iterations per step (more model calls, exacter inversion)")],
            outputs=[io.Sampler.Output(tooltip="for SamplerCustom (add_noise off, cfg 1): inverts instead of sampling")],
        )

    @classmethod
    def execute(cls, refine_steps) -> io.NodeOutput:
        return io.NodeOutput(_inversion_sampler(refine_steps))


class C2DInvertLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DInvertLatent",
            display_name="Invert Latent (DDIM, C2D)",
            category=CATEGORY,
            description="Inverts an image latent to the noise latent that regenerates it and keeps the trajectory "
                        "for the Audio Edit Sampler. Sample the result with SamplerCustom (add_noise off, the same "
                        "SIGMAS).",
            inputs=[
                io.Model.Input("model", tooltip="the base model (without audio) the edit will use"),
                io.Conditioning.Input("positive", tooltip="a prompt describing the source image"),
                io.Latent.Input("latent", tooltip="the source image's latent (VAE Encode)"),
                io.Sigmas.Input("sigmas", tooltip="the schedule the edit will use (e.g. BasicScheduler)"),
                io.Int.Input("refine_steps", default=2, min=0, max=20,
                             tooltip="fixed-point iterations per step: 0 = plain DDIM inversion"),
            ],
            outputs=[io.Latent.Output(display_name="inverted", tooltip="noise latent + kept trajectory")],
        )

    @classmethod
    def execute(cls, model, positive, latent, sigmas, refine_steps) -> io.NodeOutput:
        import comfy.samplers
        import latent_preview

        samples = latent["samples"]
        _check_latent(model, samples)
        holder: list[Trajectory] = []
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, positive)
        guider.set_cfg(1.0)
        noise = torch.zeros_like(samples)
        steps = len(sigmas) - 1  # the host's progress bar (and preview) advances once per inversion step
        out = guider.sample(noise, samples, _inversion_sampler(refine_steps, holder), sigmas.cpu(),
                            callback=latent_preview.prepare_callback(model, steps), seed=0, disable_pbar=False)
        record = InversionRecord(holder[-1], id(model.model), type(model.model).__name__)
        result = {k: v for k, v in latent.items() if k not in ("noise_mask", INVERSION_KEY)}
        result["samples"] = out
        result[INVERSION_KEY] = record
        return io.NodeOutput(result)


def _check_decoder_blocks(base, feature_block: int, attention_block: int) -> None:
    """The PnP blocks must exist in this UNet (SD1.5 has 12 decoder blocks; smaller UNets fewer): ask it."""
    blocks = getattr(getattr(base, "diffusion_model", None), "output_blocks", None)
    if blocks is None:
        return
    n = len(blocks)
    # features are taken as the output of block feature_block, i.e. at the input of block feature_block + 1
    if feature_block > n - 2:
        raise EditInputError(f"feature_block {feature_block} does not exist in this model: its UNet has {n} decoder "
                             f"blocks, so features can be copied from blocks 0-{n - 2}; lower feature_block")
    if attention_block > n - 1:
        raise EditInputError(f"attention_block {attention_block} does not exist in this model: its UNet has {n} "
                             f"decoder blocks (0-{n - 1}); lower attention_block")


def _edit_sampler(record: InversionRecord, feature_fraction: float, attention_fraction: float, mask,
                  feature_block: int = 4, attention_block: int = 4):
    import comfy.samplers

    traj = record.trajectory

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = dict(extra_args or {})
        base = model.inner_model.inner_model
        if id(base) != record.model_id:
            raise EditInputError(f"the latent was inverted with another model ({record.model_name}); invert it with "
                                 "the same checkpoint the edit samples with")
        if sigmas.shape != traj.sigmas.shape or not torch.allclose(sigmas.cpu().float(), traj.sigmas.float(),
                                                                    rtol=1e-4, atol=1e-5):
            raise EditInputError(f"the edit samples {len(sigmas) - 1} steps over other sigmas than the inversion "
                                 f"({len(traj.sigmas) - 1} steps); connect the same SIGMAS to both")
        _check_decoder_blocks(base, feature_block, attention_block)
        m = extra_args.pop("denoise_mask", None)
        if mask is not None:
            m = resize_mask(mask, x)
        elif m is not None:
            m = m[:, :1] if m.ndim == 4 else m
        extra_args["denoise_mask"] = None
        state = PnPState(feature_block=feature_block, attention_from=attention_block)
        opts = extra_args["model_options"] = dict(extra_args.get("model_options") or {})
        to = opts["transformer_options"] = dict(opts.get("transformer_options") or {})
        patches = to["patches"] = {k: list(v) for k, v in (to.get("patches") or {}).items()}
        patches.setdefault("attn1_patch", []).append(PnPAttentionPatch(state))
        patches.setdefault("output_block_patch", []).append(PnPFeaturePatch(state))
        opts["model_function_wrapper"] = SourceRowOnce(opts.get("model_function_wrapper"))
        steps = len(sigmas) - 1
        B = x.shape[0]
        src = traj.noise_latent.to(x)[:1]  # the source row regenerates the source from its noise, beside the edit
        for i in range(steps):
            s = sigmas[i]
            state.features = i < round(feature_fraction * steps)
            state.attention = i < round(attention_fraction * steps)
            den = model(torch.cat([src, x]), s * x.new_ones(B + 1), **extra_args)
            src = euler_step(src, den[:1], s, sigmas[i + 1])
            x = euler_step(x, den[1:], s, sigmas[i + 1])
            if m is not None:
                x = keep_outside_mask(x, traj.at(i + 1).to(x)[:1].expand_as(x), m)
            if callback is not None:
                callback({"i": i, "x": x, "denoised": den[1:], "sigma": s, "sigma_hat": s})
        return x
    return comfy.samplers.KSAMPLER(sample)


class SourceRowOnce:
    """`model_function_wrapper` for the edit pass. The sampler's batch is [source, edit…] and ComfyUI
    repeats it per CFG chunk; the source needs only its cond row (it regenerates the source like the
    cfg-1 inversion), so its uncond copy is dropped before the UNet call and filled with the cond
    output after it (CFG then leaves the source at its cond prediction). Rows are described to the
    patches by a `c2d_rows` plan: the source is "plain" (no audio), edit rows audio / null."""

    def __init__(self, inner=None):
        self.inner = inner

    def __call__(self, apply_model, args):
        x, t, c, chunks = args["input"], args["timestep"], dict(args["c"]), list(args["cond_or_uncond"])
        N, per = x.shape[0], x.shape[0] // len(chunks)
        cond_src = next((k * per for k, cu in enumerate(chunks) if cu == 0), 0)
        keep, plan = [], []
        for k, cu in enumerate(chunks):
            for j in range(per):
                r = k * per + j
                if j == 0 and r != cond_src:
                    continue
                keep.append(r)
                plan.append(("plain", -1) if j == 0 else ("null" if cu == 1 else "audio", j - 1))
        idx = torch.tensor(keep, device=x.device)
        c = {k: (v.index_select(0, idx.to(v.device)) if torch.is_tensor(v) and v.ndim and v.shape[0] == N else v)
             for k, v in c.items()}
        c["transformer_options"] = {**c.get("transformer_options", {}), "c2d_rows": plan}
        sub = {"input": x.index_select(0, idx), "timestep": t.index_select(0, idx.to(t.device)), "c": c,
               "cond_or_uncond": chunks}
        out_kept = self.inner(apply_model, sub) if self.inner else apply_model(sub["input"], sub["timestep"], **c)
        out = out_kept.new_empty((N, *out_kept.shape[1:]))
        out[idx] = out_kept
        for k in range(len(chunks)):
            if k * per != cond_src:
                out[k * per] = out_kept[keep.index(cond_src)]
        return out


class C2DAudioEditSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioEditSampler",
            display_name="Audio Edit Sampler (PnP, C2D)",
            category=CATEGORY,
            description="A SAMPLER for SamplerCustom that edits an inverted image with the audio-patched model while "
                        "keeping its structure (Plug-and-Play: the source's decoder features and self-attention "
                        "q/k are copied into the edit for the first fraction of the steps). A mask (or a latent "
                        "noise mask) limits where the sound may change the image.",
            inputs=[
                io.Latent.Input("inverted", tooltip="from Invert Latent: carries the source trajectory"),
                io.Float.Input("feature_fraction", default=0.8, min=0.0, max=1.0, step=0.05,
                               tooltip="fraction of the steps that copy the source's decoder features"),
                io.Float.Input("attention_fraction", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="fraction of the steps that copy the source's self-attention q/k"),
                io.Int.Input("feature_block", default=4, min=0, max=10, optional=True,
                             tooltip="decoder (output) block whose features are copied: 4 as in Plug-and-Play; "
                                     "later blocks keep more of the source's look"),
                io.Int.Input("attention_block", default=4, min=0, max=11, optional=True,
                             tooltip="first decoder (output) block whose self-attention q/k are copied (this block "
                                     "and every later one): 4 as in Plug-and-Play for SD1.5"),
                io.Mask.Input("mask", optional=True, tooltip="white = the sound may change it; elsewhere the source is kept"),
            ],
            outputs=[io.Sampler.Output(tooltip="for SamplerCustom with the audio-patched model and the inversion's SIGMAS, add_noise off")],
        )

    @classmethod
    def execute(cls, inverted, feature_fraction, attention_fraction, feature_block=4, mask=None,
                attention_block=4) -> io.NodeOutput:
        record = inverted.get(INVERSION_KEY)
        if record is None or type(record).__name__ != "InversionRecord":
            raise EditInputError("this LATENT carries no inversion; connect the output of Invert Latent (C2D)")
        if record.trajectory.source.shape[0] != 1:
            raise EditInputError(f"the inverted latent holds {record.trajectory.source.shape[0]} images; invert and "
                                 "edit one image at a time")
        if mask is not None:
            resize_mask(mask, record.trajectory.source)  # size errors now, not mid-sampling
        return io.NodeOutput(_edit_sampler(record, feature_fraction, attention_fraction, mask, feature_block,
                                            attention_block))
