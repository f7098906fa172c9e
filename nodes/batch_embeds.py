import torch
from .comfy_api_pin import io

from ..c2d_core.embeds import AudioEmbeds as AudioEmbedsData
from ..c2d_core.errors import AdapterMismatchError
from .types import CATEGORY, AudioEmbeds


class C2DBatchAudioEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DBatchAudioEmbeds",
            display_name="Batch Audio Embeds (C2D)",
            category=CATEGORY,
            description="Stacks two AUDIO_EMBEDS so each image of a latent batch gets its own sound "
                        "(rows of embeds_1, then rows of embeds_2).",
            inputs=[AudioEmbeds.Input("embeds_1", tooltip="first clip(s)"),
                    AudioEmbeds.Input("embeds_2", tooltip="next clip(s)")],
            outputs=[AudioEmbeds.Output(display_name="embeds", tooltip="one row per image")],
        )

    @classmethod
    def execute(cls, embeds_1, embeds_2) -> io.NodeOutput:
        if embeds_1.clap_dim != embeds_2.clap_dim:
            raise AdapterMismatchError(
                f"cannot batch {embeds_1.clap_dim}-d and {embeds_2.clap_dim}-d CLAP embeddings: encode both clips "
                "with the same CLAP model")
        return io.NodeOutput(AudioEmbedsData(embeds=torch.cat([embeds_1.embeds, embeds_2.embeds]),
                                             clap_model_id=embeds_1.clap_model_id, clap_dim=embeds_1.clap_dim))
