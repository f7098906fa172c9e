"""Errors that wrap another library's: our sentence first, the upstream text cut to a few lines."""
import argparse
import sys

import pytest
import torch
from helpers import VHS_NO_AUDIO, assert_ours_first

from c2d_core.errors import AdapterFileError, AudioInputError, ClapModelError, wrap_upstream


def test_ours_comes_first_and_the_upstream_text_is_cut():
    assert len(VHS_NO_AUDIO) > 3000
    ours = "clip.mp4 has no audio: load a clip with a sound track"
    message = wrap_upstream(ours, RuntimeError(VHS_NO_AUDIO))
    assert_ours_first(message, ours, upstream_last="Invalid argument")
    assert len(message) < 600, len(message)
    assert "VHS failed to extract audio from clip.mp4" in message       # the upstream's own first line is kept
    assert "--enable-lib199" not in message and "more lines" in message  # the configuration is cut


def test_a_short_upstream_message_is_kept_whole_and_long_lines_are_cut():
    assert wrap_upstream("ours", ValueError("bad header")) == "ours\n(ValueError: bad header)"
    message = wrap_upstream("ours", ValueError("x" * 1000), max_line_chars=50)
    assert message.splitlines()[1] == "(ValueError: " + "x" * 49 + "…)"
    assert wrap_upstream("ours", KeyError()) == "ours\n(KeyError: no message)"
    assert wrap_upstream("ours", OSError("\x1b[1mbold\x1b[0m\n\tindented")) == "ours\n(OSError: bold\n  indented)"
    assert len(wrap_upstream("ours", ValueError("\n".join("abcdefgh")), max_lines=2).splitlines()) == 4


def test_clap_checkpoint_that_needs_unpickling(tmp_path):
    from c2d_core.encoder_registry import load_audio_encoder

    path = tmp_path / "clap.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(x=1)}, path)
    with pytest.raises(ClapModelError) as info:
        load_audio_encoder(path)
    assert_ours_first(str(info.value), "clap.pt needs unsafe unpickling")
    assert len(str(info.value)) < 1000


def test_clap_folder_with_broken_weights(tmp_path):
    from c2d_core.encoder_registry import load_audio_encoder
    from devtools.standin_clap import make_random_clap_folder

    folder = make_random_clap_folder(tmp_path / "clap", seed=0, tiny=True)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ClapModelError) as info:
        load_audio_encoder(folder)
    assert_ours_first(str(info.value), "could not load the CLAP weights in clap: the folder is incomplete")


def test_unreadable_adapter(tmp_path):
    from c2d_core.adapter_file import load_adapter

    path = tmp_path / "a.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(AdapterFileError) as info:
        load_adapter(path)
    assert_ours_first(str(info.value), "a.safetensors is not a readable safetensors file")


def test_resampling_without_torchaudio(monkeypatch):
    from c2d_core.audio import resample

    monkeypatch.setitem(sys.modules, "torchaudio.functional", None)   # import → ImportError
    with pytest.raises(AudioInputError) as info:
        resample(torch.zeros(1, 100), 44_100, 48_000)
    assert_ours_first(str(info.value), "audio at 44100 Hz must be resampled to 48000 Hz, which needs torchaudio")
