"""BEATs checkpoints as an audio encoder of the pack: file format, strict loading, fbank input, features.

File: `{"cfg": dict, "model": state dict, "label_dict": ...}` as Microsoft releases BEATs (`torch.load` with
`weights_only`: plain dicts, strings and tensors). The network is built from `cfg` (`BEATsConfig`), every tensor
of `model` is checked by name and shape against it, and a missing or unexpected one is a `ClapModelError`.

Input, as BEATs' `preprocess`: channels mixed to mono (BEATs' callers pass one channel), 16 kHz, × 2¹⁵, torchaudio's
kaldi fbank (128 mel, 25 ms / 10 ms, its defaults otherwise) → (x − 15.41663) / (2 · 6.55582).
`encode` gives the unit mean of the last layer's tokens per 10 s window (a general audio embedding);
`layer_features` the per-token outputs of chosen layers, concatenated (AudioToken reads layers 4, 8 and 12).
"""
from __future__ import annotations

import logging

import torch

from ..audio_encoder import AudioEncoder, EncoderFormat
from ..errors import ClapModelError
from ..kaldi_fbank import kaldi
from ..torch_files import load_checked, meta_layout
from .config import AUDIOTOKEN_FILE, BEATsConfig
from .model import BEATs

log = logging.getLogger(__name__)

PCM_SCALE = 2 ** 15
MIN_SAMPLES = 16 * 160 + 240  # one 16-frame fbank patch: 25 ms window, 10 ms shift


def is_beats_checkpoint(obj) -> bool:
    """True for BEATs' file format: {"cfg": dict, "model": {"patch_embedding.weight": ..., ...}}."""
    return (isinstance(obj, dict) and isinstance(obj.get("cfg"), dict) and isinstance(obj.get("model"), dict)
            and "patch_embedding.weight" in obj["model"])


def expected_layout(cfg: BEATsConfig) -> dict[str, tuple[int, ...]]:
    return meta_layout(lambda: BEATs(cfg))


def build_beats(obj: dict, name: str = "the file") -> BEATs:
    """A read BEATs checkpoint → the network with its weights (strict names and shapes)."""
    cfg = BEATsConfig.from_file_cfg(obj["cfg"], name)
    return load_checked(lambda: BEATs(cfg), obj["model"],
                        what=f"{name} does not hold the BEATs network its own cfg declares ({cfg.describe()})",
                        advice=f"Use a BEATs checkpoint as released (AudioToken uses {AUDIOTOKEN_FILE}); a "
                               "truncated or edited file fails here", error=ClapModelError)


class BEATsAudioEncoder(AudioEncoder):
    """BEATs; `encode` gives (B, D) unit embeddings, `layer_features` (B, N, k·D) token features."""

    family = "BEATs"
    window_seconds = 10.0
    default_batch_windows = 4

    def __init__(self, model: BEATs, device=None, dtype=None, source=None, model_id=None):
        self.cfg: BEATsConfig = model.cfg
        super().__init__(model_id=model_id or "BEATs", device=device, dtype=dtype, source=source)
        self.model = model.to(self.device, self.dtype)

    @property
    def embed_dim(self) -> int:
        return self.cfg.encoder_embed_dim

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @classmethod
    def from_checkpoint(cls, obj, name: str = "the file", device=None, dtype=None, source=None):
        model = build_beats(obj, name)
        log.info("loaded %s from %s", model.cfg.describe(), name)
        return cls(model, device=device, dtype=dtype, source=source, model_id=name)

    def fbank(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: (n, T) mono at 16 kHz, T ≥ 2800 → normalised fbank (n, frames, 128) float32."""
        if clips.shape[-1] < MIN_SAMPLES:
            raise ClapModelError(f"BEATs needs at least {MIN_SAMPLES} samples (0.175 s at 16 kHz) per clip, got "
                                 f"{clips.shape[-1]}; use a longer clip")
        fb = kaldi("BEATs")
        banks = [fb.fbank(c[None].float() * PCM_SCALE, num_mel_bins=self.cfg.num_mel_bins,
                          sample_frequency=self.cfg.sample_rate, frame_length=25, frame_shift=10) for c in clips]
        return (torch.stack(banks) - self.cfg.fbank_mean) / (2 * self.cfg.fbank_std)

    def forward_clips(self, clips: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """clips: (n, T) equal-length mono 16 kHz → (last (n, N, D), per-layer [(n, N, D)])."""
        return self.model(self.fbank(clips).to(self.device, self.dtype))

    def layer_features(self, clips: torch.Tensor, layers: tuple[int, ...]) -> torch.Tensor:
        """clips: (n, T) → (n, N, len(layers) · D) float32: the outputs of `layers` (0-based), concatenated."""
        bad = [i for i in layers if not 0 <= i < self.cfg.encoder_layers]
        if bad:
            raise ClapModelError(f"BEATs has {self.cfg.encoder_layers} layers; layers {bad} do not exist")
        _, hidden = self.forward_clips(clips)
        return torch.cat([hidden[i] for i in layers], dim=-1).float()

    def embed_windows(self, windows) -> torch.Tensor:
        """windows: n mono clips (≤ 10 s at 16 kHz) → (n, D) token means of the last layer."""
        return torch.cat([self.forward_clips(w[None])[0].mean(dim=1) for w in windows]).float()


FORMAT = EncoderFormat(
    name="beats", describe=f"Microsoft's BEATs checkpoint (e.g. {AUDIOTOKEN_FILE}: cfg + model; MIT)",
    claims_file=is_beats_checkpoint,
    load=lambda path, obj, device, dtype: BEATsAudioEncoder.from_checkpoint(obj, name=path.name, device=device,
                                                                            dtype=dtype, source=path))
