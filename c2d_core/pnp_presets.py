"""Which decoder blocks Plug-and-Play copies, per model family, and the Audio Edit Sampler's presets.

Plug-and-Play (Tumanyan et al. 2023, on SD1.x) copies the features leaving decoder (output) block 4 and the
self-attention q/k of output blocks 4-11. Block 4 is the middle block of the first decoder level with attention:
1280 channels at 1/4 of the latent's resolution (16×16 at 512²), where the features hold the layout but not yet
the appearance. `PNP_BLOCKS` is that choice per family:

- "sd15": features after output block 4, q/k from output block 4 on (12 decoder blocks; 3-5 are the 1280-wide
  level at latent/4).
- "sdxl": features after output block 1, q/k from output block 1 on. SDXL's decoder has 9 blocks: 0-2 are the
  1280-wide level at latent/4 (10 transformer layers each), 3-5 the 640-wide level at latent/2, 6-8 the 320-wide
  level without attention. Output block 1 is the same place as SD1.5's block 4: the middle block of the first
  decoder level with attention, same width (1280) and same relative resolution (latent/4, i.e. 32×32 at 1024²:
  1/32 of the image side, as 16×16 is of 512²); q/k from there on skip the level's first block as SD1.5's from 4
  skip block 3. The 640-wide level (output 3 on) would copy finer, more appearance-laden features.

Presets:
- "clap2diffusion" (default): the sampler's feature_block / attention_block inputs (AUTO = the family's PNP_BLOCKS),
  the source row with no audio.
- "sonicdiffusion": SonicDiffusion's pnp.py / pnp_utils.py (BurakCanBiner/SonicDiffusion):
    conv features of diffusers `up_blocks[1].resnets[1, 2]` (pnp_utils.py:160-166) = the ResBlocks of ComfyUI
      output blocks 4 and 5: their residual branch (after conv2, before the skip path is added), as theirs —
      pnp.ConvFeatureHook, a torch forward hook on the ResBlock's last conv (`out_layers[-1]`) for the edit's
      sampling only (ComfyUI has no patch point inside a ResBlock). No block output is copied (feature_blocks empty).
    self-attention q/k in up_blocks[1].attentions[1, 2] and up_blocks[2, 3].attentions[0, 1, 2]
      (pnp_utils.py:99-104) = ComfyUI output blocks 4-11: attention_from = 4 (diffusers up block i, attention j is
      output block 3i + j), the same blocks as the default.
    the source row hears the unconditional audio, projector(zeros) for a SonicDiffusion adapter (pnp.py:111-114).
  SonicDiffusion is SD1.x only; on SDXL the preset takes the same places in SDXL's decoder (the ResBlocks of output
  blocks 1 and 2, q/k from 1 on), by the correspondence above.
  The fractions stay the sampler's inputs (the issue's figure for theirs is 0.8 for both; their run_pnp defaults are
  0.5). Other differences: their source row reads the stored inversion latents and the empty prompt; ours
  regenerates the source from its inverted noise (exact inverse of the Euler sampler) with the edit's prompt.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import EditInputError
from .families import REGISTRY, family_name
from .pnp_blocks import PnPBlocks
from .rows import PLAIN, SOURCE_NULL

AUTO = -1   # a feature_block / attention_block input that means "the model family's Plug-and-Play block"


def family_pnp_blocks(preset: str | None = None) -> dict[str, PnPBlocks]:
    """family → its Plug-and-Play blocks (preset None) or the preset's own blocks, as each family module declares
    them (c2d_core/families/: `pnp`, `edit_presets`)."""
    if preset is None:
        return {name: spec.pnp for name, spec in REGISTRY.items() if spec.pnp is not None}
    return {name: spec.edit_presets[preset] for name, spec in REGISTRY.items() if preset in spec.edit_presets}


PNP_BLOCKS = family_pnp_blocks()   # the registered families' defaults (the node's tooltips)


@dataclass(frozen=True)
class EditPreset:
    """own_blocks: the preset copies its own blocks per family (as the family modules declare them), else the
    sampler's inputs; source: the source row's kind."""

    name: str
    own_blocks: bool
    source: str

    @property
    def blocks(self) -> dict[str, PnPBlocks] | None:
        """family → the preset's own blocks, or None = the sampler's inputs."""
        return family_pnp_blocks(self.name) if self.own_blocks else None


PRESETS = {p.name: p for p in (EditPreset("clap2diffusion", own_blocks=False, source=PLAIN),
                               EditPreset("sonicdiffusion", own_blocks=True, source=SOURCE_NULL))}
DEFAULT_PRESET = "clap2diffusion"


def edit_preset(name: str) -> EditPreset:
    if name not in PRESETS:
        raise EditInputError(f"unknown edit preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def pnp_blocks(preset: str, family: str | None, feature_block: int = AUTO, attention_block: int = AUTO, *,
               model: str = "the model") -> PnPBlocks:
    """The blocks the edit copies: the preset's own for the family, else the inputs, AUTO ones from the family's.

    family: our family id of the model ("sd15", "sdxl"), None when it is none of ours (then only explicit inputs
    with the default preset work); model: the model's name for the error.
    """
    p = edit_preset(preset)
    table = family_pnp_blocks(preset if p.own_blocks else None)
    if p.own_blocks or AUTO in (feature_block, attention_block):
        if family not in table:
            known = ", ".join(family_name(f) for f in table)
            raise EditInputError(
                f"{model} is not a model family with known Plug-and-Play blocks ({known}); "
                + ("use the clap2diffusion preset and " if p.own_blocks else "")
                + "set feature_block and attention_block (decoder block numbers, 0 or more) for it")
        if p.own_blocks:
            return table[family]
    default = table.get(family)
    return PnPBlocks(feature_blocks=default.feature_blocks if feature_block == AUTO else (feature_block,),
                     attention_from=default.attention_from if attention_block == AUTO else attention_block)
