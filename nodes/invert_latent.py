"""Invert Latent: the noise latent that regenerates an image, with its trajectory kept for the edit sampler."""
from __future__ import annotations

import torch

from ..c2d_core.inversion import Trajectory
from .comfy_api_pin import io
from .edit_common import INVERSION_KEY, InversionRecord, check_latent, inversion_sampler
from .types import CATEGORY


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
        check_latent(model, samples)
        holder: list[Trajectory] = []
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, positive)
        guider.set_cfg(1.0)
        noise = torch.zeros_like(samples)
        steps = len(sigmas) - 1  # the host's progress bar (and preview) advances once per inversion step
        out = guider.sample(noise, samples, inversion_sampler(refine_steps, holder), sigmas.cpu(),
                            callback=latent_preview.prepare_callback(model, steps), seed=0, disable_pbar=False)
        record = InversionRecord.of(holder[-1], model)
        result = {k: v for k, v in latent.items() if k not in ("noise_mask", INVERSION_KEY)}
        result["samples"] = out
        result[INVERSION_KEY] = record
        return io.NodeOutput(result)
