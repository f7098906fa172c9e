"""SonicProjector ("sonic77"): SonicDiffusion's conv/deconv audio projector, parameter for parameter.

SonicDiffusion (BurakCanBiner/SonicDiffusion, `ldm/modules/encoders/audio_projector_res.py`, class
`Adapter`, built in `app.py:72` as `Adapter(audio_token_count=77, transformer_layer_count=4)`):

    e (B, 1024) → (B, 1, 1024) → Conv1d×3 / LayerNorm / ConvTranspose1d (×3 length) / Conv1d (stride 4)
      → P (B, n_tokens, 768)
    for i in 0..3:  out = between[i](attn[i](P)) + P          ← every layer reads P, as published
    tokens = to_out(out)                                      (B, n_tokens, 768)

The published loop (audio_projector_res.py:84-87) feeds `audio_proj` (P), not the previous layer's
output, to every attention layer, so only layer 3 affects the tokens; layers 0–2 are still in the
released file and in this module (they load 1:1 and get no gradient). We reproduce that exactly:
parity with the released weights matters more than elegance.

Attribute names and Sequential indices equal theirs, so their flat state dict
(`audio_projector_*.pth`) loads with `load_state_dict(strict=True)` unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import AdapterMismatchError

SONIC_AUDIO_DIM = 1024     # MS-CLAP 2022 embedding width (their `audio_dim`)
SONIC_CONTEXT_DIM = 768    # SD1.x text context width (their `context_dim`)
SONIC_LAYERS = 4           # their transformer_layer_count
SONIC_HEADS, SONIC_DIM_HEAD = 8, 40   # their MyCrossAttention defaults (h=8, dim_head=40)


class SonicSelfAttention(nn.Module):
    """Their `MyCrossAttention` (audio_projector_res.py:11-37): self-attention over the tokens, no bias,
    no output projection. x: (B, N, 768) → (B, N, heads·dim_head = 320)."""

    def __init__(self, context_dim: int = SONIC_CONTEXT_DIM, heads: int = SONIC_HEADS, dim_head: int = SONIC_DIM_HEAD):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head = heads, dim_head
        self.to_q_adapter = nn.Linear(context_dim, inner, bias=False)
        self.to_k_adapter = nn.Linear(context_dim, inner, bias=False)
        self.to_v_adapter = nn.Linear(context_dim, inner, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = (f(x).view(B, N, self.heads, self.dim_head).transpose(1, 2)
                   for f in (self.to_q_adapter, self.to_k_adapter, self.to_v_adapter))
        out = F.scaled_dot_product_attention(q, k, v)          # softmax(q kᵀ / √dim_head) v, as theirs
        return out.transpose(1, 2).reshape(B, N, self.heads * self.dim_head)


class SonicProjector(nn.Module):
    """e: (B, 1024) → tokens: (B, n_tokens, 768). n_tokens is their `audio_token_count` (77 released)."""

    def __init__(self, *, clap_dim: int = SONIC_AUDIO_DIM, context_dim: int = SONIC_CONTEXT_DIM, n_tokens: int = 77):
        super().__init__()
        if clap_dim != SONIC_AUDIO_DIM or context_dim != SONIC_CONTEXT_DIM:
            raise ValueError(f"the sonic77 projector maps {SONIC_AUDIO_DIM}-d CLAP embeddings to {SONIC_CONTEXT_DIM}-d "
                             f"tokens (its conv lengths are fixed); got clap_dim={clap_dim}, context_dim={context_dim}")
        self.clap_dim, self.context_dim, self.n_tokens = clap_dim, context_dim, n_tokens
        n, d = n_tokens, clap_dim
        inner = SONIC_HEADS * SONIC_DIM_HEAD
        # audio_projector_res.py:48-63, same indices (0..13) so the released keys load unchanged
        self.audio_emb_projection = nn.Sequential(
            nn.Conv1d(1, n, kernel_size=17, stride=1, padding=8),
            nn.GELU(),
            nn.Conv1d(n, n, kernel_size=17, stride=1, padding=8),
            nn.GELU(),
            nn.LayerNorm([n, d]),
            nn.Conv1d(n, n, kernel_size=17, stride=1, padding=8),
            nn.GELU(),
            nn.LayerNorm([n, d]),
            nn.ConvTranspose1d(n, n, kernel_size=17, stride=3, padding=7),
            nn.GELU(),
            nn.LayerNorm([n, 3 * d]),
            nn.GELU(),
            nn.Conv1d(n, n, kernel_size=17, stride=4, padding=7),
            nn.Dropout(0.0),
        )
        self.cross_attention = nn.ModuleList(SonicSelfAttention(context_dim) for _ in range(SONIC_LAYERS))
        self.between_attention = nn.ModuleList(
            nn.Sequential(nn.Linear(inner, inner), nn.GELU(), nn.Linear(inner, context_dim), nn.Dropout(0.0))
            for _ in range(SONIC_LAYERS))
        self.to_out_adapter = nn.Sequential(nn.Linear(context_dim, context_dim), nn.Dropout(0.0))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if e.ndim != 2 or e.shape[1] != self.clap_dim:
            raise AdapterMismatchError(
                f"audio embedding has shape {tuple(e.shape)} but this SonicDiffusion adapter expects (B, {self.clap_dim}) "
                "Microsoft CLAP 2022 embeddings; load the CLAP model it was trained with (msclap-2022)")
        w = self.to_out_adapter[0].weight
        p = self.audio_emb_projection(e.to(device=w.device, dtype=w.dtype)[:, None, :])   # P: (B, n_tokens, 768)
        # audio_projector_res.py:84-87 — every layer reads P; only the last layer's result survives the loop.
        # Layers 0-2 are skipped here because their results are overwritten unused in theirs too.
        out = self.between_attention[-1](self.cross_attention[-1](p)) + p
        return self.to_out_adapter(out)                                                    # (B, n_tokens, 768)
