"""SonicDiffusion's own math, re-typed from its source for parity tests (test-only; never shipped).

Source: BurakCanBiner/SonicDiffusion (fetched with the session's fetch tool, HEAD of the default branch):
- `ldm/modules/encoders/audio_projector_res.py` — `MyCrossAttention` (lines 11-37) and `Adapter`
  (lines 40-92) re-typed below as `TheirMyCrossAttention` / `TheirProjector`, forward loop unchanged
  (lines 84-89: every layer reads `audio_proj`);
- `attention_custom.py` — the adapter members of `BasicTransformerBlock.__init__` (lines 233-245) and
  its forward for norm_type "layer_norm" (lines 309-417), re-typed as `TheirBlock` around a diffusers
  BasicTransformerBlock's own norm1/attn1/norm2/attn2/norm3/ff;
- `app.py` — projector built as `Adapter(audio_token_count=77, transformer_layer_count=4)` (line 72),
  strict `load_state_dict` (line 73), adapter tensors copied by name for every UNet parameter whose name
  contains "adapter" (lines 54-56), `use_adapter_list=[False, True, True]` (line 47: mid + up blocks),
  uncond audio = projector(zeros(1, 1024)) (lines 93-94), audio_context = cat([uncond, cond]) (line 96).

Their UNet threads `audio_context` through unet2d_custom.py → unet_2d_blocks_custom.py →
transformer_2d_custom.py (lines 261-401) into each block; here the test sets `AudioContext.value` before
calling a stock diffusers UNet whose adapter blocks are `TheirBlock`s (same tensors, same names).

Licence: their repository has no licence file (checked 2026-12-02). Only what the parity tests need is re-typed
here, and nothing the nodes or the trainer load imports this file.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange
from torch import einsum

from devtools.standin_sonic import sonic_adapter_tensors as fake_adapter_tensors  # noqa: F401 (re-exported for the tests)

# a tiny SD1.x-shaped UNet: 4 levels, attention on levels 0-2, 8 heads, 768-d context, 2 res blocks
DIFFUSERS_TINY = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64, 64),
                      layers_per_block=2, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                      up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                      attention_head_dim=8, norm_num_groups=32)
# the same UNet as ComfyUI's UNetModel arguments (SD15 model config; transformer_depth_output is popped from the end)
COMFY_TINY = dict(image_size=32, in_channels=4, out_channels=4, model_channels=32, num_res_blocks=[2] * 4,
                  channel_mult=[1, 2, 2, 2], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0],
                  transformer_depth_output=[1] * 9 + [0] * 3, transformer_depth_middle=1, context_dim=768, num_heads=8,
                  num_head_channels=-1, use_linear_in_transformer=False, use_spatial_transformer=True, legacy=False,
                  adm_in_channels=None, use_temporal_attention=False, use_temporal_resblock=False, use_checkpoint=False)
SONIC_BLOCKS = ("mid_block.attentions.0",) + tuple(f"up_blocks.{i}.attentions.{j}" for i in (1, 2, 3) for j in range(3))


class TheirMyCrossAttention(nn.Module):
    """audio_projector_res.py:11-37, unchanged."""

    def __init__(self, device="cuda", audio_dim=1024, context_dim=768, dropout=0.0, h=8, dim_head=40):
        super().__init__()
        self.h = h
        inner_dim = dim_head * h
        self.scale = dim_head ** -0.5
        self.to_q_adapter = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_k_adapter = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_v_adapter = nn.Linear(context_dim, inner_dim, bias=False)

    def forward(self, audio):
        q_adapter = self.to_q_adapter(audio)
        k_adapter = self.to_k_adapter(audio)
        v_adapter = self.to_v_adapter(audio)
        q_adapter, k_adapter, v_adapter = map(lambda t: rearrange(t, 'b n (h d) -> (b h) n d', h=self.h),
                                              (q_adapter, k_adapter, v_adapter))
        sim_adapter = einsum('b i d, b j d -> b i j', q_adapter, k_adapter) * self.scale
        attn_adapter = sim_adapter.softmax(dim=-1)
        out = einsum('b i j, b j d -> b i d', attn_adapter, v_adapter)
        return rearrange(out, '(b h) n d -> b n (h d)', h=self.h)


class TheirProjector(nn.Module):
    """audio_projector_res.py:40-92 (`Adapter`), unchanged; input (B, 1, 1024)."""

    def __init__(self, device="cuda", audio_dim=1024, context_dim=768, dropout=0.0, h=8, dim_head=40,
                 audio_token_count=10, initial_channel_dim=1, transformer_layer_count=4):
        super().__init__()
        self.h = h
        inner_dim = dim_head * h
        n = audio_token_count
        self.audio_emb_projection = nn.Sequential(
            nn.Conv1d(initial_channel_dim, n, kernel_size=17, stride=1, padding=8), nn.GELU(),
            nn.Conv1d(n, n, kernel_size=17, stride=1, padding=8), nn.GELU(),
            nn.LayerNorm([n, audio_dim]),
            nn.Conv1d(n, n, kernel_size=17, stride=1, padding=8), nn.GELU(),
            nn.LayerNorm([n, audio_dim]),
            nn.ConvTranspose1d(n, n, kernel_size=17, stride=3, padding=7), nn.GELU(),
            nn.LayerNorm([n, 3 * audio_dim]), nn.GELU(),
            nn.Conv1d(n, n, kernel_size=17, stride=4, padding=7),
            nn.Dropout(dropout))
        self.cross_attention = nn.ModuleList([TheirMyCrossAttention(device, audio_dim, context_dim, dropout, h, dim_head)
                                              for _ in range(transformer_layer_count)])
        self.between_attention = nn.ModuleList([nn.Sequential(
            nn.Linear(inner_dim, inner_dim), nn.GELU(), nn.Linear(inner_dim, context_dim), nn.Dropout(dropout))
            for _ in range(transformer_layer_count)])
        self.to_out_adapter = nn.Sequential(nn.Linear(context_dim, context_dim), nn.Dropout(dropout))

    def forward(self, audio_context):
        audio_proj = self.audio_emb_projection(audio_context)
        for cross_attention, between_attention in zip(self.cross_attention, self.between_attention):
            out = cross_attention(audio_proj)
            out = between_attention(out) + audio_proj
        return self.to_out_adapter(out)


def their_projector(seed: int) -> TheirProjector:
    """app.py:72 — Adapter(audio_token_count=77, transformer_layer_count=4), random weights (seeded)."""
    torch.manual_seed(seed)
    return TheirProjector(audio_token_count=77, transformer_layer_count=4).eval()


class AudioContext:
    """Stands in for their `audio_context` argument threaded through the UNet (set before each call)."""
    value: torch.Tensor | None = None
    f_multiplier: float = 1.0


class TheirBlock(nn.Module):
    """attention_custom.py BasicTransformerBlock with use_adapter=True, norm_type "layer_norm": the stock block's
    modules plus attn_adapter / norm_adapter / gate_adapter (lines 233-245), forward as lines 309-417."""

    def __init__(self, block: nn.Module, ctx: AudioContext, gate: float = 0.1):
        super().__init__()
        from diffusers.models.attention_processor import Attention

        for name in ("norm1", "attn1", "norm2", "attn2", "norm3", "ff"):
            setattr(self, name, getattr(block, name))
        dim = block.norm1.normalized_shape[0]
        heads = block.attn2.heads
        self.attn_adapter = Attention(query_dim=dim, cross_attention_dim=768, heads=heads, dim_head=dim // heads,
                                      dropout=0.0, bias=False, upcast_attention=False, out_bias=True)
        self.norm_adapter = nn.LayerNorm(dim)
        self.gate_adapter = nn.Parameter(torch.tensor([gate]))
        self.ctx = ctx

    def forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                timestep=None, cross_attention_kwargs=None, class_labels=None, added_cond_kwargs=None, **unused):
        norm_hidden_states = self.norm1(hidden_states)
        attn_output = self.attn1(norm_hidden_states, encoder_hidden_states=None, attention_mask=attention_mask)
        hidden_states = attn_output + hidden_states
        norm_hidden_states = self.norm2(hidden_states)
        attn_output = self.attn2(norm_hidden_states, encoder_hidden_states=encoder_hidden_states,
                                 attention_mask=encoder_attention_mask)
        hidden_states = attn_output + hidden_states
        audio_context = self.ctx.value
        if audio_context is not None:                                        # attention_custom.py:384-387
            norm_hidden_states = self.norm_adapter(hidden_states)
            attn_output = self.attn_adapter(norm_hidden_states, encoder_hidden_states=audio_context) * self.gate_adapter.tanh()
            hidden_states = attn_output * self.ctx.f_multiplier + hidden_states
        norm_hidden_states = self.norm3(hidden_states)
        ff_output = self.ff(norm_hidden_states)
        return ff_output + hidden_states


def their_unet(seed: int, gate: float = 0.1):
    """(diffusers UNet2DConditionModel with TheirBlock at SonicDiffusion's 10 blocks, AudioContext), random weights;
    the adapter tensors' names are those of the released <name>.pt."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**DIFFUSERS_TINY)
    ctx = AudioContext()
    for name in SONIC_BLOCKS:
        transformer = unet.get_submodule(name)
        transformer.transformer_blocks[0] = TheirBlock(transformer.transformer_blocks[0], ctx, gate)
    with torch.no_grad():  # non-trivial LayerNorm/bias values so every tensor matters
        g = torch.Generator().manual_seed(seed + 1)
        for k, p in unet.named_parameters():
            if "adapter" in k and k.endswith(("norm_adapter.weight", "norm_adapter.bias", "to_out.0.bias")):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return unet.eval(), ctx


def adapter_tensors(unet) -> dict[str, torch.Tensor]:
    """What the released <name>.pt holds: {diffusers name: tensor} of every parameter named '*adapter*' (app.py:54-56)."""
    return {k: v.detach().clone() for k, v in unet.state_dict().items() if "adapter" in k}


def base_state(unet) -> dict[str, torch.Tensor]:
    """The base UNet's diffusers state dict (the SD1.x checkpoint, without the adapter tensors)."""
    return {k: v for k, v in unet.state_dict().items() if "adapter" not in k}


# block widths of the tiny SD1.x-shaped UNet (DIFFUSERS_TINY / COMFY_TINY; the trainer's tiny UNet with the same shape)
SMALL = {"middle_0_0": 64, **{f"output_{n}_0": 64 for n in range(3, 9)}, **{f"output_{n}_0": 32 for n in range(9, 12)}}
