"""AudioToken's audio → token: a clip looped or cut to 10 s, BEATs layers 4/8/12, the FGA embedder.

As AudioToken's data loader (`aud_proc_beats`) and inference: the clip is tiled to at least 10 s and its first
10 s (16 kHz) are taken; BEATs' `extract_features` returns the outputs of layers 4, 8 and 12 concatenated
(B, 496, 2304) for 10 s; the embedder pools them into one token (B, C). The original reads channel 0 of the file;
the pack mixes channels to mono, as for every encoder.
"""
from __future__ import annotations

import torch

from ..audio import prepare_waveform
from ..beats.config import AUDIOTOKEN_FILE
from ..errors import ClapModelError
from .embedder import FGAEmbedder

CLIP_SECONDS = 10
FEATURE_LAYERS = (3, 7, 11)  # 0-based: BEATs layers 4, 8 and 12


def loop_to_length(mono: torch.Tensor, samples: int) -> torch.Tensor:
    """mono: (B, T) → (B, samples): tiled ×⌈samples / T⌉ (AudioToken tiles ×10) and cut."""
    reps = -(-samples // mono.shape[-1])
    return mono.repeat(1, reps)[:, :samples]


def check_pair(encoder, embedder: FGAEmbedder) -> None:
    """The BEATs file must be the variant the embedder was trained on; widths must agree."""
    cfg = getattr(encoder, "cfg", None)
    if getattr(encoder, "family", None) != "BEATs" or cfg is None:
        raise ClapModelError(f"AudioToken needs BEATs features, but the audio encoder is {encoder.model_id} "
                             f"({encoder.family}); load {AUDIOTOKEN_FILE} with Load CLAP Model")
    if not cfg.finetuned_model or cfg.encoder_layers != 12:
        raise ClapModelError(f"{encoder.model_id} is {cfg.describe()}, but AudioToken's embedder was trained on the "
                             f"12-layer AudioSet-fine-tuned BEATs ({AUDIOTOKEN_FILE}); load that file")
    width = len(FEATURE_LAYERS) * cfg.encoder_embed_dim
    if width != embedder.cfg.input_size:
        raise ClapModelError(f"the embedder takes {embedder.cfg.input_size}-wide features but {encoder.model_id} "
                             f"gives {width} (3 layers × {cfg.encoder_embed_dim}); use {AUDIOTOKEN_FILE}")


@torch.no_grad()
def audio_tokens(encoder, embedder: FGAEmbedder, waveform, sample_rate, allow_silence: bool = False) -> torch.Tensor:
    """waveform: (B, C, T) | (C, T) | (T,) at any rate → (B, output_size) float32 CPU audio tokens."""
    check_pair(encoder, embedder)
    mono = prepare_waveform(waveform, sample_rate, encoder.sample_rate, allow_silence)  # (B, T) at 16 kHz
    clips = loop_to_length(mono, CLIP_SECONDS * encoder.sample_rate)                 # (B, 160000)
    features = encoder.layer_features(clips, FEATURE_LAYERS)                         # (B, N, 3D)
    emb = embedder.to(features.device)
    return emb(features.to(next(emb.parameters()).dtype)).float().cpu()


class TokenWindows:
    """AudioToken as a timeline's window encoder (`c2d_core.timeline.encode_timeline`): each frame's window → its
    token, the window looped to 10 s as a whole clip is. encode(windows (F, 1, T), rate) → (F, output_size)."""

    def __init__(self, encoder, embedder: FGAEmbedder):
        check_pair(encoder, embedder)
        self.encoder, self.embedder = encoder, embedder

    def encode(self, windows, sample_rate, allow_silence: bool = False) -> torch.Tensor:
        return audio_tokens(self.encoder, self.embedder, windows, sample_rate, allow_silence)
