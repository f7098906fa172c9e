"""Checking a Microsoft CLAP file's audio tensors against the towers each declared variant builds (Cnn14 here,
HTSAT in msclap_htsat), and reading the variant a file is."""
from __future__ import annotations

import torch

from ..errors import ClapModelError
from .msclap_audio import MsClapAudioTower
from .msclap_file import (AUDIO_PREFIX, SUPPORTED_AUDIO, VARIANTS, MsClapVariant, describe_checkpoint,
                          is_msclap_checkpoint, layout_problems)
from .msclap_htsat import htsat_problems


def audio_layout(variant: MsClapVariant) -> dict[str, tuple[int, ...]]:
    """Declared `audio_encoder.*` tensor names → shapes of a Cnn14 `variant`, from the module `msclap_audio`
    builds (the HTSAT's layout is checked in transformers' names: `msclap_htsat.htsat_problems`)."""
    if variant.audio_tower != "cnn14":
        raise ValueError(f"audio_layout is the Cnn14 layout; msclap-{variant.version} has a {variant.audio_tower}")
    with torch.device("meta"):
        tower = MsClapAudioTower(variant)
    return {AUDIO_PREFIX + k: tuple(v.shape) for k, v in tower.state_dict().items()}


def audio_problems(state: dict, variant: MsClapVariant) -> list[str]:
    """How the `audio_encoder.*` tensors of a file's state dict differ from `variant`'s declared tower ([] = fit)."""
    if variant.audio_tower == "cnn14":
        return layout_problems(state, audio_layout(variant))
    return htsat_problems(state, variant)


def read_msclap_audio(obj, name: str = "the file", version: str | None = None) -> tuple[MsClapVariant, dict]:
    """The variant and its audio tower tensors (`audio_encoder.` prefix removed) from a loaded msclap file.

    The file must fit the declared layout of `version` (or, when None, of one of the supported variants)
    exactly, else a ClapModelError lists what differs."""
    if not is_msclap_checkpoint(obj):
        raise ClapModelError(f"{name} is {describe_checkpoint(obj)}")
    state = obj["model"]
    candidates = [version] if version is not None else list(SUPPORTED_AUDIO)
    report = {}
    for v in candidates:
        if v not in VARIANTS:
            raise ClapModelError(f"unknown Microsoft CLAP version {v!r}; known: {sorted(VARIANTS)}")
        problems = audio_problems(state, VARIANTS[v])
        if not problems:
            n = len(AUDIO_PREFIX)
            return VARIANTS[v], {k[n:]: t for k, t in state.items() if k.startswith(AUDIO_PREFIX)}
        report[v] = problems
    lines = "; ".join(f"as msclap-{v}: {len(p)} problem(s): " + "; ".join(p[:4]) for v, p in report.items())
    raise ClapModelError(f"{name} is a Microsoft CLAP file whose audio tensors fit no supported variant ({lines}); "
                         "the file is truncated, modified or of another model: download it again")
