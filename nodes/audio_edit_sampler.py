"""Audio Edit Sampler (PnP): regenerates an inverted image with the audio-patched model, keeping its structure.

The algorithm is c2d_core's (pnp_edit.py, pnp.py, source_row.py); this node checks that the inputs belong
together and installs the hooks through ComfyUI's supported patch points.
"""
from __future__ import annotations

import torch

from ..c2d_core.errors import EditInputError
from ..c2d_core.families import REGISTRY, family_layout, family_name
from ..c2d_core.inversion import resize_mask
from ..c2d_core.pnp import PnPAttentionPatch, PnPFeaturePatch, PnPState, install_conv_hooks
from ..c2d_core.pnp_edit import pnp_edit
from ..c2d_core.pnp_presets import AUTO, DEFAULT_PRESET, PNP_BLOCKS, PRESETS, edit_preset, pnp_blocks
from ..c2d_core.source_row import SourceRowOnce
from .comfy_api_pin import io
from .comfy_model import base_family
from .edit_common import INVERSION_KEY, InversionRecord, sampler_start
from .types import CATEGORY


def _check_decoder_blocks(base, feature_blocks: tuple[int, ...], attention_block: int,
                          conv_blocks: tuple[int, ...] = ()) -> None:
    """The PnP blocks must exist in this UNet (SD1.5 has 12 decoder blocks, SDXL 9; smaller UNets fewer): ask it."""
    blocks = getattr(getattr(base, "diffusion_model", None), "output_blocks", None)
    if blocks is None:
        return
    n = len(blocks)
    # features are taken as the output of block feature_block, i.e. at the input of block feature_block + 1
    feature_block = max(feature_blocks, default=-1)
    if max(conv_blocks, default=-1) > n - 1:
        raise EditInputError(f"this edit preset copies ResBlock features of decoder blocks {list(conv_blocks)}, but the "
                             f"model's UNet has {n} decoder blocks; use the clap2diffusion preset with this model")
    if feature_block > n - 2:
        raise EditInputError(f"feature_block {feature_block} does not exist in this model: its UNet has {n} decoder "
                             f"blocks, so features can be copied from blocks 0-{n - 2}; lower feature_block")
    if attention_block > n - 1:
        raise EditInputError(f"attention_block {attention_block} does not exist in this model: its UNet has {n} "
                             f"decoder blocks (0-{n - 1}); lower attention_block")


def _check_no_copy(family: str, preset_copies: bool, feature_fraction: float, attention_fraction: float) -> None:
    """A DiT has no UNet decoder to copy Plug-and-Play features from: only the masked edit from the inversion runs."""
    if preset_copies or feature_fraction > 0 or attention_fraction > 0:
        raise EditInputError(
            f"the Audio Edit Sampler's Plug-and-Play feature copy is not available for {family}: it copies UNet "
            f"decoder features, and a {family} transformer has none; set feature_fraction and attention_fraction to 0 "
            "with the clap2diffusion preset (the edit then regenerates the inverted image with the sound, and a mask "
            "keeps the rest), or edit with an SD1.5 or SDXL model")


def _edit_sampler(record: InversionRecord, feature_fraction: float, attention_fraction: float, mask,
                  feature_block: int = AUTO, attention_block: int = AUTO, preset: str = DEFAULT_PRESET):
    """A KSAMPLER running c2d_core.pnp_edit with the PnP hooks and the source-row wrapper installed; the blocks are
    resolved against the sampled model's family (pnp_presets.pnp_blocks) when sampling starts."""
    import comfy.samplers

    traj = record.trajectory
    p = edit_preset(preset)

    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None):
        extra_args = dict(extra_args or {})
        guider = model.inner_model         # KSamplerX0Inpaint → the guider (CFGGuider, Audio Guider, ...)
        base = guider.inner_model          # what is sampled (0.33: maybe a non-dynamic delegate's reloaded model)
        if not record.made_with(guider):
            raise EditInputError(f"the latent was inverted with another model ({record.model_name}); invert it with "
                                 "the same checkpoint the edit samples with")
        if sigmas.shape != traj.sigmas.shape or not torch.allclose(sigmas.cpu().float(), traj.sigmas.float(),
                                                                    rtol=1e-4, atol=1e-5):
            raise EditInputError(f"the edit samples {len(sigmas) - 1} steps over other sigmas than the inversion "
                                 f"({len(traj.sigmas) - 1} steps); connect the same SIGMAS to both")
        x = sampler_start(model, x)   # flow models: the inverted latent, which ComfyUI's noise scaling drops
        family, config_name = base_family(base)
        decoder = family is None or family_layout(family).decoder_blocks > 0
        if decoder:
            blocks = pnp_blocks(preset, family, feature_block, attention_block, model=f"the model ({config_name})")
            _check_decoder_blocks(base, blocks.feature_blocks, blocks.attention_from, blocks.conv_blocks)
            state = PnPState(feature_block=(blocks.feature_blocks or (None,))[0],
                             more_feature_blocks=blocks.feature_blocks[1:], attention_from=blocks.attention_from,
                             conv_blocks=blocks.conv_blocks)
        else:
            _check_no_copy(family_name(family), p.own_blocks, feature_fraction, attention_fraction)
            state = PnPState(feature_block=None)   # a DiT: the masked edit from the inversion, nothing copied
        m = extra_args.pop("denoise_mask", None)
        if mask is not None:
            m = resize_mask(mask, x)
        elif m is not None:
            m = m[:, :1] if m.ndim == 4 else m
        extra_args["denoise_mask"] = None
        # ComfyUI 0.33 multi-GPU: the source row, the PnP state and the conv hooks (installed on this UNet only) need
        # every row in one call on this device, so the edit runs on the main device (as core's guiders do for uncond)
        opts = extra_args["model_options"] = {k: v for k, v in (extra_args.get("model_options") or {}).items()
                                              if k != "multigpu_clones"}
        to = opts["transformer_options"] = dict(opts.get("transformer_options") or {})
        patches = to["patches"] = {k: list(v) for k, v in (to.get("patches") or {}).items()}
        if decoder:
            patches.setdefault("attn1_patch", []).append(PnPAttentionPatch(state))
            patches.setdefault("output_block_patch", []).append(PnPFeaturePatch(state))
        opts["model_function_wrapper"] = SourceRowOnce(opts.get("model_function_wrapper"), source=p.source)
        handles = install_conv_hooks(base.diffusion_model, state) if state.conv_blocks else []
        try:
            return pnp_edit(lambda xi, s: model(xi, s, **extra_args), x, sigmas, traj, state,
                            feature_fraction=feature_fraction, attention_fraction=attention_fraction, mask=m,
                            callback=callback)
        finally:
            for handle in handles:
                handle.remove()
    return comfy.samplers.KSAMPLER(sample)


