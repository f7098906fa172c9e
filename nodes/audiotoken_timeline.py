"""AudioToken per video frame: each frame's window of the clip → its token → one conditioning row per frame."""
from .comfy_api_pin import io

from ..c2d_core.audiotoken.prompt import check_prompt
from ..c2d_core.audiotoken.token import TokenWindows
from ..c2d_core.timeline import encode_timeline
from .audio_input import read_audio
from .audiotoken import audiotoken_inputs, encode_with_tokens, single_clip_stream
from .progress import progress_callback
from .timeline import frame_inputs, frame_outputs
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
            inputs=audiotoken_inputs("core AUDIO or a VideoHelperSuite audio output") + frame_inputs(window_min=0.2),
            outputs=[io.Conditioning.Output(tooltip="one row per frame")] + frame_outputs(),
        )

    @classmethod
    def execute(cls, clip, beats, embedder, audio, text, placeholder, fps, window_seconds, frame_count,
                snap) -> io.NodeOutput:
        stream, width = single_clip_stream(clip)
        check_prompt(text, placeholder)
        waveform, rate = read_audio(audio)
        tokens, loud = encode_timeline(TokenWindows(beats, embedder), waveform, rate, fps, window_seconds,
                                       frame_count, snap, on_progress=progress_callback())  # (F, width), (F,)
        conditioning = encode_with_tokens(clip, stream, width, text, placeholder, tokens)
        return io.NodeOutput(conditioning, tokens.shape[0], float(fps), loud.tolist())
