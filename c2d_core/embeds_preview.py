"""A picture of how a sound changes over time, from its per-frame CLAP embeddings (pure torch, no plotting library).

The top square is the frame × frame cosine-similarity matrix (row i, column j = how alike frames i and j
sound; time runs left → right and top → bottom): a steady sound is one flat block, a change of sound starts
a new block on the diagonal. Under it, optionally, a strip with the loudness of each frame as a bar.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# viridis at 0, 0.25, 0.5, 0.75, 1 (dark blue → green → yellow), linearly interpolated
_ANCHORS = torch.tensor([[0.267, 0.005, 0.329], [0.231, 0.322, 0.546], [0.128, 0.567, 0.551],
                         [0.369, 0.789, 0.383], [0.993, 0.906, 0.144]])


def similarity_matrix(embeds: torch.Tensor) -> torch.Tensor:
    """embeds: (N, D) → (N, N) cosine similarities in [-1, 1]."""
    if embeds.ndim != 2 or embeds.shape[0] == 0:
        raise ValueError(f"embeds must be (frames, dim) with at least one frame, got {tuple(embeds.shape)}")
    e = F.normalize(embeds.float(), dim=-1)
    return e @ e.T


def colormap(values: torch.Tensor) -> torch.Tensor:
    """values in [0, 1], any shape (...) → (..., 3) RGB in [0, 1] (viridis-like)."""
    x = values.clamp(0, 1) * (len(_ANCHORS) - 1)
    lo = x.floor().long().clamp(max=len(_ANCHORS) - 2)
    t = (x - lo).unsqueeze(-1)
    return _ANCHORS[lo] * (1 - t) + _ANCHORS[lo + 1] * t


def _resize(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(C, H0, W0) → (C, h, w): nearest when enlarging (crisp frame cells), area averaging when shrinking."""
    mode = "area" if img.shape[-2] > h or img.shape[-1] > w else "nearest-exact"
    return F.interpolate(img[None], size=(h, w), mode=mode)[0]


def render_preview(embeds: torch.Tensor, loudness=None, size: int = 512, strip_fraction: float = 0.2) -> torch.Tensor:
    """embeds: (N, D); loudness: None or N values in [0, 1]. Returns an image (H, W, 3) float32 in [0, 1],
    W = size, H = size (+ round(size × strip_fraction) with loudness). The similarity colours span the
    matrix's own range (min → dark, max = the diagonal → yellow) so small changes stay visible."""
    sim = similarity_matrix(embeds)                                      # (N, N)
    lo, hi = float(sim.min()), float(sim.max())
    norm = (sim - lo) / (hi - lo) if hi - lo > 1e-6 else torch.ones_like(sim)
    img = _resize(colormap(norm).permute(2, 0, 1), size, size)         # (3, size, size)
    if loudness is None:
        return img.permute(1, 2, 0).contiguous()
    loud = torch.as_tensor(loudness, dtype=torch.float32).flatten().clamp(0, 1)
    if loud.numel() != sim.shape[0]:
        raise ValueError(f"{loud.numel()} loudness values for {sim.shape[0]} frames; connect the loudness output "
                         "of the same Audio Timeline")
    h = max(8, round(size * strip_fraction))
    cols = _resize(loud[None, None, :], 1, size)[0, 0]                   # (size,) loudness under each column
    rows = ((torch.arange(h, 0, -1) - 0.5) / h)[:, None]                 # (h, 1) pixel-row centres, top ≈ 1
    bars = (rows < cols[None, :]).float()                                 # (h, size) 1 where the bar is
    strip = 0.12 + bars[None] * torch.tensor([0.85, 0.85, 0.85])[:, None, None]  # (3, h, size) light bars on dark
    return torch.cat([img, strip], dim=1).permute(1, 2, 0).contiguous()
