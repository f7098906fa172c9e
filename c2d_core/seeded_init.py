"""Deterministic random weights from (seed, tensor name, shape) alone — for random-weight stand-in models and
the trainer's tiny UNet (ComfyUI allocates uninitialised storage, so every tensor must be set explicitly)."""
from __future__ import annotations

import math
import zlib

import torch


def seeded_generator(seed: int, key: str) -> torch.Generator:
    """A CPU generator that depends only on seed and the tensor's name."""
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(key.encode())) % (2 ** 63))


def seeded_tensor(key: str, shape: tuple, seed: int, gain: float = 1.0) -> torch.Tensor:
    """N(0, gain² / fan_in) for weights; zeros for biases and 0-d tensors, ones for other 1-d tensors (norm scales)."""
    if len(shape) <= 1:
        leaf = key.rsplit(".", 1)[-1]
        return torch.zeros(shape) if leaf == "bias" or len(shape) == 0 else torch.ones(shape)
    return torch.randn(shape, generator=seeded_generator(seed, key)) * (gain / math.sqrt(math.prod(shape[1:])))
