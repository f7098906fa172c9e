"""Microsoft CLAP (2022 Cnn14, 2023 HTSAT) as an audio encoder of the pack (`audio_encoder.AudioEncoder`).

Audio preparation (SonicDiffusion's `CLAP/src/CLAPWrapper.py` `load_audio_into_tensor`, made deterministic):
  1. channels averaged to mono, resampled to 44.1 kHz (torchaudio's sinc resampler, as `T.Resample`), the
     checks of `c2d_core.audio` (NaN/Inf, silence, implausible rates) applied first;
  2. the clip is cut into consecutive 10 s windows of 441,000 samples (`audio.split_windows`: a tail under
     1 s after earlier windows is dropped, as on the LAION path);
  3. a window shorter than 10 s is tiled (repeated) and cut to 441,000 samples — exactly SonicDiffusion's
     treatment of a short clip, so a clip of up to 10 s gives SonicDiffusion's embedding;
  4. each window → Cnn14 → projection → L2-normalised (B, W, 1024); pooling="mean" averages the windows
     and normalises again (B, 1024). SonicDiffusion crops one *random* 10 s window of a longer clip
     instead: ours is deterministic (the mean of all windows; pooling="none" gives each window).
The 2023 model (HTSAT, `msclap_htsat`) is prepared the same way with msclap's own 7 s windows
(308,700 samples; its HTSAT takes at most 1024 frames).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..audio_encoder import AudioEncoder, EncoderFormat
from ..errors import ClapModelError
from .msclap_audio import MsClapAudioTower
from .msclap_file import MsClapVariant, OPTIONAL_SUFFIXES, is_msclap_checkpoint, load_checkpoint
from .msclap_layout import read_msclap_audio

log = logging.getLogger(__name__)


def tile_to(mono: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T) → (B, n): repeated ceil(n / T) times and cut (msclap's `repeat` + slice); T ≥ n is cut."""
    T = mono.shape[-1]
    return mono.repeat(1, -(-n // T))[:, :n] if T < n else mono[:, :n]


class MsClapAudioEncoder(AudioEncoder):
    """Microsoft CLAP audio tower + projection; `encode` gives (B, 1024) unit embeddings."""

    family = "Microsoft CLAP"
    default_batch_windows = 4

    def __init__(self, tower: MsClapAudioTower, device=None, dtype=None, source=None, model_id=None):
        self.variant: MsClapVariant = tower.variant
        super().__init__(model_id=model_id or self.variant.model_id, device=device, dtype=dtype, source=source)
        self.model = tower.eval().requires_grad_(False).cast(self.device, self.dtype)

    @property
    def window_seconds(self) -> float:
        return self.variant.clip_seconds

    @property
    def embed_dim(self) -> int:
        return self.variant.d_proj

    @property
    def sample_rate(self) -> int:
        return self.variant.sample_rate

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_path(cls, path, device=None, dtype=None, version: str | None = None) -> "MsClapAudioEncoder":
        """A Microsoft CLAP `.pth` (`{"model": state_dict}`); a LAION-CLAP or other file is a ClapModelError."""
        path = Path(path)
        if not path.is_file():
            raise ClapModelError(f"Microsoft CLAP file not found: {path}; put CLAP_weights_2022.pth into "
                                 "ComfyUI/models/clap/")
        return cls.from_checkpoint(load_checkpoint(path), name=path.name, device=device, dtype=dtype,
                                   version=version, source=path)

    @classmethod
    def from_checkpoint(cls, obj, name: str = "the file", device=None, dtype=None, version=None,
                        source=None) -> "MsClapAudioEncoder":
        """From an already loaded (`weights_only`) msclap checkpoint object."""
        variant, audio = read_msclap_audio(obj, name=name, version=version)
        if variant.audio_tower == "htsat":
            from .msclap_htsat import MsClapHtsatTower
            tower = MsClapHtsatTower(variant)
            tower.load_msclap(audio)
        else:
            tower = MsClapAudioTower(variant)
            missing, unexpected = tower.load_state_dict(audio, strict=False)
            missing = [k for k in missing if not k.endswith(OPTIONAL_SUFFIXES)]
            if missing or unexpected:  # read_msclap_audio has checked the layout: a bug, not a bad file
                raise ClapModelError(f"{name}: internal layout mismatch ({missing[:3]}, {unexpected[:3]}); report it")
        log.info("loaded Microsoft CLAP %s audio tower from %s", variant.version, name)
        return cls(tower, device=device, dtype=dtype, source=source)

    # ----------------------------------------------------------------- text
    def load_text_encoder(self):
        """The text tower of the same file (`msclap_text.MsClapTextEncoder`); its tokenizer comes from
        `bert-base-uncased/` (2022) or `gpt2/` (2023) next to the file."""
        from .msclap_text import TOKENIZER_FOLDER, MsClapTextEncoder
        folder = self.source.parent / TOKENIZER_FOLDER[self.variant.version]
        text = MsClapTextEncoder.from_checkpoint(load_checkpoint(self.source), folder, self.variant,
                                                 name=self.source.name, device=self.device, dtype=self.dtype)
        log.info("loaded the Microsoft CLAP text tower of %s for sound prompts", self.source.name)
        return text

    # --------------------------------------------------------------- encoding
    def embed_windows(self, windows):
        """windows: n mono clips (≤ one window at 44.1 kHz), each tiled to the window (`tile_to`) → (n, 1024)."""
        n = self.variant.clip_samples
        x = torch.cat([tile_to(w[None], n) for w in windows])  # (n_windows, clip_samples)
        return self.model(x.to(self.device))


FORMAT = EncoderFormat(
    name="msclap", describe="a Microsoft CLAP file ({'model': {'audio_encoder.*': ...}}, CLAP_weights_2022.pth or "
                            "CLAP_weights_2023.pth)",
    claims_file=is_msclap_checkpoint,
    load=lambda path, obj, device, dtype: MsClapAudioEncoder.from_checkpoint(obj, name=path.name, device=device,
                                                                             dtype=dtype, source=path))
