"""Which UNet transformer blocks receive audio attention."""
from __future__ import annotations

from .config import FIRST_LAYER_ONLY, PLACEMENT_STAGES, PLACEMENTS, BlockSpec


def select_blocks(blocks: tuple[BlockSpec, ...], placement: str) -> tuple[BlockSpec, ...]:
    """Filter the model's blocks by a placement preset ("all", "mid_up", "up", "mid", "down", "sonic_mid_up", "light")
    or a comma-separated list of block keys ("middle_0_0,output_3_0").

    "sonic_mid_up" is SonicDiffusion's placement (`app.py:47`, use_adapter_list=[False, True, True]): the
    diffusers mid block and every cross-attention up block — on SD1.x `mid_block.attentions.0` and
    `up_blocks.{1,2,3}.attentions.{0,1,2}`, i.e. middle_0_0 and output_3_0 … output_11_0 (10 blocks)."""
    if placement in PLACEMENT_STAGES:
        chosen = tuple(b for b in blocks if b.stage in PLACEMENT_STAGES[placement]
                       and (b.layer == 0 or placement not in FIRST_LAYER_ONLY))
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


# The Apply node's audio_blocks choices: one name per distinct rule (sonic_mid_up is mid_up's).
_RULES = [(stages, name in FIRST_LAYER_ONLY) for name, stages in PLACEMENT_STAGES.items()]
BLOCK_PRESETS = tuple(name for i, name in enumerate(PLACEMENT_STAGES) if _RULES[i] not in _RULES[:i])


def block_weights(blocks: tuple[BlockSpec, ...], preset: str = "all", custom: str = "") -> dict[str, float]:
    """Per-block audio weights: 1 for blocks in `preset`, 0 elsewhere, then `custom` overrides.

    custom: comma-separated "name=weight" where name is a block key ("output_3_0"), a stage
    ("input", "middle", "output") or a key prefix ("output_3"), e.g. "middle=1.5, output_11=0".
    Returns {block key: weight} for every given block.
    """
    chosen = {b.key for b in select_blocks(blocks, preset)}
    weights = {b.key: 1.0 if b.key in chosen else 0.0 for b in blocks}
    for item in (x.strip() for x in custom.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"block weight {item!r}: write name=number, e.g. 'middle=1.5'") from None
        hits = [k for k in weights if k == name or k.startswith(name + "_")]
        if not sep or not hits:
            raise ValueError(f"block weight {item!r}: {name!r} names no block; use a stage (input, middle, output) "
                             f"or keys such as {sorted(weights)[:4]}")
        for k in hits:
            weights[k] = w
    return weights
