"""Sync Score (AV-Align): how well a video's motion follows its sound (c2d_core/av_align.py), for any video."""
from .comfy_api_pin import io, ui

from ..c2d_core.av_align import av_align
from .audio_input import read_audio
from .types import CATEGORY


class C2DSyncScore(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DSyncScore",
            display_name="Audio-Video Sync Score (AV-Align, C2D)",
            category=CATEGORY,
            description="AV-Align (weight-free): audio onsets against the peaks of the frames' optical-flow motion; "
                        "the share of peaks that meet within one frame (intersection over union). Scores any video: "
                        "ours, AnimateDiff + timeline, Wan S2V, LTX-2. Needs OpenCV and librosa in ComfyUI's Python.",
            inputs=[
                io.Image.Input("images", tooltip="the video's frames (a batch of images, e.g. VAE Decode or Load "
                                                 "Video)"),
                io.Audio.Input("audio", tooltip="the sound the video should follow"),
                io.Float.Input("fps", default=16.0, min=0.1, max=240.0, step=0.1, tooltip="the video's frame rate"),
            ],
            outputs=[io.Float.Output(display_name="score", tooltip="AV-Align in [0, 1]: 1 = every onset has motion"),
                     io.String.Output(display_name="report", tooltip="the peaks that were matched, in seconds")],
        )

    @classmethod
    def execute(cls, images, audio, fps) -> io.NodeOutput:
        waveform, rate = read_audio(audio)
        result = av_align(images, fps, waveform, rate)
        report = (f"AV-Align {result.score:.3f}: {len(result.audio_peaks)} audio onsets "
                  f"{[round(t, 2) for t in result.audio_peaks]}, {len(result.video_peaks)} motion peaks "
                  f"{[round(t, 2) for t in result.video_peaks]}")
        return io.NodeOutput(result.score, report, ui=ui.PreviewText(report))
