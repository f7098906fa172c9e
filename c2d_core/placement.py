"""Which UNet transformer blocks receive audio attention."""
from __future__ import annotations

from .config import PLACEMENTS, BlockSpec


def select_blocks(blocks: tuple[BlockSpec, ...], placement: str) -> tuple[BlockSpec, ...]:
    """Filter the model's blocks by a placement preset ("all", "mid_up", "up", "mid", "down")
    or a comma-separated list of block keys ("middle_0_0,output_3_0")."""
    presets = {
        "all": {"input", "middle", "output"},
        "mid_up": {"middle", "output"},
        "up": {"output"},
        "mid": {"middle"},
        "down": {"input"},
    }
    if placement in presets:
        chosen = tuple(b for b in blocks if b.stage in presets[placement])
    else:
        wanted = [k.strip() for k in placement.split(",") if k.strip()]
        known = {b.key for b in blocks}
        missing = [k for k in wanted if k not in known]
        if missing or not wanted:
            raise ValueError(
                f"placement {placement!r}: unknown block keys {missing}; use one of {list(PLACEMENTS)} "
                f"or keys from {sorted(known)}")
        chosen = tuple(b for b in blocks if b.key in wanted)
    if not chosen:
        raise ValueError(f"placement {placement!r} selects no transformer block of this model")
    return chosen
