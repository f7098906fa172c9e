"""GlueGen per video frame: each frame's window of the clip → its condition → one conditioning row per frame."""
from .comfy_api_pin import io

from ..c2d_core.gluegen.condition import ConditionWindows
from ..c2d_core.timeline import encode_timeline
from .audio_input import read_audio
from .gluegen import check_clip, conditionings, gluegen_inputs
from .progress import progress_callback
from .timeline import frame_inputs, frame_outputs
from .types import CATEGORY


class C2DGlueGenTimeline(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DGlueGenTimeline",
            display_name="GlueGen Timeline Encode (C2D)",
            category=CATEGORY,
            description="GlueGen Sound Encode once per video frame: frame i hears the window of the clip centred on "
                        "i / fps (as Audio Timeline) and gets its own conditioning row (a silent window gets the "
                        "condition of silence). Connect frame_count to the latent batch size (AnimateDiff: snap "
                        "multiple_of_16).",
            inputs=gluegen_inputs("core AUDIO or a VideoHelperSuite audio output") + frame_inputs(
                window_min=0.2, window_max=4.0,
                window_tooltip="length of audio each frame hears, centred on the frame (GlueGen hears 4 s at most)"),
            outputs=[io.Conditioning.Output(display_name="positive", tooltip="one row per frame"),
                     io.Conditioning.Output(display_name="negative", tooltip="the empty prompt's condition")]
                    + frame_outputs(),
        )

    @classmethod
    def execute(cls, clip, audioclip, gluegen, audio, text, mix_tokens, fps, window_seconds, frame_count,
                snap) -> io.NodeOutput:
        check_clip(clip)
        waveform, rate = read_audio(audio)
        sound, loud = encode_timeline(ConditionWindows(audioclip, gluegen), waveform, rate, fps, window_seconds,
                                      frame_count, snap, on_progress=progress_callback())  # (F, 77, 768), (F,)
        positive, negative = conditionings(clip, sound, text, mix_tokens)
        return io.NodeOutput(positive, negative, sound.shape[0], float(fps), loud.tolist())
