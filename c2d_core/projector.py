"""AudioProjector: CLAP embedding → audio tokens in the UNet's context space."""
from __future__ import annotations

import torch
import torch.nn as nn

from .cast import CastLayerNorm, CastLinear
from .errors import AdapterMismatchError


class AudioProjector(nn.Module):
    """e: (B, clap_dim) → tokens: (B, n_tokens, context_dim).

    n_mlps parallel MLPs (Linear → GELU → Linear), each producing n_tokens / n_mlps tokens,
    concatenated and LayerNorm-ed. n_mlps=4, n_tokens=8 is the design; n_mlps=1 is the ablation.
    """

    def __init__(self, *, clap_dim: int, context_dim: int, n_tokens: int = 8, n_mlps: int = 4, hidden_dim: int = 1024):
        super().__init__()
        assert n_tokens % n_mlps == 0, f"n_tokens {n_tokens} not divisible by n_mlps {n_mlps}"
        self.clap_dim, self.context_dim, self.n_tokens = clap_dim, context_dim, n_tokens
        self.tokens_per_mlp = n_tokens // n_mlps
        self.mlps = nn.ModuleList(
            nn.Sequential(
                CastLinear(clap_dim, hidden_dim),
                nn.GELU(),
                CastLinear(hidden_dim, self.tokens_per_mlp * context_dim),
            )
            for _ in range(n_mlps)
        )
        self.norm = CastLayerNorm(context_dim)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if e.ndim != 2 or e.shape[1] != self.clap_dim:
            raise AdapterMismatchError(
                f"audio embedding has shape {tuple(e.shape)} but this adapter expects (B, {self.clap_dim}): "
                f"the adapter was trained for a {self.clap_dim}-d CLAP; load the CLAP model it was trained "
                "with (see the adapter's clap_model_id)")
        B = e.shape[0]
        parts = [mlp(e).view(B, self.tokens_per_mlp, self.context_dim) for mlp in self.mlps]
        return self.norm(torch.cat(parts, dim=1))  # (B, n_tokens, context_dim)
