"""Which transformer blocks of a model receive audio attention."""
from __future__ import annotations

from typing import Mapping

from .config import DIT_PLACEMENTS, UNET_PLACEMENTS, BlockSpec, PlacementRule


def select_blocks(blocks: tuple[BlockSpec, ...], placement: str,
                  presets: Mapping[str, PlacementRule] = UNET_PLACEMENTS) -> tuple[BlockSpec, ...]:
    """Filter the model's blocks by a placement preset of its family (`presets`, the family layout's `placements`;
    UNets: "all", "mid_up", "up", "mid", "down", "sonic_mid_up", "light"; DiTs: "all", "double", "single")
    or a comma-separated list of block keys ("middle_0_0,output_3_0", "double_0,single_5").

    "sonic_mid_up" is SonicDiffusion's placement (`app.py:47`, use_adapter_list=[False, True, True]): the
    diffusers mid block and every cross-attention up block — on SD1.x `mid_block.attentions.0` and
    `up_blocks.{1,2,3}.attentions.{0,1,2}`, i.e. middle_0_0 and output_3_0 … output_11_0 (10 blocks)."""
    if placement in presets:
        chosen = tuple(b for b in blocks if presets[placement].selects(b))
    else:
        wanted = [k.strip() for k in placement.split(",") if k.strip()]
        known = {b.key for b in blocks}
        missing = [k for k in wanted if k not in known]
        if missing or not wanted:
            raise ValueError(
                f"placement {placement!r}: unknown block keys {missing}; use one of {list(presets)} "
                f"or keys from {sorted(known)}")
        chosen = tuple(b for b in blocks if b.key in wanted)
    if not chosen:
        raise ValueError(f"placement {placement!r} selects no transformer block of this model")
    return chosen


def _distinct(presets: Mapping[str, PlacementRule]) -> list[str]:
    """One name per distinct rule (sonic_mid_up is mid_up's)."""
    rules = list(presets.values())
    return [name for i, name in enumerate(presets) if rules[i] not in rules[:i]]


# The Apply node's audio_blocks choices: every family kind's distinct presets ("all" is in both tables).
BLOCK_PRESETS = tuple(dict.fromkeys([*_distinct(UNET_PLACEMENTS), *_distinct(DIT_PLACEMENTS)]))


def block_weights(blocks: tuple[BlockSpec, ...], preset: str = "all", custom: str = "",
                  presets: Mapping[str, PlacementRule] = UNET_PLACEMENTS) -> dict[str, float]:
    """Per-block audio weights: 1 for blocks in `preset` (a name of the family's `presets`), 0 elsewhere, then
    `custom` overrides.

    custom: comma-separated "name=weight" where name is a block key ("output_3_0", "single_4"), a stage
    ("input", "middle", "output"; "double", "single") or a key prefix ("output_3"), e.g. "middle=1.5, output_11=0".
    Returns {block key: weight} for every given block.
    """
    if preset not in presets:
        raise ValueError(f"audio_blocks {preset!r} is not a preset of this model's family; use one of {list(presets)}")
    chosen = {b.key for b in select_blocks(blocks, preset, presets)}
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
