"""Random-weight SonicDiffusion released pairs in their exact key layout (no download).

`make_random_sonic_folder(folder)` writes what `models/audio_adapters/<name>/` holds once an artist has put
SonicDiffusion's released files there (names as its README / app.py:53-73 expect them):

    <folder>/audio_projector_<name>.pth   flat state dict of their projector `Adapter` (= our SonicProjector,
                                          key for key; audio_projector_res.py:40-92)
    <folder>/<name>.pt                    {diffusers name: tensor} of the 10 blocks' `*adapter*` tensors
                                          (attention_custom.py:233-245, selected as app.py:54-56)

`sonic_adapter_tensors(seed, widths)` is the `.pt` content alone (SD1.x widths 320/640/1280 by default; `widths`
maps our block keys to the query widths of a smaller UNet). Test and demo use only.
"""
from __future__ import annotations

from pathlib import Path

import torch

ADAPTER_TENSORS = (("attn_adapter.to_q.weight", "q", "q"), ("attn_adapter.to_k.weight", "q", 768),
                   ("attn_adapter.to_v.weight", "q", 768), ("attn_adapter.to_out.0.weight", "q", "q"),
                   ("attn_adapter.to_out.0.bias", "q"), ("norm_adapter.weight", "q"), ("norm_adapter.bias", "q"),
                   ("gate_adapter", 1))


def sonic_adapter_tensors(seed: int = 0, widths: dict[str, int] | None = None) -> dict[str, torch.Tensor]:
    """The released `<name>.pt` layout with random values (× 0.05), without building a UNet."""
    from c2d_core.sonic_convert import sonic_config
    g = torch.Generator().manual_seed(seed)
    out = {}
    for b in sonic_config(widths).blocks:
        stage, number, t = b.key.split("_")
        name = "mid_block.attentions.0" if stage == "middle" else f"up_blocks.{int(number) // 3}.attentions.{int(number) % 3}"
        for tensor, *dims in ADAPTER_TENSORS:
            shape = tuple(b.query_dim if d == "q" else d for d in dims)
            out[f"{name}.transformer_blocks.{t}.{tensor}"] = torch.randn(shape, generator=g) * 0.05
    return out


def random_sonic_projector_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Flat state dict of a randomly initialised (seeded) 77-token SonicDiffusion projector."""
    from c2d_core.sonic_projector import SonicProjector
    torch.manual_seed(seed)
    return SonicProjector().state_dict()


def make_random_sonic_folder(folder, seed: int = 0, widths: dict[str, int] | None = None) -> Path:
    """Writes `<folder>/audio_projector_<name>.pth` + `<folder>/<name>.pt` (name = the folder's name); returns folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_sonic_projector_state(seed), folder / f"audio_projector_{folder.name}.pth")
    torch.save(sonic_adapter_tensors(seed + 1, widths), folder / f"{folder.name}.pt")
    return folder
