from .comfy_api_pin import io

from ..c2d_core.embed_math import blend, slerp
from ..c2d_core.embeds import AudioEmbeds as AudioEmbedsData
from .types import CATEGORY, AudioEmbeds


def _wrap(template, embeds):
    return AudioEmbedsData(embeds=embeds.float(), clap_model_id=template.clap_model_id, clap_dim=template.clap_dim)


class C2DBlendAudioEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DBlendAudioEmbeds",
            display_name="Blend Audio Embeds (C2D)",
            category=CATEGORY,
            description="Weighted mix of two to four sounds in CLAP space (e.g. rain 0.7 + birds 0.3; a negative "
                        "weight subtracts a sound). The result is renormalised like a CLAP embedding.",
            inputs=[AudioEmbeds.Input("embeds_1", tooltip="sound 1 (from CLAP Encode Audio or Sound Prompt)"), io.Float.Input("weight_1", default=1.0, min=-2.0, max=2.0, step=0.05, tooltip="weight of sound 1; negative subtracts it"),
                    AudioEmbeds.Input("embeds_2", tooltip="sound 2 (from CLAP Encode Audio or Sound Prompt)"), io.Float.Input("weight_2", default=1.0, min=-2.0, max=2.0, step=0.05, tooltip="weight of sound 2; negative subtracts it"),
                    AudioEmbeds.Input("embeds_3", tooltip="sound 3 (from CLAP Encode Audio or Sound Prompt)", optional=True),
                    io.Float.Input("weight_3", default=1.0, min=-2.0, max=2.0, step=0.05, tooltip="weight of sound 3; negative subtracts it", optional=True),
                    AudioEmbeds.Input("embeds_4", tooltip="sound 4 (from CLAP Encode Audio or Sound Prompt)", optional=True),
                    io.Float.Input("weight_4", default=1.0, min=-2.0, max=2.0, step=0.05, tooltip="weight of sound 4; negative subtracts it", optional=True)],
            outputs=[AudioEmbeds.Output(display_name="embeds", tooltip="the mixed sound, renormalised")],
        )

    @classmethod
    def execute(cls, embeds_1, weight_1, embeds_2, weight_2, embeds_3=None, weight_3=1.0, embeds_4=None,
                weight_4=1.0) -> io.NodeOutput:
        pairs = [(e, w) for e, w in ((embeds_1, weight_1), (embeds_2, weight_2), (embeds_3, weight_3),
                                     (embeds_4, weight_4)) if e is not None]
        return io.NodeOutput(_wrap(embeds_1, blend([e.embeds for e, _ in pairs], [w for _, w in pairs])))


class C2DInterpolateAudioEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DInterpolateAudioEmbeds",
            display_name="Interpolate Audio Embeds (C2D)",
            category=CATEGORY,
            description="Spherical interpolation from sound A to sound B; with frames > 1 gives one embedding per "
                        "frame (t from 0 to 1) for a latent batch, e.g. a morph animation.",
            inputs=[AudioEmbeds.Input("embeds_a", tooltip="sound A (t = 0)"),
                    AudioEmbeds.Input("embeds_b", tooltip="sound B (t = 1)"),
                    io.Float.Input("t", default=0.5, min=0.0, max=1.0, step=0.01, tooltip="0 = A, 1 = B (frames = 1)"),
                    io.Int.Input("frames", default=1, min=1, max=4096, tooltip=">1: a sweep from A to B, one row per frame")],
            outputs=[AudioEmbeds.Output(display_name="embeds", tooltip="one embedding, or one per frame when frames > 1")],
        )

    @classmethod
    def execute(cls, embeds_a, embeds_b, t, frames) -> io.NodeOutput:
        import torch
        a, b = embeds_a.embeds[:1], embeds_b.embeds[:1]
        if frames == 1:
            out = slerp(embeds_a.embeds, embeds_b.embeds, t)
        else:
            out = torch.cat([slerp(a, b, i / (frames - 1)) for i in range(frames)])
        return io.NodeOutput(_wrap(embeds_a, out))
