from .audio_input import read_audio
from .comfy_api_pin import io

from ..c2d_core.embeds import AudioEmbeds as AudioEmbedsData
from .progress import progress_callback
from .types import CATEGORY, AudioEmbeds, ClapModel


class C2DCLAPEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DCLAPEncode",
            display_name="CLAP Encode Audio (C2D)",
            category=CATEGORY,
            description="Embeds audio with CLAP: mixed to mono, resampled to the encoder's rate (48 kHz LAION, "
                        "44.1 kHz Microsoft CLAP), long clips split into 10 s windows and averaged (Microsoft CLAP: "
                        "a window under 10 s is repeated to 10 s). One embedding per clip in the AUDIO batch.",
            inputs=[
                ClapModel.Input("clap", tooltip="from Load CLAP Model"),
                io.Audio.Input("audio", tooltip="any sample rate and channel count"),
            ],
            outputs=[AudioEmbeds.Output(display_name="embeds", tooltip="CLAP audio embeddings, one per clip")],
        )

    @classmethod
    def execute(cls, clap, audio) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        embeds = clap.encode(waveform, rate, on_progress=progress_callback()).float().cpu()
        return io.NodeOutput(AudioEmbedsData(embeds=embeds, clap_model_id=clap.model_id, clap_dim=clap.embed_dim))
