"""DDIM Inversion Sampler: the inversion as a SAMPLER for stock SamplerCustom."""
from __future__ import annotations

from .comfy_api_pin import io
from .edit_common import inversion_sampler
from .types import CATEGORY


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
        return io.NodeOutput(inversion_sampler(refine_steps))
