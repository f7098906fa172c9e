"""Plug-and-Play structure preservation for the edit pass (pure torch, ComfyUI hook signatures).

The edit sampler runs each UNet call on one source row (a "plain" row of the `c2d_rows` plan, see
rows.py) beside the edit rows. For the first fraction of the steps these hooks overwrite every edit
row with the source row's
  - decoder features: `h` leaving output block `feature_block` (and any `more_feature_blocks`;
    `output_block_patch` hook), and
  - self-attention queries and keys (the inputs of q and k; values stay the edit's own) in the
    transformer blocks of output blocks ≥ `attention_from` (`attn1_patch` hook),
  - optionally (`conv_blocks`, the SonicDiffusion preset) the residual branch of the first ResBlock of given output
    blocks, as Plug-and-Play's conv injection (`ConvFeatureHook`: a torch forward hook on the last conv of the
    ResBlock's `out_layers`, installed for the edit's sampling only; ComfyUI has no patch point inside a ResBlock),
so the edit keeps the source's layout while the audio changes its content.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .rows import SOURCE_KINDS, row_plan


@dataclass
class PnPState:
    """Mutable per-step switches set by the sampler before each model call."""

    features: bool = False
    attention: bool = False
    feature_block: int | None = 4  # SD1.5 output block whose output h is copied (decoder layer 4); None: none
    attention_from: int = 4       # output blocks >= this get the source's self-attention q/k
    more_feature_blocks: tuple[int, ...] = ()   # further output blocks whose output h is copied (a preset)
    conv_blocks: tuple[int, ...] = ()           # output blocks whose first ResBlock's residual branch is copied
    options: dict | None = None   # transformer_options of the running UNet call (recorded by PnPFeaturePatch)

    def copies_features_of(self, block: int) -> bool:
        return block == self.feature_block or block in self.more_feature_blocks


def source_row_to_edit_rows(t: torch.Tensor, options: dict) -> torch.Tensor:
    """t: (B, ...) → copy where every non-source row is replaced by the source row (the plan's plain or
    source_null row); t itself when the batch has no source row."""
    plan = row_plan(options, t.shape[0])
    src = [r for r, k in enumerate(plan.kinds) if k in SOURCE_KINDS]
    if not src:
        return t
    out = t.clone()
    edit = [r for r in range(t.shape[0]) if r != src[0]]
    out[edit] = t[src[0]]
    return out


class PnPFeaturePatch:
    """`output_block_patch`: (h, hsp, transformer_options) → (h, hsp)."""

    c2d_row_aware = True  # reads the c2d_rows plan (source_row.foreign_patches)

    def __init__(self, state: PnPState):
        self.state = state

    def to(self, device_or_dtype):
        return self  # ComfyUI's `.to()` on patches: nothing here holds tensors

    def __call__(self, h, hsp, transformer_options):
        self.state.options = transformer_options  # the row plan of this UNet call, for ConvFeatureHook
        block = transformer_options.get("block")
        # this hook runs before output block id; h there is the output of block id - 1
        if self.state.features and block is not None and block[0] == "output" \
                and self.state.copies_features_of(block[1] - 1):
            h = source_row_to_edit_rows(h, transformer_options)
        return h, hsp


class PnPAttentionPatch:
    """`attn1_patch`: (n, context, value, extra_options) → (n, context, value); q and k inputs of the
    edit rows become the source row's, the value input stays the edit's own."""

    c2d_row_aware = True

    def __init__(self, state: PnPState):
        self.state = state

    def to(self, device_or_dtype):
        return self  # ComfyUI's `.to()` on patches: nothing here holds tensors

    def __call__(self, n, context, value, extra_options):
        block = extra_options.get("block")
        if not (self.state.attention and block is not None and block[0] == "output"
                and block[1] >= self.state.attention_from):
            return n, context, value
        new_n = source_row_to_edit_rows(n, extra_options)
        new_context = new_n if context is n else source_row_to_edit_rows(context, extra_options)
        return new_n, new_context, value


class ConvFeatureHook:
    """Forward hook on the last conv of a ResBlock's residual branch `out_layers` (ComfyUI's ResBlock returns
    skip(x) + out_layers(..)):
    the edit rows' branch output becomes the source row's, the skip path stays the edit's own — Plug-and-Play's conv
    injection as SonicDiffusion's pnp_utils.py:160-166 (`hidden_states[edit] = hidden_states[source]` after conv2,
    then `input_tensor + hidden_states`). Output: (B, C, H, W)."""

    def __init__(self, state: PnPState):
        self.state = state

    def __call__(self, module, inputs, output):
        if not self.state.features or self.state.options is None:
            return output
        return source_row_to_edit_rows(output, self.state.options)


def conv_feature_modules(unet: torch.nn.Module, blocks: tuple[int, ...]) -> list[torch.nn.Module]:
    """The last layer (conv2) of `out_layers` of the first ResBlock of each given output block (LDM / ComfyUI UNet
    layout); the conv itself, as ComfyUI's scale-shift path runs `out_layers[1:]` (a new Sequential of the same
    layers)."""
    found = []
    for b in blocks:
        first = unet.output_blocks[b][0]
        if not hasattr(first, "out_layers") or not hasattr(first, "skip_connection"):
            raise ValueError(f"output block {b} does not start with a ResBlock")
        found.append(first.out_layers[-1])
    return found


def install_conv_hooks(unet: torch.nn.Module, state: PnPState) -> list:
    """Register ConvFeatureHook on state.conv_blocks; returns the handles (call .remove() on each when done)."""
    hook = ConvFeatureHook(state)
    return [m.register_forward_hook(hook) for m in conv_feature_modules(unet, state.conv_blocks)]
