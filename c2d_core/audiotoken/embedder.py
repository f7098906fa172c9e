"""AudioToken's `FGAEmbedder` in pure torch, and its released file `embedder_learned_embeds.bin`.

Same computation and tensor names as `modules/AudioToken/embedder.py` + `modules/FGA/atten.py` (MIT):
  fc1 (3D → 3D) → GELU → fc2 (3D → C)                  BEATs features (B, N, 3D) → (B, N, C)
  fga: factor-graph attention pooling over the N tokens, one utility, no pairwise factors between utilities:
    unary    u_n = feature_reduce(ReLU(embed(x_n)))                      un_models.0.{embed, feature_reduce}
    self     p_n = mean_m ⟨X̂_n, Ŷ_m⟩, X̂ = normalise(embed_X x), Ŷ = normalise(embed_Y x)   pp_models.0.*
    weights  softmax_n(reduce_potentials([u; p]))                       reduce_potentials.0 (1 × 2 × 1)
    token    Σ_n w_n x_n                                                 (B, C)
The original applies `F.dropout` (p = 0.5, always in training mode) to the unary branch even at inference, so its
token is random; this port leaves it out (dropout's expectation), which makes the token deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ClapModelError
from ..torch_files import load_checked, meta_layout, tensor_dict

RELEASED_FILE = "embedder_learned_embeds.bin"


@dataclass(frozen=True)
class EmbedderConfig:
    input_size: int = 768 * 3      # BEATs layers 4, 8, 12 concatenated
    output_size: int = 768         # the CLIP token width (768 SD1.x, 1024 SD2.x)


class Unary(nn.Module):
    def __init__(self, C: int):
        super().__init__()
        self.embed, self.feature_reduce = nn.Conv1d(C, C, 1), nn.Conv1d(C, 1, 1)

    def forward(self, x):  # (B, N, C) → (B, N)
        return self.feature_reduce(F.relu(self.embed(x.transpose(1, 2)))).squeeze(1)


class SelfPairwise(nn.Module):
    def __init__(self, C: int):
        super().__init__()
        self.embed_X, self.embed_Y = nn.Conv1d(C, C, 1), nn.Conv1d(C, C, 1)

    def forward(self, x):  # (B, N, C) → (B, N)
        t = x.transpose(1, 2)
        X, Y = F.normalize(self.embed_X(t)), F.normalize(self.embed_Y(t))  # (B, C, N), unit over C
        return (X.transpose(1, 2) @ Y).mean(dim=2)


class FGAPooling(nn.Module):
    """Attention pooling (B, N, C) → (B, C); names as FGA's `Atten(util_e=[C], pairwise_flag=False)`."""

    def __init__(self, C: int):
        super().__init__()
        self.un_models = nn.ModuleList([Unary(C)])
        self.pp_models = nn.ModuleDict({"0": SelfPairwise(C)})
        self.reduce_potentials = nn.ModuleList([nn.Conv1d(2, 1, 1, bias=False)])

    def forward(self, x):
        factors = torch.stack([self.un_models[0](x), self.pp_models["0"](x)], dim=1)   # (B, 2, N)
        weights = F.softmax(self.reduce_potentials[0](factors).squeeze(1), dim=1)      # (B, N)
        return (x.transpose(1, 2) @ weights[..., None]).squeeze(2)                     # (B, C)


class FGAEmbedder(nn.Module):
    """features (B, N, input_size) → one token embedding per clip (B, output_size)."""

    def __init__(self, cfg: EmbedderConfig = EmbedderConfig()):
        super().__init__()
        self.cfg = cfg
        self.fc1 = nn.Linear(cfg.input_size, cfg.input_size)
        self.fc2 = nn.Linear(cfg.input_size, cfg.output_size)
        self.fga = FGAPooling(cfg.output_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3 or features.shape[-1] != self.cfg.input_size:
            raise ClapModelError(f"AudioToken's embedder takes (batch, tokens, {self.cfg.input_size}) audio features,"
                                 f" got {tuple(features.shape)}")
        return self.fga(self.fc2(F.gelu(self.fc1(features))))


def expected_layout(cfg: EmbedderConfig) -> dict[str, tuple[int, ...]]:
    return meta_layout(lambda: FGAEmbedder(cfg))


def load_embedder(obj, name: str = "the file") -> FGAEmbedder:
    """A read (`weights_only`) `embedder_learned_embeds.bin` → FGAEmbedder; widths from fc2, names strict."""
    state = tensor_dict(obj, name=name, what="AudioToken's embedder", error=ClapModelError,
                        advice=f"use AudioToken's {RELEASED_FILE} (output/ in guyyariv/AudioToken)")
    if "fc2.weight" not in state or state["fc2.weight"].dim() != 2:
        raise ClapModelError(f"{name} is not AudioToken's embedder: it has no fc2.weight matrix "
                             f"({len(state)} tensors); use {RELEASED_FILE} as released")
    out_size, in_size = state["fc2.weight"].shape
    cfg = EmbedderConfig(input_size=in_size, output_size=out_size)
    return load_checked(lambda: FGAEmbedder(cfg), state, what=f"{name} is not a complete AudioToken embedder",
                        advice=f"Use {RELEASED_FILE} as released (a truncated or edited file fails here)",
                        error=ClapModelError)
