"""Small adapters and clips for unit tests (no host, no weights)."""
import io
import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

from c2d_core.config import AdapterConfig, BlockSpec
from c2d_core.factory import new_adapter

TINY_BLOCKS = (
    BlockSpec(key="input_1_0", query_dim=32, heads=2, dim_head=16),
    BlockSpec(key="middle_0_0", query_dim=64, heads=4, dim_head=16),
    BlockSpec(key="output_3_0", query_dim=32, heads=2, dim_head=16),
)


def tiny_adapter(gate: float = 0.0, seed: int = 0, clap_dim: int = 16, n_mlps: int = 4):
    cfg = AdapterConfig(clap_dim=clap_dim, context_dim=24, hidden_dim=32, gate_init=gate, n_mlps=n_mlps,
                        base_family="sd15", blocks=TINY_BLOCKS)  # a narrow UNet adapter (the UNet hooks)
    adapter = new_adapter(cfg, seed=seed)
    with torch.no_grad():  # non-trivial null tokens so cond/uncond rows differ
        adapter.null_tokens.normal_(generator=torch.Generator().manual_seed(seed + 1))
    return adapter


def extra(block=("middle", 0), index=0, cond_or_uncond=(0,), sigma=None):
    opts = {"block": block, "block_index": index, "cond_or_uncond": list(cond_or_uncond)}
    if sigma is not None:
        opts["sigmas"] = torch.tensor([sigma])
    return opts


def assert_ours_first(message: str, ours: str, upstream_last: str | None = None, max_lines: int = 4) -> None:
    """A message of ours that wraps another library's error (c2d_core.errors.wrap_upstream): our sentence is its
    first line; after it come at most `max_lines` upstream lines (plus one saying how many were cut), each
    short, the last one being the upstream message's last line when `upstream_last` is given."""
    first, *rest = message.splitlines()
    assert first.startswith(ours), message
    assert 1 <= len(rest) <= max_lines + 1, message
    assert all(len(line) <= 240 for line in rest), message
    if upstream_last is not None:
        assert upstream_last in rest[-1], message


# What VideoHelperSuite raised for a video without a sound track: ffmpeg's banner and build configuration
# first, the cause last (over 3,000 characters; the one issue #14 reported had 3,244).
CONFIGURATION = "  configuration: " + " ".join(f"--enable-lib{n}" for n in range(200))
VHS_NO_AUDIO = "\n".join(
    ["VHS failed to extract audio from clip.mp4:", "ffmpeg version 6.1.1 Copyright (c) 2000-2023 the FFmpeg developers",
     "  built with gcc 13 (GCC)", CONFIGURATION]
    + [f"  libav{n:<10} 58.29.100 / 58.29.100" for n in range(12)]
    + ["Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':", "  Stream #0:0: Video: h264, 640x360, 25 fps",
       "Output #0, f32le, to 'pipe:':", "[out#0/f32le @ 0x1] Output file does not contain any stream",
       "Error opening output file -.", "Error opening output files: Invalid argument"])


def speech() -> tuple[np.ndarray, int]:
    """A spoken sentence from espeak-ng: float32 (1, T) at 22.05 kHz (a skip when espeak-ng is missing)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it): the speech clip did NOT run")
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", "150", "the rain falls on the old tin roof"],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
        assert w.getframerate() == 22_050
    return pcm[None], 22_050
