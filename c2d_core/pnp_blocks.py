"""Which decoder blocks a Plug-and-Play edit copies (the choice per family: c2d_core/pnp_presets.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PnPBlocks:
    """feature_blocks: output blocks whose output h the edit rows take from the source row (PnPState.feature_block
    and more_feature_blocks); attention_from: output blocks >= this take the source's self-attention q/k;
    conv_blocks: output blocks whose first ResBlock's residual branch is copied (Plug-and-Play's conv features,
    pnp.ConvFeatureHook)."""

    feature_blocks: tuple[int, ...]
    attention_from: int
    conv_blocks: tuple[int, ...] = ()
