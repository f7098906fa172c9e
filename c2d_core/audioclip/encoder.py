"""AudioCLIP's audio tower as an audio encoder of the pack, read from `AudioCLIP-Full-Training.pt`.

The released file is AudioCLIP's whole state dict (CLIP RN50's image and text towers, `audio.*`, logit scales). Only
the `audio.*` tensors are taken, renamed without the prefix and checked strictly against the tower's own state dict
(AudioCLIP's own loader uses strict=False, so a wrong file would silently keep random weights; here it is an error).

Audio, as GlueGen's data loader prepares it (`us8k.py` `_load_worker`, `transforms.RandomPadding(train=False)`): mono
at 44.1 kHz (channels mixed; AudioCLIP duplicates a mono file into two channels, so the two channels are the same),
the first 4 s, min-max scaled to the int16 range, a shorter clip centred and padded with its first / last sample.
`encode` gives the unit embedding of each 4 s window (a longer clip: the normalised mean of its windows).
"""
from __future__ import annotations

import logging

import torch

from ..audio_encoder import AudioEncoder, EncoderFormat
from ..errors import AudioInputError, ClapModelError
from ..torch_files import load_checked
from .frontend import scale
from .tower import AUDIOCLIP_FULL, AudioCLIPAudioConfig, AudioCLIPAudioTower

log = logging.getLogger(__name__)

PREFIX = "audio."


def is_audioclip_checkpoint(obj) -> bool:
    """True for AudioCLIP's file format: a flat state dict with its audio tower under `audio.`."""
    return isinstance(obj, dict) and "audio.fbsp.fc" in obj and "audio.fc.weight" in obj


def load_tower(obj: dict, name: str, cfg: AudioCLIPAudioConfig = AUDIOCLIP_FULL) -> AudioCLIPAudioTower:
    """The `audio.*` tensors of a read AudioCLIP file → the tower (strict names and shapes)."""
    state = {k[len(PREFIX):]: v for k, v in obj.items() if isinstance(k, str) and k.startswith(PREFIX)}
    return load_checked(lambda: AudioCLIPAudioTower(cfg), state,
                        what=f"{name} does not hold AudioCLIP's audio tower (ESResNeXt-fbsp, 1024-d)",
                        advice=f"Use {cfg.file_name} as released (a truncated or edited file fails here)",
                        error=ClapModelError, shown_prefix=PREFIX)


def gluegen_clip(mono: torch.Tensor, samples: int, allow_silence: bool = False) -> torch.Tensor:
    """mono: (T,) float at 44.1 kHz → (2, samples) in int16 scale, as GlueGen's loader and test transforms.
    A constant clip has no range to scale: an error, or zeros with `allow_silence` (a timeline's silent frame)."""
    x = mono[None, :samples].repeat(2, 1)
    lo, hi = x.min(), x.max()
    if hi <= lo and allow_silence:
        return torch.zeros(2, samples)
    if hi <= lo:
        raise AudioInputError("the clip's first 4 s are constant (digital silence): AudioCLIP's min-max scaling has "
                              "nothing to scale; use a clip with sound at its start")
    x = scale(x, lo, hi, -32768.0, 32767.0)
    if x.shape[-1] < samples:
        left = int(round(0.5 * (samples - x.shape[-1])))
        right = samples - left - x.shape[-1]
        x = torch.cat((x[:, :1].mean().expand(2, left), x, x[:, -1:].mean().expand(2, right)), dim=-1)
    return x


class AudioCLIPAudioEncoder(AudioEncoder):
    """AudioCLIP's audio tower; `encode` gives (B, 1024) unit embeddings (GlueGen's input)."""

    family = "AudioCLIP"
    window_seconds = 4.0
    default_batch_windows = 4

    def __init__(self, tower: AudioCLIPAudioTower, device=None, dtype=None, source=None, model_id=None):
        self.cfg: AudioCLIPAudioConfig = tower.cfg
        super().__init__(model_id=model_id or self.cfg.name, device=device, dtype=dtype, source=source)
        self.model = tower.eval().requires_grad_(False).to(self.device, self.dtype)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @classmethod
    def from_checkpoint(cls, obj, name: str = "the file", device=None, dtype=None, source=None):
        tower = load_tower(obj, name)
        log.info("loaded AudioCLIP's audio tower from %s", name)
        return cls(tower, device=device, dtype=dtype, source=source, model_id=name)

    def raw_embeddings(self, clips: list[torch.Tensor], allow_silence: bool = False) -> torch.Tensor:
        """clips: n mono (T,) at 44.1 kHz → (n, 1024) tower outputs (not normalised) of their first 4 s."""
        batch = torch.stack([gluegen_clip(c.float(), self.cfg.clip_samples, allow_silence) for c in clips])
        return self.model(batch.to(self.device, self.dtype)).float()

    def embed_windows(self, windows) -> torch.Tensor:
        return self.raw_embeddings(list(windows), allow_silence=True)  # `encode` has refused a silent clip already


FORMAT = EncoderFormat(
    name="audioclip", describe="AudioCLIP's AudioCLIP-Full-Training.pt (audio.* tensors; MIT code)",
    claims_file=is_audioclip_checkpoint,
    load=lambda path, obj, device, dtype: AudioCLIPAudioEncoder.from_checkpoint(obj, name=path.name, device=device,
                                                                                dtype=dtype, source=path))
