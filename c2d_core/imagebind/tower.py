"""ImageBind's audio tower in pure torch: fbank patches → ViT (12 × 768, key/value bias tokens) → 1024-d.

Same computation and tensor names as ImageBind's `imagebind_model.py` (facebookresearch/ImageBind) for the audio
modality, so the released `imagebind_huge.pth` loads strictly after a prefix map (`FILE_PREFIXES`):
  preprocessor: Conv2d(1 → D, 16, stride 10, no bias) + LayerNorm over (mel 12 × time 19) patches, a CLS token,
                learned positions (1, 229, D);
  trunk:        pre-norm blocks (LayerNorm eps 1e-6 → nn.MultiheadAttention with bias_k / bias_v → residual;
                LayerNorm → MLP 4D GELU → residual), run as (L, B, D) like ImageBind;
  head:         LayerNorm(eps 1e-6) → CLS token → Linear(D → 1024, no bias);
  post:         L2-normalise, × exp(log_logit_scale) (the released file stores log 20: a fixed ×20).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ImageBindAudioConfig:
    """The audio modality of one released ImageBind model (`imagebind_model.imagebind_huge`)."""

    name: str = "imagebind_huge"
    file_name: str = "imagebind_huge.pth"
    embed_dim: int = 768
    num_blocks: int = 12
    num_heads: int = 12
    mlp_ratio: int = 4
    out_embed_dim: int = 1024       # the joint space: OpenCLIP ViT-H/14 image embeddings
    kernel_size: int = 16
    stride: int = 10
    num_mel_bins: int = 128
    target_length: int = 204        # fbank frames per clip (2 s at a 10 ms shift, padded or cut)
    sample_rate: int = 16_000
    clip_seconds: int = 2
    clips_per_window: int = 3       # ImageBind's ConstantClipsPerVideoSampler(clip_duration=2, clips_per_video=3)
    fbank_mean: float = -4.268
    fbank_std: float = 9.138

    @property
    def patches_layout(self) -> tuple[int, int]:
        """(mel, time) patches of one clip's (1, mel, frames) fbank image: (12, 19) for the released model."""
        return ((self.num_mel_bins - self.kernel_size) // self.stride + 1,
                (self.target_length - self.kernel_size) // self.stride + 1)

    @property
    def num_tokens(self) -> int:
        mel, time = self.patches_layout
        return 1 + mel * time


IMAGEBIND_HUGE = ImageBindAudioConfig()

# file prefix (ImageBind's module names) → ours; the audio modality's tensors only
FILE_PREFIXES = {
    "modality_preprocessors.audio.": "preprocessor.",
    "modality_trunks.audio.": "trunk.",
    "modality_heads.audio.": "head.",
    "modality_postprocessors.audio.1.": "",
}


class PatchStem(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.embed_dim, kernel_size=cfg.kernel_size, stride=cfg.stride, bias=False)
        self.norm_layer = nn.LayerNorm(cfg.embed_dim)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """fbank: (N, 1, mel, frames) → (N, P, D) patch tokens, P = mel patches × time patches."""
        return self.norm_layer(self.proj(fbank).flatten(2).transpose(1, 2))


class PositionTable(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.embed_dim))


class Preprocessor(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.rgbt_stem = PatchStem(cfg)
        self.pos_embedding_helper = PositionTable(cfg)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """fbank: (N, 1, mel, frames) → (N, 1 + P, D) tokens with positions."""
        tokens = self.rgbt_stem(fbank)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return tokens + self.pos_embedding_helper.pos_embed


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.attn = nn.MultiheadAttention(cfg.embed_dim, cfg.num_heads, bias=True, add_bias_kv=True)
        self.norm_1 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.mlp = Mlp(cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim)
        self.norm_2 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (L, N, D), sequence first as ImageBind runs nn.MultiheadAttention."""
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm_2(x))


class Trunk(nn.Module):
    def __init__(self, cfg: ImageBindAudioConfig):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_blocks))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (N, L, D) → (N, L, D)."""
        x = tokens.transpose(0, 1)
        for block in self.blocks:
            x = block(x)
        return x.transpose(0, 1)


class SelectCls(nn.Module):
    def forward(self, x):
        return x[:, 0]


class ImageBindAudioTower(nn.Module):
    """fbank clips (N, 1, 128, 204) → (N, 1024) embeddings in ImageBind's space, × the file's logit scale."""

    def __init__(self, cfg: ImageBindAudioConfig = IMAGEBIND_HUGE):
        super().__init__()
        self.cfg = cfg
        self.preprocessor = Preprocessor(cfg)
        self.trunk = Trunk(cfg)
        self.head = nn.Sequential(nn.LayerNorm(cfg.embed_dim, eps=1e-6), SelectCls(),
                                  nn.Linear(cfg.embed_dim, cfg.out_embed_dim, bias=False))
        self.register_buffer("log_logit_scale", torch.zeros(()))

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        x = self.head(self.trunk(self.preprocessor(fbank)))                    # (N, out)
        return F.normalize(x, dim=-1) * self.log_logit_scale.exp().clamp(max=100.0)


def expected_layout(cfg: ImageBindAudioConfig) -> dict[str, tuple[int, ...]]:
    """{file key: shape} of the audio modality in the released file, from the config (built on the meta device)."""
    with torch.device("meta"):
        ours = ImageBindAudioTower(cfg).state_dict()
    to_file = {v: k for k, v in FILE_PREFIXES.items()}
    out = {}
    for key, t in ours.items():
        ours_prefix = next((p for p in to_file if p and key.startswith(p)), "")
        out[to_file[ours_prefix] + key[len(ours_prefix):]] = tuple(t.shape)
    return out
