"""AudioToken per video frame: each frame's window of the clip → its token → one conditioning row per frame."""
from .comfy_api_pin import io

from ..c2d_core.audiotoken.prompt import check_prompt
from ..c2d_core.audiotoken.token import TokenWindows
from ..c2d_core.timeline import SNAPS, encode_timeline
from .audio_input import read_audio
from .audiotoken import audiotoken_inputs, encode_with_tokens, single_clip_stream
from .progress import progress_callback
from .types import CATEGORY


class C2DAudioTokenTimeline(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioTokenTimeline",
            display_name="AudioToken Timeline Encode (C2D)",
            category=CATEGORY,
            description="AudioToken Text Encode once per video frame: frame i hears the window of the clip centred "
                        "on i / fps (as Audio Timeline), looped to 10 s as AudioToken loops a clip, and gets its own "
                        "conditioning row. Connect frame_count to the latent batch size (AnimateDiff: snap "
                        "multiple_of_16) and loudness to a strength schedule if you like.",
            inputs=audiotoken_inputs("core AUDIO or a VideoHelperSuite audio output") + [
                io.Float.Input("fps", default=8.0, min=0.1, max=120.0, step=0.1,
                               tooltip="frames per second of the animation"),
                io.Float.Input("window_seconds", default=1.0, min=0.2, max=10.0, step=0.1,
                               tooltip="length of audio each frame hears, centred on the frame"),
                io.Int.Input("frame_count", default=0, min=0, max=100000, tooltip="0 = round(duration × fps)"),
                io.Combo.Input("snap", options=list(SNAPS), default="none",
                               tooltip="multiple_of_16: AnimateDiff context windows; 8n+1: LTX-style models"),
            ],
            outputs=[io.Conditioning.Output(tooltip="one row per frame"),
                     io.Int.Output(display_name="frame_count", tooltip="connect it to the latent batch size"),
                     io.Float.Output(display_name="fps", tooltip="the fps used, for the video saver"),
                     io.Float.Output(display_name="loudness", tooltip="per-frame RMS, peak = 1 (a FLOAT list)")],
        )

    @classmethod
    def execute(cls, clip, beats, embedder, audio, text, placeholder, fps, window_seconds, frame_count,
                snap) -> io.NodeOutput:
        single_clip_stream(clip)
        check_prompt(text, placeholder)
        waveform, rate = read_audio(audio)
        tokens, loud = encode_timeline(TokenWindows(beats, embedder), waveform, rate, fps, window_seconds,
                                       frame_count, snap, on_progress=progress_callback())  # (F, width), (F,)
        return io.NodeOutput(encode_with_tokens(clip, text, placeholder, tokens), tokens.shape[0], float(fps),
                             loud.tolist())
