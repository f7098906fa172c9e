"""The trainer's errors that wrap another library's (checkpoint loading, decoding): our sentence first, the
upstream text cut to a few lines."""
import argparse

import pytest
import torch
from helpers import assert_ours_first

from c2d_core.errors import CheckpointFileError


def test_a_checkpoint_that_needs_unpickling(comfy_root, tmp_path):
    from training.config import ModelConfig
    from training.model import load_checkpoint

    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(x=1)}, path)
    with pytest.raises(CheckpointFileError) as info:   # torch's own message is 1,000+ characters
        load_checkpoint(ModelConfig(checkpoint=str(path)))
    assert_ours_first(str(info.value), "could not read the checkpoint model.ckpt: it is truncated, corrupt or not")
    assert "Weights only load failed" in str(info.value)


def test_unreadable_tiny_weights(comfy_root, tmp_path):
    from training.config import ModelConfig
    from training.model import build_tiny

    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointFileError) as info:
        build_tiny(ModelConfig(tiny=True, tiny_weights=str(path)))
    assert_ours_first(str(info.value), "model.tiny_weights tiny.safetensors is not a readable safetensors file")


def test_undecodable_training_audio(tmp_path):
    from training.data import SampleError, load_audio

    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF" + b"\x00" * 200)
    with pytest.raises(SampleError) as info:
        load_audio(path, 10.0)
    assert_ours_first(str(info.value), "cannot decode audio of clip.wav: the file is corrupt or not audio")
