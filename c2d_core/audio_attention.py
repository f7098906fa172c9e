"""Gated audio cross-attention: the one implementation used by inference (ComfyUI patch) and training.

    h ← h + strength · tanh(α) · Attn(LN(h), A)

`AudioCrossAttention` is pure attention (q from h, k/v from audio tokens); `GatedAudioAttention`
adds its own LayerNorm and the scalar tanh gate α (zero-initialised ⇒ the base model is unchanged).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cast import CastLayerNorm, CastLinear


class AudioCrossAttention(nn.Module):
    def __init__(self, *, query_dim: int, context_dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head = heads, dim_head
        self.to_q = CastLinear(query_dim, inner, bias=False)
        self.to_k = CastLinear(context_dim, inner, bias=False)
        self.to_v = CastLinear(context_dim, inner, bias=False)
        self.to_out = CastLinear(inner, query_dim)

    def kv(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: (B, N_a, context_dim) → k, v: (B, heads, N_a, dim_head)."""
        B, N, _ = tokens.shape
        k = self.to_k(tokens).view(B, N, self.heads, self.dim_head).transpose(1, 2)
        v = self.to_v(tokens).view(B, N, self.heads, self.dim_head).transpose(1, 2)
        return k, v

    def forward(self, h: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """h: (B, T, query_dim), k/v: (B, heads, N_a, dim_head) → (B, T, query_dim)."""
        B, T, _ = h.shape
        q = self.to_q(h).view(B, T, self.heads, self.dim_head).transpose(1, 2)  # (B, nh, T, hs)
        out = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype))
        return self.to_out(out.transpose(1, 2).reshape(B, T, self.heads * self.dim_head))


    def fold(self, k: torch.Tensor, v: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Fold the fixed audio keys/values into the query and output projections (inference).

        k, v: (B, heads, N_a, dim_head) → kq: (B, heads·N_a, query_dim) with kq[h, n] = k[h, n] · W_q[h],
        vo: (B, heads·N_a, query_dim) with vo[h, n] = scale · (v[h, n] · W_out[:, h]ᵀ + b_out / heads). Each head's
        probabilities sum to 1, so the heads' shares of the bias add up to b_out: `forward_folded` equals
        scale · `forward` with two (T × query_dim × heads·N_a) matmuls instead of two (T × query_dim²) ones and no
        pass over the output for the bias or the scale.
        """
        B, nh, N, hs = k.shape
        f32 = dict(device=k.device, dtype=torch.float32)  # fold in fp32, cast once at use
        wq = self.to_q.weight.to(**f32).view(nh, hs, -1) * hs ** -0.5        # (nh, hs, C), softmax scale in
        wo = self.to_out.weight.to(**f32).t().reshape(nh, hs, -1) * float(scale)   # (nh, hs, C), branch scale in
        C = wq.shape[-1]

        def per_head(t: torch.Tensor) -> torch.Tensor:   # (B, nh, N, hs) → (nh, B·N, hs)
            return t.float().transpose(0, 1).reshape(nh, B * N, hs)

        kq = torch.bmm(per_head(k), wq)                                       # (nh, B·N, C)
        if self.to_out.bias is None:
            vo = torch.bmm(per_head(v), wo)
        else:   # the bias added by the matmul itself
            bias = (self.to_out.bias.to(**f32) * (float(scale) / nh)).expand(nh, 1, C)
            vo = torch.baddbmm(bias, per_head(v), wo)

        def per_row(t: torch.Tensor, dtype) -> torch.Tensor:   # (nh, B·N, C) → (B, nh·N, C)
            return t.view(nh, B, N, C).transpose(0, 1).reshape(B, nh * N, C).to(dtype)
        return per_row(kq, k.dtype), per_row(vo, v.dtype)

    def forward_folded(self, h: torch.Tensor, kq: torch.Tensor, vo: torch.Tensor) -> torch.Tensor:
        """h: (B, T, query_dim), kq/vo from `fold` (B or 1, heads·N_a, query_dim) → (B, T, query_dim); the value of
        `forward` times the scale folded into vo."""
        B, T, _ = h.shape
        scores = torch.matmul(h, kq.to(h.dtype).transpose(1, 2))              # (B, T, nh·N)
        probs = scores.view(B, T, self.heads, -1).softmax(dim=-1).view(B, T, -1)
        return torch.matmul(probs, vo.to(h.dtype))                             # (B, T, C)


class GatedAudioAttention(nn.Module):
    """Residual branch strength · tanh(gate) · Attn(LN(h), tokens) for one transformer block."""

    def __init__(self, *, query_dim: int, context_dim: int, heads: int, dim_head: int, gate_init: float = 0.0):
        super().__init__()
        self.norm = CastLayerNorm(query_dim)
        self.attn = AudioCrossAttention(query_dim=query_dim, context_dim=context_dim, heads=heads, dim_head=dim_head)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))

    def branch(self, h: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
        """The residual to add to h: (B, T, query_dim). scale = strength · tanh(gate), scalar or (B, 1, 1)."""
        return self.attn(self.norm(h), k, v) * scale

    def branch_folded(self, h: torch.Tensor, kq: torch.Tensor, vo: torch.Tensor) -> torch.Tensor:
        """`branch` with keys/values — and the scale — folded by `AudioCrossAttention.fold(k, v, scale)` (inference
        fast path)."""
        return self.attn.forward_folded(self.norm(h), kq, vo)

    def forward(self, h: torch.Tensor, tokens: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """h: (B, T, query_dim), tokens: (B, N_a, context_dim) → h + strength·tanh(α)·Attn(LN(h), tokens)."""
        k, v = self.attn.kv(tokens)
        return h + self.branch(h, k, v, strength * torch.tanh(self.gate).to(h.dtype))
