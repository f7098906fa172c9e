"""BEATs in pure torch: fbank → 16×16 patches → post-norm transformer with bucketed relative positions.

Same computation and tensor names as unilm's `beats/BEATs.py` + `backbone.py` (MIT), so a released checkpoint's
`model` state dict loads strictly:
  patch_embedding   Conv2d(1 → E, p, stride p)          fbank (B, 1, T, 128) → (B, N, E), N = (T//p)·(128//p)
  layer_norm        LayerNorm(E), post_extract_proj E → D (when E ≠ D)
  encoder.pos_conv  weight-normed grouped Conv1d (kernel K, `weight_g` / `weight_v`), last frame cut, GELU, added
  encoder.layers.i  post-norm (deep norm: residual × (2L)^¼) attention + GELU MLP; attention logits get a T5-style
                    bucketed relative bias computed by layer 0 and gated per layer by `grep_linear` / `grep_a`
  predictor         the AudioSet classifier of fine-tuned files (loaded, not used for features)
`forward` returns the last layer's tokens and every layer's output (AudioToken concatenates layers 4, 8, 12).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import BEATsConfig

LOGIT_ALPHA = 32  # BEATs scales q by 1/32 and the max-subtracted logits by 32 (numerical stability in fp16)


def relative_buckets(query_len: int, key_len: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    """(Tq, Tk) bidirectional T5 buckets of key − query positions, as BEATs' `_relative_positions_bucket`."""
    rel = torch.arange(key_len)[None, :] - torch.arange(query_len)[:, None]
    half = num_buckets // 2
    buckets = (rel > 0).long() * half
    rel = rel.abs()
    max_exact = half // 2
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (half - max_exact)).long()
    large = torch.clamp(large, max=half - 1)
    return buckets + torch.where(rel < max_exact, rel, large)


class BEATsAttention(nn.Module):
    """Self-attention with an optional gated relative position bias. x: (B, T, D) → (B, T, D)."""

    def __init__(self, cfg: BEATsConfig, shared_bias: nn.Embedding | None):
        super().__init__()
        D, H = cfg.encoder_embed_dim, cfg.encoder_attention_heads
        self.heads, self.head_dim = H, D // H
        self.scaling = self.head_dim ** -0.5
        self.k_proj, self.v_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.q_proj, self.out_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.cfg = cfg
        if cfg.relative_position_embedding:  # one table, owned by layer 0, referenced by the others (as BEATs)
            self.relative_attention_bias = shared_bias or nn.Embedding(cfg.num_buckets, H)
        if cfg.gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, H, 1, 1))

    def position_bias(self, T: int) -> torch.Tensor:
        """(H, T, T) raw bias from the bucket table."""
        b = relative_buckets(T, T, self.cfg.num_buckets, self.cfg.max_distance)
        return self.relative_attention_bias(b.to(self.relative_attention_bias.weight.device)).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, pos_bias: torch.Tensor | None):
        B, T, D = x.shape
        heads = lambda t: t.view(B, T, self.heads, self.head_dim).transpose(1, 2)  # noqa: E731  (B, H, T, hd)
        q_raw = heads(self.q_proj(x))
        k, v = heads(self.k_proj(x)), heads(self.v_proj(x))
        q = q_raw * self.scaling / LOGIT_ALPHA
        logits = q @ k.transpose(-1, -2)                                         # (B, H, T, T)
        logits = (logits - logits.amax(dim=-1, keepdim=True)) * LOGIT_ALPHA
        if self.cfg.relative_position_embedding:
            if pos_bias is None:
                pos_bias = self.position_bias(T)                                 # (H, T, T)
            bias = pos_bias[None]
            if self.cfg.gru_rel_pos:
                gates = self.grep_linear(q_raw).view(B, self.heads, T, 2, 4).sum(-1)
                gate_a, gate_b = torch.sigmoid(gates).chunk(2, dim=-1)          # (B, H, T, 1) each
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
            logits = logits + bias
        attn = F.softmax(logits, dim=-1) @ v                                     # (B, H, T, hd)
        return self.out_proj(attn.transpose(1, 2).reshape(B, T, D)), pos_bias


