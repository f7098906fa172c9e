"""GlueGen's sound GlueNet (`Translator_w_head(16, 77, 64, 768, mult=4, depth=5)`) in pure torch.

Same computation and tensor names as `stable-diffusion/ldm/modules/encoders/translators.py` of salesforce/GlueGen
(Apache-2.0; the inference class, not the same-named one in sound-gluenet/model.py), so the released
`gluenet_sound2img_audioclip_us8k.ckpt` (168 tensors) loads strictly. x: (B, 16, 64), the unit AudioCLIP embedding:
  in_blocks ×3    x ← GELU(block(x) + x), block(x) = N((S(x) + x)ᵀ) + (S(x) + x)ᵀ, transposed back; S over the 64
                  channels (MLP with LayerNorms, 64 → 256 → 256 → 64), N over the 16 tokens (16 → 64 → 64 → 16)
  trans           channels 64 → 768 (MLP_LN 64 → 256 → 256 → 768), then tokens 16 → 77 (16 → 64 → 64 → 77)
  out_blocks ×2   as in_blocks at 77 tokens × 768
  tails           x ← tail_2(tail_1(x) + x); tails: MLPs without LayerNorm (channels 768 → 3072 → 3072 → 768 + GELU,
                  tokens 77 → 308 → 308 → 77)
  × TENSOR_NORM/2 per-token norms of CLIP ViT-L/14 text states, which training divided out   → (B, 77, 768)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..torch_files import meta_layout

# GlueGen's `tensor_norm` (modules.py, FrozenAudioCLIPEmbedder): per-token L2 norms of CLIP-L/14 last hidden states.
TENSOR_NORM = (43.8203, 28.3668, 27.9345, 28.0084, 28.2958, 28.2576, 28.3373, 28.2695, 28.4097, 28.2790, 28.2825,
               28.2807, 28.2775, 28.2708, 28.2682, 28.2624, 28.2589, 28.2611, 28.2616, 28.2639, 28.2613, 28.2566,
               28.2615, 28.2665, 28.2799, 28.2885, 28.2852, 28.2863, 28.2780, 28.2818, 28.2764, 28.2532, 28.2412,
               28.2336, 28.2514, 28.2734, 28.2763, 28.2977, 28.2971, 28.2948, 28.2818, 28.2676, 28.2831, 28.2890,
               28.2979, 28.2999, 28.3117, 28.3363, 28.3554, 28.3626, 28.3589, 28.3597, 28.3543, 28.3660, 28.3731,
               28.3717, 28.3812, 28.3753, 28.3810, 28.3777, 28.3693, 28.3713, 28.3670, 28.3691, 28.3679, 28.3624,
               28.3703, 28.3703, 28.3720, 28.3594, 28.3576, 28.3562, 28.3438, 28.3376, 28.3389, 28.3433, 28.3191)
IN_TOKENS, IN_DIM, OUT_TOKENS, OUT_DIM, MULT = 16, 64, 77, 768, 4


def mlp(a: int, h: int, b: int, norms: bool, last_gelu: bool = False) -> nn.Sequential:
    """Linear–(LN)–GELU–Linear–(LN)–GELU–Linear–(LN) [–GELU], indices as GlueGen's nn.Sequential."""
    if norms:
        return nn.Sequential(nn.Linear(a, h), nn.LayerNorm(h), nn.GELU(), nn.Linear(h, h), nn.LayerNorm(h), nn.GELU(),
                             nn.Linear(h, b), nn.LayerNorm(b))
    layers = [nn.Linear(a, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, b)]
    return nn.Sequential(*layers, *([nn.GELU()] if last_gelu else []))


class TranslatorBase(nn.Module):
    """`translator_base(T, D, D)`: residual channel MLP, then residual token MLP. (B, T, D) → (B, T, D)."""

    def __init__(self, tokens: int, dim: int):
        super().__init__()
        self.net_tok = mlp(tokens, tokens * MULT, tokens, norms=True)
        self.net_sen = mlp(dim, dim * MULT, dim, norms=True)

    def forward(self, x):
        x = (self.net_sen(x) + x).transpose(1, 2)
        return (self.net_tok(x) + x).transpose(1, 2)


class TranslatorTokDim(nn.Module):
    """`translator_tok_dim`: channels D_in → D_out, then tokens T_in → T_out. (B, T_in, D_in) → (B, T_out, D_out)."""

    def __init__(self, tokens: int, tokens_out: int, dim: int, dim_out: int, last_ln: bool):
        super().__init__()
        self.net_tok = mlp(tokens, tokens * MULT, tokens_out, norms=last_ln)
        self.net_sen = mlp(dim, dim * MULT, dim_out, norms=last_ln, last_gelu=not last_ln)

    def forward(self, x):
        return self.net_tok(self.net_sen(x).transpose(1, 2)).transpose(1, 2)


class GlueNetSound(nn.Module):
    """The unit AudioCLIP embedding as 16 × 64 tokens → a CLIP-L/14 text condition (B, 77, 768)."""

    def __init__(self):
        super().__init__()
        self.trans = TranslatorTokDim(IN_TOKENS, OUT_TOKENS, IN_DIM, OUT_DIM, last_ln=True)
        self.tail_1 = TranslatorTokDim(OUT_TOKENS, OUT_TOKENS, OUT_DIM, OUT_DIM, last_ln=False)
        self.tail_2 = TranslatorTokDim(OUT_TOKENS, OUT_TOKENS, OUT_DIM, OUT_DIM, last_ln=False)
        self.in_blocks = nn.ModuleList([TranslatorBase(IN_TOKENS, IN_DIM) for _ in range(3)])
        self.out_blocks = nn.ModuleList([TranslatorBase(OUT_TOKENS, OUT_DIM) for _ in range(2)])

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding: (B, 1024) unit AudioCLIP embeddings → (B, 77, 768)."""
        x = embedding.reshape(embedding.shape[0], IN_TOKENS, IN_DIM)
        for block in self.in_blocks:
            x = nn.functional.gelu(block(x) + x)
        x = self.trans(x)
        for block in self.out_blocks:
            x = nn.functional.gelu(block(x) + x)
        tensor_norm = torch.tensor(TENSOR_NORM, dtype=x.dtype, device=x.device)[:, None]   # (77, 1)
        return self.tail_2(self.tail_1(x) + x) * (tensor_norm / 2)


def expected_layout() -> dict[str, tuple[int, ...]]:
    return meta_layout(GlueNetSound)
