import hashlib
import os

import folder_paths
from .comfy_api_pin import io

from ..c2d_core.audio import check_waveform
from ..c2d_core.errors import AudioInputError, wrap_upstream
from .types import CATEGORY


def decode_audio_file(path: str):
    """Decode with ComfyUI's own PyAV loader; wrap its low-level failures in a clear AudioInputError.
    Returns (waveform (C, T) float32, sample_rate)."""
    from comfy_extras.nodes_audio import load

    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise AudioInputError(f"audio file not found: {path}; upload it or put it in ComfyUI's input folder")
    if os.path.getsize(path) == 0:
        raise AudioInputError(f"{name} is an empty file (0 bytes); upload the audio again")
    try:
        return load(path)
    except Exception as e:  # PyAV raises many error types (InvalidDataError, ValueError, …)
        raise AudioInputError(wrap_upstream(
            f"could not decode {name} as audio: the file is corrupt or not an audio/video file; re-export it as "
            "WAV, FLAC, MP3 or OGG", e)) from e


class C2DLoadAudio(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        input_dir = folder_paths.get_input_directory()
        files = folder_paths.filter_files_content_types(os.listdir(input_dir), ["audio", "video"]) \
            if os.path.isdir(input_dir) else []
        return io.Schema(
            node_id="C2DLoadAudio",
            display_name="Load Audio (C2D, checked)",
            category=CATEGORY,
            description="Loads an audio file as the core AUDIO type, like the core Load Audio node, but checks it "
                        "first: corrupt, empty, silent or NaN audio gets a clear error instead of a bad image.",
            inputs=[io.Combo.Input("audio", options=sorted(files), upload=io.UploadType.audio,
                                   tooltip="audio or video file in ComfyUI's input folder")],
            outputs=[io.Audio.Output(tooltip="waveform [1, C, T] at the file's sample rate")],
        )

    @classmethod
    def execute(cls, audio) -> io.NodeOutput:
        waveform, sample_rate = decode_audio_file(folder_paths.get_annotated_filepath(audio))
        check_waveform(waveform, sample_rate)  # no resampling; raises AudioInputError for silent / NaN / too short audio
        return io.NodeOutput({"waveform": waveform.unsqueeze(0), "sample_rate": sample_rate})

    @classmethod
    def fingerprint_inputs(cls, audio):
        path = folder_paths.get_annotated_filepath(audio)
        if not os.path.isfile(path):
            return audio
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    @classmethod
    def validate_inputs(cls, audio):
        if not folder_paths.exists_annotated_filepath(audio):
            return f"audio file not found: {audio}"
        return True