class BEATsLayer(nn.Module):
    def __init__(self, cfg: BEATsConfig, shared_bias: nn.Embedding | None):
        super().__init__()
        D = cfg.encoder_embed_dim
        self.self_attn = BEATsAttention(cfg, shared_bias)
        self.self_attn_layer_norm = nn.LayerNorm(D)
        self.fc1, self.fc2 = nn.Linear(D, cfg.encoder_ffn_embed_dim), nn.Linear(cfg.encoder_ffn_embed_dim, D)
        self.final_layer_norm = nn.LayerNorm(D)
        self.pre_norm = cfg.layer_norm_first
        self.alpha = math.pow(2 * cfg.encoder_layers, 0.25) if cfg.deep_norm else 1.0

    def mlp(self, x):
        return self.fc2(F.gelu(self.fc1(x).float()).type_as(x))

    def forward(self, x, pos_bias):
        if self.pre_norm:
            a, pos_bias = self.self_attn(self.self_attn_layer_norm(x), pos_bias)
            x = x + a
            return x + self.mlp(self.final_layer_norm(x)), pos_bias
        a, pos_bias = self.self_attn(x, pos_bias)
        x = self.self_attn_layer_norm(x * self.alpha + a)
        return self.final_layer_norm(x * self.alpha + self.mlp(x)), pos_bias


class WeightNormConv(nn.Module):
    """BEATs' `nn.utils.weight_norm(Conv1d, dim=2)` with its two stored tensors: weight = g · v / ‖v‖ per tap."""

    def __init__(self, D: int, kernel: int, groups: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(D, D // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(D))
        self.groups, self.padding = groups, kernel // 2

    def forward(self, x):  # (B, D, T) → (B, D, T + 1 − kernel % 2)
        v = self.weight_v
        w = self.weight_g * v / v.norm(dim=(0, 1), keepdim=True)
        return F.conv1d(x, w, self.bias, padding=self.padding, groups=self.groups)


class BEATsEncoder(nn.Module):
    def __init__(self, cfg: BEATsConfig):
        super().__init__()
        D = cfg.encoder_embed_dim
        self.pos_conv = nn.Sequential(WeightNormConv(D, cfg.conv_pos, cfg.conv_pos_groups))
        self.cut = 1 if cfg.conv_pos % 2 == 0 else 0
        first = BEATsLayer(cfg, None)
        shared = first.self_attn.relative_attention_bias if cfg.relative_position_embedding else None
        self.layers = nn.ModuleList([first] + [BEATsLayer(cfg, shared) for _ in range(cfg.encoder_layers - 1)])
        self.layer_norm = nn.LayerNorm(D)
        self.pre_norm = cfg.layer_norm_first

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: (B, N, D) → (last (B, N, D), every layer's output [(B, N, D)] × L)."""
        conv = self.pos_conv(x.transpose(1, 2))
        conv = conv[:, :, :conv.shape[-1] - self.cut]
        x = x + F.gelu(conv).transpose(1, 2)
        if not self.pre_norm:
            x = self.layer_norm(x)
        hidden, pos_bias = [], None
        for layer in self.layers:
            x, pos_bias = layer(x, pos_bias)
            hidden.append(x)
        return (self.layer_norm(x) if self.pre_norm else x), hidden


class BEATs(nn.Module):
    """Normalised fbank (B, T, 128) → (tokens (B, N, D), per-layer outputs)."""

    def __init__(self, cfg: BEATsConfig):
        super().__init__()
        self.cfg = cfg
        p = cfg.input_patch_size
        self.patch_embedding = nn.Conv2d(1, cfg.embed_dim, kernel_size=p, stride=p, bias=cfg.conv_bias)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        if cfg.embed_dim != cfg.encoder_embed_dim:
            self.post_extract_proj = nn.Linear(cfg.embed_dim, cfg.encoder_embed_dim)
        self.encoder = BEATsEncoder(cfg)
        if cfg.finetuned_model:
            self.predictor = nn.Linear(cfg.encoder_embed_dim, cfg.predictor_class)

    def forward(self, fbank: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.patch_embedding(fbank[:, None])                       # (B, E, T//p, 128//p)
        x = self.layer_norm(x.flatten(2).transpose(1, 2))              # (B, N, E)
        if self.cfg.embed_dim != self.cfg.encoder_embed_dim:
            x = self.post_extract_proj(x)                              # (B, N, D)
        return self.encoder(x)
