"""Edit presets of the Audio Edit Sampler: which decoder blocks Plug-and-Play copies and what the source row hears.

- "clap2diffusion" (default): the features leaving output block `feature_block` and the self-attention q/k of output
  blocks >= `attention_block` (the sampler's inputs), the source row with no audio.
- "sonicdiffusion": SonicDiffusion's pnp.py / pnp_utils.py (BurakCanBiner/SonicDiffusion):
    conv features of diffusers `up_blocks[1].resnets[1, 2]` (pnp_utils.py:160-166) = the ResBlocks of ComfyUI
      output blocks 4 and 5: their residual branch (after conv2, before the skip path is added), as theirs —
      pnp.ConvFeatureHook, a torch forward hook on the ResBlock's last conv (`out_layers[-1]`) for the edit's
      sampling only (ComfyUI has no patch point inside a ResBlock). No block output is copied (feature_blocks empty).
    self-attention q/k in up_blocks[1].attentions[1, 2] and up_blocks[2, 3].attentions[0, 1, 2]
      (pnp_utils.py:99-104) = ComfyUI output blocks 4-11: attention_from = 4 (diffusers up block i, attention j is
      output block 3i + j), the same blocks as the default.
    the source row hears the unconditional audio, projector(zeros) for a SonicDiffusion adapter (pnp.py:111-114).
  The fractions stay the sampler's inputs (the issue's figure for theirs is 0.8 for both; their run_pnp defaults are
  0.5). Other differences: their source row reads the stored inversion latents and the empty prompt; ours
  regenerates the source from its inverted noise (exact inverse of the Euler sampler) with the edit's prompt.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import EditInputError
from .rows import PLAIN, SOURCE_NULL


@dataclass(frozen=True)
class EditPreset:
    """feature_blocks / attention_from: None = the sampler's own inputs; source: the source row's kind;
    conv_blocks: output blocks whose first ResBlock's residual branch is copied (Plug-and-Play's conv features)."""

    feature_blocks: tuple[int, ...] | None
    attention_from: int | None
    source: str
    conv_blocks: tuple[int, ...] = ()


PRESETS = {
    "clap2diffusion": EditPreset(feature_blocks=None, attention_from=None, source=PLAIN),
    "sonicdiffusion": EditPreset(feature_blocks=(), attention_from=4, source=SOURCE_NULL, conv_blocks=(4, 5)),
}
DEFAULT_PRESET = "clap2diffusion"


def edit_preset(name: str) -> EditPreset:
    if name not in PRESETS:
        raise EditInputError(f"unknown edit preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
