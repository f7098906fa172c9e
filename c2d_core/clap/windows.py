"""Per-window audio embeddings → one per clip (or all windows), shared by every CLAP audio encoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F

POOLINGS = ("mean", "none")


def pool_windows(embeds: list[torch.Tensor], clips: int, windows: int, pooling: str) -> torch.Tensor:
    """embeds: chunks of window embeddings, (clips · windows, D) in all, clip-major.

    → L2-normalised (clips, windows, D) for pooling "none", or the normalised mean over windows (clips, D).
    """
    e = F.normalize(torch.cat(embeds), dim=-1).reshape(clips, windows, -1)  # (B, W, D)
    if pooling == "none":
        return e
    return F.normalize(e.mean(dim=1), dim=-1)  # (B, D)
