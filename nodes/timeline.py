from .comfy_api_pin import io

from ..c2d_core.embeds import AudioEmbeds as AudioEmbedsData
from ..c2d_core.timeline import SNAPS, encode_timeline
from .audio_input import read_audio
from .progress import progress_callback
from .types import CATEGORY, AudioEmbeds, ClapModel


def frame_inputs(window_min: float = 0.1, window_max: float = 10.0,
                 window_tooltip: str = "length of audio each frame hears, centred on the frame") -> list:
    """The per-frame inputs every timeline node takes: fps, window_seconds, frame_count, snap."""
    return [
        io.Float.Input("fps", default=8.0, min=0.1, max=120.0, step=0.1,
                       tooltip="frames per second of the video / animation the embeddings drive"),
        io.Float.Input("window_seconds", default=1.0, min=window_min, max=window_max, step=0.1, tooltip=window_tooltip),
        io.Int.Input("frame_count", default=0, min=0, max=100000, tooltip="0 = round(duration × fps)"),
        io.Combo.Input("snap", options=list(SNAPS), default="none",
                       tooltip="multiple_of_16: AnimateDiff context windows; 8n+1: LTX-style models"),
    ]


def frame_outputs() -> list:
    """The outputs every timeline node ends with: frame_count, fps, loudness."""
    return [io.Int.Output(display_name="frame_count", tooltip="number of frames: connect it to the latent batch size"),
            io.Float.Output(display_name="fps", tooltip="the fps used, for the animation / video saver"),
            io.Float.Output(display_name="loudness", tooltip="per-frame RMS, peak = 1 (a FLOAT list)")]


class C2DAudioTimeline(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioTimeline",
            display_name="Audio Timeline (per-frame CLAP, C2D)",
            category=CATEGORY,
            description="One CLAP embedding per video frame (window centred on each frame), so a latent batch gets "
                        "one sound per image; also the frame count, fps and a loudness envelope that Apply Audio "
                        "Adapter takes as a per-image strength schedule. Long clips are streamed window by window.",
            inputs=[
                ClapModel.Input("clap", tooltip="CLAP encoder from Load CLAP Model"),
                io.Audio.Input("audio", tooltip="core AUDIO or a VideoHelperSuite audio output"),
            ] + frame_inputs(),
            outputs=[AudioEmbeds.Output(display_name="embeds", tooltip="one embedding per frame")] + frame_outputs(),
        )

    @classmethod
    def execute(cls, clap, audio, fps, window_seconds, frame_count, snap) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        embeds, loud = encode_timeline(clap, waveform, rate, fps, window_seconds, frame_count, snap,
                                       on_progress=progress_callback())
        data = AudioEmbedsData(embeds=embeds.float().cpu(), clap_model_id=clap.model_id, clap_dim=clap.embed_dim)
        return io.NodeOutput(data, embeds.shape[0], float(fps), loud.tolist())
