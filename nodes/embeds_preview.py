from .comfy_api_pin import io, ui

from ..c2d_core.embeds_preview import render_preview
from .types import CATEGORY, AudioEmbeds


class C2DAudioEmbedsPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioEmbedsPreview",
            display_name="Preview Audio Embeds (C2D)",
            category=CATEGORY,
            description="Shows how the sound changes over time: the frame × frame CLAP similarity matrix of a "
                        "timeline (time runs left → right and top → bottom; yellow = alike, dark = different, "
                        "scaled to this clip's range), so each block on the diagonal is a stretch of similar sound. "
                        "With the loudness connected, a strip below shows each frame's loudness as a bar.",
            inputs=[
                AudioEmbeds.Input("embeds", tooltip="from Audio Timeline (one row per frame) or any AUDIO_EMBEDS"),
                io.Float.Input("loudness", optional=True, force_input=True,
                               tooltip="optional: the loudness output of the same Audio Timeline"),
                io.Int.Input("size", default=512, min=64, max=2048, step=8, tooltip="width of the image in pixels"),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the similarity matrix (and loudness strip)")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, embeds, size, loudness=None) -> io.NodeOutput:
        if isinstance(loudness, (int, float)):  # a single FLOAT: one frame
            loudness = [loudness]
        image = render_preview(embeds.embeds, loudness, size)[None]  # (1, H, W, 3)
        return io.NodeOutput(image, ui=ui.PreviewImage(image, cls=cls))