_DEFAULTS = ", ".join(f"{family_name(f)} {b.feature_blocks[0]}" for f, b in PNP_BLOCKS.items())
_ATTENTION_DEFAULTS = ", ".join(f"{family_name(f)} {b.attention_from}" for f, b in PNP_BLOCKS.items())
_DECODER_BLOCKS = max(spec.layout.decoder_blocks for spec in REGISTRY.values())  # the widest range any family has


class C2DAudioEditSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioEditSampler",
            display_name="Audio Edit Sampler (PnP, C2D)",
            category=CATEGORY,
            description="A SAMPLER for SamplerCustom that edits an inverted image with the audio-patched model while "
                        "keeping its structure (Plug-and-Play: the source's decoder features and self-attention "
                        "q/k are copied into the edit for the first fraction of the steps). A mask (or a latent "
                        "noise mask) limits where the sound may change the image.",
            inputs=[
                io.Latent.Input("inverted", tooltip="from Invert Latent: carries the source trajectory"),
                io.Float.Input("feature_fraction", default=0.8, min=0.0, max=1.0, step=0.05,
                               tooltip="fraction of the steps that copy the source's decoder features"),
                io.Float.Input("attention_fraction", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="fraction of the steps that copy the source's self-attention q/k"),
                io.Int.Input("feature_block", default=AUTO, min=AUTO, max=_DECODER_BLOCKS - 2, optional=True,
                             tooltip=f"decoder (output) block whose features are copied; {AUTO} = Plug-and-Play's "
                                     f"block for the model's family ({_DEFAULTS}: the middle block of the first "
                                     "decoder level with attention, 1280 wide at 1/4 of the latent's size); later "
                                     "blocks keep more of the source's look"),
                io.Int.Input("attention_block", default=AUTO, min=AUTO, max=_DECODER_BLOCKS - 1, optional=True,
                             tooltip=f"first decoder (output) block whose self-attention q/k are copied (this block "
                                     f"and every later one); {AUTO} = Plug-and-Play's for the model's family "
                                     f"({_ATTENTION_DEFAULTS})"),
                io.Mask.Input("mask", optional=True, tooltip="white = the sound may change it; elsewhere the source is kept"),
                io.Combo.Input("preset", options=list(PRESETS), default=DEFAULT_PRESET, optional=True,
                               tooltip="clap2diffusion: the blocks above, the source row without audio. sonicdiffusion: "
                                       "SonicDiffusion's Plug-and-Play (the ResBlock conv features of decoder blocks 4 "
                                       "and 5, q/k from block 4 on; on SDXL the same places, blocks 1 and 2, q/k from "
                                       "1 on; feature_block / attention_block ignored; the source row hears the "
                                       "unconditional audio); theirs uses 0.8 for both fractions"),
            ],
            outputs=[io.Sampler.Output(tooltip="for SamplerCustom with the audio-patched model and the inversion's SIGMAS, add_noise off")],
        )

    @classmethod
    def execute(cls, inverted, feature_fraction, attention_fraction, feature_block=AUTO, mask=None,
                attention_block=AUTO, preset=DEFAULT_PRESET) -> io.NodeOutput:
        record = inverted.get(INVERSION_KEY)
        if record is None or type(record).__name__ != "InversionRecord":
            raise EditInputError("this LATENT carries no inversion; connect the output of Invert Latent (C2D)")
        if record.trajectory.source.shape[0] != 1:
            raise EditInputError(f"the inverted latent holds {record.trajectory.source.shape[0]} images; invert and "
                                 "edit one image at a time")
        if mask is not None:
            resize_mask(mask, record.trajectory.source)  # size errors now, not mid-sampling
        edit_preset(preset)                               # an unknown preset: said now
        return io.NodeOutput(_edit_sampler(record, feature_fraction, attention_fraction, mask, feature_block,
                                            attention_block, preset))
