"""Microsoft CLAP (2022 Cnn14, 2023 HTSAT) as a CLAP encoder of the pack: `clap_encoder.ClapAudioEncoder`'s interface.

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

from ..audio import prepare_waveform, split_windows
from ..errors import ClapModelError
from .msclap_audio import MsClapAudioTower
from .msclap_file import MsClapVariant, OPTIONAL_SUFFIXES, load_checkpoint
from .msclap_layout import read_msclap_audio
from .windows import POOLINGS, pool_windows

log = logging.getLogger(__name__)


def tile_to(mono: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T) → (B, n): repeated ceil(n / T) times and cut (msclap's `repeat` + slice); T ≥ n is cut."""
    T = mono.shape[-1]
    return mono.repeat(1, -(-n // T))[:, :n] if T < n else mono[:, :n]


class MsClapAudioEncoder:
    """Microsoft CLAP audio tower + projection; `encode` gives (B, 1024) unit embeddings."""

    def __init__(self, tower: MsClapAudioTower, device=None, dtype=None, source=None, model_id=None):
        self.variant: MsClapVariant = tower.variant
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.model = tower.eval().requires_grad_(False).cast(self.device, self.dtype)
        self.model_id = model_id or self.variant.model_id
        self.source = Path(source) if source is not None else None
        self._text_encoder = None

    window_seconds = 10.0

    @property
    def embed_dim(self) -> int:
        return self.variant.d_proj

    @property
    def sample_rate(self) -> int:
        return self.variant.sample_rate

    def __repr__(self):
        return f"MsClapAudioEncoder({self.model_id!r}, dim={self.embed_dim}, device={self.device})"

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
    def text_encoder(self):
        """The text tower of the same file (`msclap_text.MsClapTextEncoder`), loaded on the first call; its
        tokenizer comes from `bert-base-uncased/` (2022) or `gpt2/` (2023) next to the file."""
        if self._text_encoder is None:
            from .msclap_text import TOKENIZER_FOLDER, MsClapTextEncoder
            if self.source is None:
                raise ClapModelError(f"{self.model_id} was built in memory, not loaded from a file, so its text "
                                     "tower is unknown; load it with Load CLAP Model")
            folder = self.source.parent / TOKENIZER_FOLDER[self.variant.version]
            self._text_encoder = MsClapTextEncoder.from_checkpoint(
                load_checkpoint(self.source), folder, self.variant, name=self.source.name,
                device=self.device, dtype=self.dtype)
            log.info("loaded the Microsoft CLAP text tower of %s for sound prompts", self.source.name)
        return self._text_encoder

    def encode_text(self, prompts) -> torch.Tensor:
        """prompts: N non-empty strings → (N, 1024) float32 CPU unit embeddings in the audio embeddings' space."""
        return self.text_encoder().encode(prompts)

    # --------------------------------------------------------------- encoding
    def windows(self, waveform, sample_rate, allow_silence: bool = False) -> tuple[list[torch.Tensor], int, int]:
        """The model inputs of a batch, clip-major: (B · W views (T_w,) of ≤ 441000 samples, B, W); each is
        tiled to 441000 samples when it is encoded (`tile_to`), see the module docstring."""
        mono = prepare_waveform(waveform, sample_rate, self.sample_rate, allow_silence=allow_silence)  # (B, T)
        wins = split_windows(mono, self.variant.clip_samples)                    # W × (B, T_w)
        B, W = mono.shape[0], len(wins)
        return [wins[w][b] for b in range(B) for w in range(W)], B, W

    @torch.no_grad()
    def encode(self, waveform, sample_rate, pooling: str = "mean", batch_windows: int = 4,
               allow_silence: bool = False, on_progress=None) -> torch.Tensor:
        """Microsoft CLAP embeddings of a batch of clips.

        waveform: (B, C, T) | (C, T) | (T,) at `sample_rate` (any channels, 4–384 kHz).
        Returns float32 on CPU, L2-normalised: (B, 1024) with pooling="mean" or (B, W, 1024) with "none".
        `on_progress(done, total)` is called after each batch of windows.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        flat, B, W = self.windows(waveform, sample_rate, allow_silence)
        embeds = []
        n = self.variant.clip_samples
        for i in range(0, len(flat), batch_windows):
            x = torch.cat([tile_to(w[None], n) for w in flat[i:i + batch_windows]])  # (≤ batch_windows, n)
            embeds.append(self.model(x.to(self.device)).float().cpu())
            if on_progress is not None:
                on_progress(min(i + batch_windows, len(flat)), len(flat))
        return pool_windows(embeds, B, W, pooling)
