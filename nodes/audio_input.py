"""Reading the AUDIO socket: core AUDIO dicts and VideoHelperSuite's lazy audio mapping alike."""
from __future__ import annotations

from ..c2d_core.errors import AudioInputError, wrap_upstream


def read_audio(audio):
    """Any mapping with "waveform" (B, C, T) and "sample_rate" → (waveform, sample_rate)."""
    try:
        return audio["waveform"], audio["sample_rate"]
    except Exception as e:  # VHS raises when the video has no audio stream
        raise AudioInputError(wrap_upstream("this input has no audio (a video without a sound track?): load a clip "
                                            "with audio or connect a Load Audio node", e)) from e
