"""ImageBind's audio encoder (`imagebind_huge.pth`) as an audio encoder of the pack (`audio_encoder.AudioEncoder`).

The released file is the whole model's state dict (`ImageBindModel.state_dict()`: vision, text, audio, depth,
thermal, IMU). Only the audio modality's tensors are taken (`tower.FILE_PREFIXES`) and checked strictly against the
layout the config declares (`tower.expected_layout`): a missing, unexpected or wrongly shaped audio tensor is a
`ClapModelError` naming it. The file is memory-mapped, so the other modalities' tensors are never read.

Audio: channels mixed to mono, resampled to 16 kHz, cut into 10 s windows (a tail under 1 s after earlier windows
is dropped). Each window is embedded exactly as ImageBind embeds a whole file (`fbank`: three 2 s clips spread
over it, their embeddings averaged), so a clip of up to 10 s gives ImageBind's own embedding; a longer clip is the
normalised mean of its windows (ImageBind's code would take three 2 s clips from the whole clip instead).
What the encoder returns: unit vectors (`encode`). The released head multiplies by a fixed 20 (a logit scale for
its contrastive loss); it changes no direction, so it is dropped here, and every consumer scales the unit vector
to what it needs (unCLIP, IP-Adapter: see the nodes).
"""
from __future__ import annotations

import logging

import torch

from ..audio_encoder import AudioEncoder, EncoderFormat
from ..errors import ClapModelError
from ..torch_files import check_layout
from .fbank import window_fbanks
from .tower import FILE_PREFIXES, IMAGEBIND_HUGE, ImageBindAudioConfig, ImageBindAudioTower, expected_layout

log = logging.getLogger(__name__)

FILE_MODALITY_PREFIXES = ("modality_preprocessors.", "modality_trunks.", "modality_heads.",
                          "modality_postprocessors.")


def is_imagebind_checkpoint(obj) -> bool:
    """True for ImageBind's file format: a flat state dict of `modality_*.<modality>.*` tensors."""
    return isinstance(obj, dict) and any(isinstance(k, str) and k.startswith(FILE_MODALITY_PREFIXES) for k in obj)


def read_audio_state(obj: dict, name: str, cfg: ImageBindAudioConfig = IMAGEBIND_HUGE) -> dict[str, torch.Tensor]:
    """The audio tensors of an ImageBind state dict, renamed to `ImageBindAudioTower`'s keys, strictly checked."""
    audio = {k: v for k, v in obj.items() if isinstance(k, str) and k.startswith(tuple(FILE_PREFIXES))}
    if not audio:
        raise ClapModelError(f"{name} is an ImageBind checkpoint without the audio modality (no "
                             f"modality_trunks.audio.* tensors); use the full {cfg.file_name} as released")
    check_layout(audio, expected_layout(cfg), what=f"{name} does not hold ImageBind's {cfg.name} audio tower",
                 advice=f"Use {cfg.file_name} as released (a truncated or edited file fails here)",
                 error=ClapModelError)
    out = {}
    for k, t in audio.items():
        prefix = next(p for p in FILE_PREFIXES if k.startswith(p))
        out[FILE_PREFIXES[prefix] + k[len(prefix):]] = t
    return out


class ImageBindAudioEncoder(AudioEncoder):
    """ImageBind's audio tower; `encode` gives (B, 1024) unit embeddings in OpenCLIP ViT-H/14's image space."""

    family = "ImageBind"
    window_seconds = 10.0
    default_batch_windows = 4

    def __init__(self, tower: ImageBindAudioTower, device=None, dtype=None, source=None, model_id=None):
        self.cfg: ImageBindAudioConfig = tower.cfg
        super().__init__(model_id=model_id or self.cfg.name, device=device, dtype=dtype, source=source)
        self.model = tower.eval().requires_grad_(False).to(self.device, self.dtype)

    @property
    def embed_dim(self) -> int:
        return self.cfg.out_embed_dim

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @classmethod
    def from_checkpoint(cls, obj, name: str = "the file", device=None, dtype=None, source=None,
                        cfg: ImageBindAudioConfig = IMAGEBIND_HUGE) -> "ImageBindAudioEncoder":
        """From an already read (`weights_only`) ImageBind state dict; only its audio tensors are used."""
        state = read_audio_state(obj, name, cfg)
        tower = ImageBindAudioTower(cfg)
        tower.load_state_dict(state, strict=True)  # read_audio_state checked every name and shape
        log.info("loaded ImageBind's audio tower (%s) from %s", cfg.name, name)
        return cls(tower, device=device, dtype=dtype, source=source)

    def embed_windows(self, windows) -> torch.Tensor:
        """windows: n mono clips (≤ 10 s at 16 kHz) → (n, 1024) as ImageBind's model returns them (the mean of
        three ×20-scaled unit clip embeddings)."""
        fbanks = torch.cat([window_fbanks(w, self.cfg) for w in windows])           # (n · 3, 1, 128, 204)
        out = self.model(fbanks.to(self.device, self.dtype)).float()               # (n · 3, 1024)
        return out.reshape(len(windows), self.cfg.clips_per_window, -1).mean(dim=1)


FORMAT = EncoderFormat(
    name="imagebind", describe="ImageBind's imagebind_huge.pth (modality_trunks.audio.* tensors; CC BY-NC-SA 4.0)",
    claims_file=is_imagebind_checkpoint,
    load=lambda path, obj, device, dtype: ImageBindAudioEncoder.from_checkpoint(obj, name=path.name, device=device,
                                                                                dtype=dtype, source=path))
