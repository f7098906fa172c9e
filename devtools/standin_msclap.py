"""Random-weight Microsoft CLAP files in the released layout (no download).

`make_random_msclap_file` writes what `CLAP_weights_2022.pth` holds for the audio side: `{"model": sd}` with
msclap's `audio_encoder.*` tensors (Cnn14 incl. its STFT / mel tensors and BatchNorm statistics, the
projection), plus a small `logit_scale`. The BERT text tower (`caption_encoder.*`) is left out: the audio
encoder ignores it. Built from the pack's own tower (the unit tests build theirs from msclap's classes).
"""
from __future__ import annotations

from pathlib import Path

import torch


def random_msclap_state(seed: int = 0, version: str = "2022") -> dict:
    """`{"audio_encoder.*": tensor, "logit_scale": tensor}` with random weights and non-trivial BatchNorm stats."""
    from c2d_core.clap.msclap_audio import MsClapAudioTower
    from c2d_core.clap.msclap_file import VARIANTS
    g = torch.Generator().manual_seed(seed)
    tower = MsClapAudioTower(VARIANTS[version])
    with torch.no_grad():
        for name, p in tower.named_parameters():
            if "extractor" in name:
                continue  # fixed front end, as msclap computes it
            if name.endswith("weight") and p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for name, b in tower.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    sd = {f"audio_encoder.{k}": v for k, v in tower.state_dict().items()}
    sd["logit_scale"] = torch.tensor(2.6593)
    return sd


def make_random_msclap_file(path, seed: int = 0, version: str = "2022") -> Path:
    """Writes a random-weight Microsoft CLAP `.pth` at `path` (≈ 340 MB for 2022) and returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": random_msclap_state(seed, version)}, path)
    return path
