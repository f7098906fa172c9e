"""Arithmetic on CLAP embeddings: weighted blends and interpolation (results stay unit-norm, like CLAP's)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import AdapterMismatchError, AudioInputError


def _check(parts: list[torch.Tensor]) -> None:
    dims = {p.shape[1] for p in parts}
    if len(dims) > 1:
        raise AdapterMismatchError(f"cannot mix {sorted(dims)}-d CLAP embeddings: encode every clip with the same CLAP model")
    rows = {p.shape[0] for p in parts} - {1}
    if len(rows) > 1:
        raise AudioInputError(f"embedding batches of {sorted(rows)} rows do not line up; give one clip or equal counts")


def blend(parts: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """parts: K tensors (N | 1, D); weights: K numbers (any sign; negative subtracts a sound).
    Returns normalize(Σ w_k · e_k): (N, D)."""
    if len(parts) != len(weights) or not parts:
        raise AudioInputError(f"{len(parts)} embeddings but {len(weights)} weights")
    _check(parts)
    mix = sum(w * p for w, p in zip(weights, parts))
    if float(mix.norm(dim=-1).min()) < 1e-6:
        raise AudioInputError("the weighted sum of the sounds is zero (they cancel out); change the weights")
    return F.normalize(mix, dim=-1)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of unit embeddings a → b at t ∈ [0, 1]: (N | 1, D) → (N, D)."""
    _check([a, b])
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    cos = (a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    out = torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b
    return F.normalize(out, dim=-1)
