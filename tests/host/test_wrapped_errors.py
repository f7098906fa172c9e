"""The nodes' errors that wrap another library's (audio decoding): our sentence first, the upstream text cut."""
from collections.abc import Mapping

import pytest

from c2d_core.errors import AudioInputError
from helpers import VHS_NO_AUDIO, assert_ours_first


class SilentVideo(Mapping):
    """VideoHelperSuite's lazy AUDIO of a video without a sound track: reading it raises ffmpeg's log."""

    def __getitem__(self, key):
        raise Exception(VHS_NO_AUDIO)

    def __iter__(self):
        return iter(("waveform", "sample_rate"))

    def __len__(self):
        return 2


def test_a_video_without_audio(comfy_host):
    nodes = comfy_host.pack_module.nodes
    with pytest.raises(AudioInputError) as info:
        nodes.audio_input.read_audio(SilentVideo())
    message = str(info.value)
    assert_ours_first(message, "this input has no audio (a video without a sound track?): load a clip with audio",
                      upstream_last="Invalid argument")
    assert len(message) < 600, len(message)   # VHS's own message: > 3,000 characters, ffmpeg's configuration first


def test_a_file_the_decoder_refuses(comfy_host, tmp_path, monkeypatch):
    import comfy_extras.nodes_audio

    def refuse(path):
        raise ValueError("decoder log\n" + "\n".join(f"line {n}" for n in range(50)) + "\nInvalid data found")

    monkeypatch.setattr(comfy_extras.nodes_audio, "load", refuse)
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00" * 100)
    load_audio = comfy_host.pack_module.nodes.load_audio
    with pytest.raises(load_audio.AudioInputError) as info:
        load_audio.decode_audio_file(str(path))
    assert_ours_first(str(info.value), "could not decode clip.m4a as audio: the file is corrupt or not an audio",
                      upstream_last="Invalid data found")
