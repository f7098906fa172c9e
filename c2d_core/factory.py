"""Create a fresh adapter for a model family (the starting point of training, and the demo's adapter)."""
from __future__ import annotations

import dataclasses

import torch

from .adapter import AudioAdapter
from .config import AdapterConfig
from .families import family_layout
from .placement import select_blocks


def new_adapter(config: AdapterConfig, *, seed: int = 0) -> AudioAdapter:
    """Resolve config.blocks from the family layout and placement (if not given) and build the adapter
    with seeded, deterministic initialisation (torch defaults for linears, zero null tokens, gates = gate_init)."""
    if not config.blocks:
        layout = family_layout(config.base_family)
        if layout.context_dim != config.context_dim:
            config = dataclasses.replace(config, context_dim=layout.context_dim)
        config = dataclasses.replace(config, blocks=select_blocks(layout.blocks(), config.placement, layout.placements))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = AudioAdapter(config)
    return adapter
