"""AudioEmbeds: what CLAP encoding hands to the adapter (the AUDIO_EMBEDS node type)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import AudioInputError


@dataclass(frozen=True)
class AudioEmbeds:
    """embeds: (N, clap_dim) float32 on CPU, one row per clip (or per frame, for timelines).

    clap_model_id / clap_dim identify the encoder so the adapter can check it was trained on it.
    """

    embeds: torch.Tensor
    clap_model_id: str
    clap_dim: int

    def __post_init__(self):
        if self.embeds.ndim != 2 or self.embeds.shape[1] != self.clap_dim:
            raise AudioInputError(
                f"audio embeddings have shape {tuple(self.embeds.shape)} but a {self.clap_dim}-d CLAP made them: "
                f"expected (N, {self.clap_dim}); connect the output of a CLAP encode node")
