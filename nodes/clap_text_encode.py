from .comfy_api_pin import io

from ..c2d_core.clap.text import split_prompt_lines
from ..c2d_core.embed_math import blend
from ..c2d_core.embeds import AudioEmbeds as AudioEmbedsData
from ..c2d_core.errors import SoundPromptError
from .types import CATEGORY, AudioEmbeds, ClapModel

LINE_MODES = ("average", "one_per_image")


class C2DCLAPTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DCLAPTextEncode",
            display_name="CLAP Sound Prompt (C2D)",
            category=CATEGORY,
            description="Describes a sound in words instead of a recording: CLAP's text tower puts "
                        "\"thunderstorm with heavy rain\" into the same embedding space as audio, so the output "
                        "goes wherever CLAP Encode Audio's does (Apply Audio Adapter, Blend, Interpolate, Guider). "
                        "The text tower is loaded on first use.",
            inputs=[
                ClapModel.Input("clap", tooltip="from Load CLAP Model (a Hugging Face CLAP folder with its tokenizer "
                                                "files, a LAION-CLAP .pt with roberta-base/ next to it, or "
                                                "CLAP_weights_2022.pth with bert-base-uncased/ next to it)"),
                io.String.Input("text", multiline=True, default="thunderstorm with heavy rain",
                                tooltip="what should be heard; one prompt per line (empty lines are ignored)"),
                io.Combo.Input("lines", options=list(LINE_MODES), default="average",
                               tooltip="average: all lines mixed into one sound for the whole batch; "
                                       "one_per_image: line i drives image i (as many lines as latent images)"),
            ],
            outputs=[AudioEmbeds.Output(display_name="embeds",
                                        tooltip="CLAP embeddings of the prompt(s), like audio embeddings")],
        )

    @classmethod
    def execute(cls, clap, text, lines="average") -> io.NodeOutput:
        prompts = split_prompt_lines(text)
        if not prompts:
            raise SoundPromptError("CLAP Sound Prompt: the text is empty; type what should be heard, e.g. "
                                   "\"crackling fire\" (one prompt per line)")
        embeds = clap.encode_text(prompts).float().cpu()  # (N, D), unit rows
        if lines == "average" and len(prompts) > 1:
            embeds = blend(list(embeds.split(1)), [1.0 / len(prompts)] * len(prompts))  # (1, D), renormalised
        return io.NodeOutput(AudioEmbedsData(embeds=embeds, clap_model_id=clap.model_id, clap_dim=clap.embed_dim))
