"""The audio encoder interface every encoder of the pack implements (LAION/HF CLAP, Microsoft CLAP, ImageBind).

An encoder declares its id, embedding width, sample rate and window; `encode(waveform, sample_rate)` checks and
converts the audio (`c2d_core.audio`: any rate and channel count, NaN / silence refused), cuts it into the
encoder's windows, embeds them in batches (`embed_windows`, the one method a new encoder must write) and returns
L2-normalised embeddings, one per clip (mean of its windows) or one per window. A text tower, where the encoder
has one (CLAP), is loaded from the same files on first use (`load_text_encoder`). Files are found and read by
`c2d_core.encoder_registry`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .audio import prepare_waveform, split_windows
from .errors import ClapModelError

POOLINGS = ("mean", "none")


def pool_windows(embeds: list[torch.Tensor], clips: int, windows: int, pooling: str) -> torch.Tensor:
    """embeds: chunks of window embeddings, (clips · windows, D) in all, clip-major.

    → L2-normalised (clips, windows, D) for pooling "none", or the normalised mean over windows (clips, D).
    """
    e = F.normalize(torch.cat(embeds), dim=-1).reshape(clips, windows, -1)  # (B, W, D)
    if pooling == "none":
        return e
    return F.normalize(e.mean(dim=1), dim=-1)  # (B, D)


class AudioEncoder:
    """Base of the pack's audio encoders: waveform → (B, D) unit embeddings.

    Subclasses set `model_id` and `model` (an nn.Module on `device` / `dtype`), declare `embed_dim`,
    `sample_rate`, `window_seconds` and `default_batch_windows`, and implement `embed_windows`; one with a text
    tower implements `load_text_encoder`.
    """

    family = "audio encoder"        # shown to users: "LAION-CLAP", "Microsoft CLAP", "ImageBind"
    window_seconds = 10.0           # each window is embedded on its own; a clip's windows are averaged
    default_batch_windows = 8

    def __init__(self, *, model_id: str, device=None, dtype=None, source=None):
        self.model_id = model_id
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.source = Path(source) if source is not None else None  # the file or folder it was read from
        self._text_encoder = None
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    @property
    def embed_dim(self) -> int:
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.model_id!r}, dim={self.embed_dim}, device={self.device})"

    # --------------------------------------------------------------- encoding
    def windows(self, waveform, sample_rate, allow_silence: bool = False) -> tuple[list[torch.Tensor], int, int]:
        """The model inputs of a batch, clip-major: (B · W mono views (T_w,) at `sample_rate`, B, W)."""
        mono = prepare_waveform(waveform, sample_rate, self.sample_rate, allow_silence=allow_silence)  # (B, T)
        wins = split_windows(mono, int(round(self.window_seconds * self.sample_rate)))  # W × (B, T_w)
        B, W = mono.shape[0], len(wins)
        return [wins[w][b] for b in range(B) for w in range(W)], B, W

    def embed_windows(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """windows: n mono clips (T_w,) at `sample_rate`, each at most one window long → (n, D) embeddings."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, waveform, sample_rate, pooling: str = "mean", batch_windows: int | None = None,
               allow_silence: bool = False, on_progress=None) -> torch.Tensor:
        """Embeddings of a batch of clips.

        waveform: (B, C, T) | (C, T) | (T,) at `sample_rate` (any channels, 4–384 kHz).
        Returns float32 on CPU, L2-normalised: (B, D) with pooling="mean" (window embeddings averaged, then
        normalised) or (B, W, D) with pooling="none", W = number of windows.
        `on_progress(done, total)` is called after each batch of windows (done of total = B × W windows).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        flat, B, W = self.windows(waveform, sample_rate, allow_silence)
        step = batch_windows or self.default_batch_windows
        embeds = []
        for i in range(0, len(flat), step):
            embeds.append(self.embed_windows(flat[i:i + step]).float().cpu())
            if on_progress is not None:
                on_progress(min(i + step, len(flat)), len(flat))
        return pool_windows(embeds, B, W, pooling)

    # ------------------------------------------------------------------- text
    def load_text_encoder(self):
        """The text tower of the same files (an object with `encode(prompts) -> (N, D)` and `embed_dim`)."""
        raise ClapModelError(f"{self.model_id} ({self.family}) has no text tower, so it cannot embed words; use a "
                             "CLAP model (LAION/Hugging Face or Microsoft CLAP) for sound prompts and sound tags")

    def text_encoder(self):
        """The text tower, loaded on the first call: audio-only use never loads it."""
        if self._text_encoder is None:
            if self.source is None:
                raise ClapModelError(f"{self.model_id} was built in memory, not loaded from a file or folder, so "
                                     "its text tower is unknown; load it with Load Audio Encoder")
            text = self.load_text_encoder()
            if text.embed_dim != self.embed_dim:
                raise ClapModelError(f"{self.model_id}: the text tower projects to {text.embed_dim} dims but the "
                                     f"audio tower to {self.embed_dim}; the model files are mixed: copy them again")
            self._text_encoder = text
        return self._text_encoder

    def encode_text(self, prompts) -> torch.Tensor:
        """prompts: N non-empty strings → (N, D) float32 CPU unit embeddings in the audio embeddings' space."""
        return self.text_encoder().encode(prompts)

    def encode_text_cached(self, prompts: tuple[str, ...], keep: int = 4) -> torch.Tensor:
        """`encode_text` for a fixed list (a tag vocabulary), remembered for the last `keep` lists."""
        if prompts not in self._text_cache:
            while len(self._text_cache) >= keep:
                self._text_cache.pop(next(iter(self._text_cache)))
            self._text_cache[prompts] = self.encode_text(list(prompts))
        return self._text_cache[prompts]


@dataclass(frozen=True)
class EncoderFormat:
    """One file format an audio encoder is read from; `c2d_core.encoder_registry` lists them all.

    A checkpoint file is read once by the pack's safe reader; `claims_file(obj)` says whether the object is this
    format (its declared top-level structure, e.g. msclap's {"model": {"audio_encoder.*": ...}}); the encoder then
    checks every tensor strictly. A folder format has `claims_folder(path)` instead.
    load(path, obj, device, dtype) → AudioEncoder (obj is None for a folder).
    """

    name: str                                        # registry key: "laion-clap", "msclap", "imagebind", …
    describe: str                                    # for errors: what such a file holds and where it comes from
    load: Callable[..., AudioEncoder]
    claims_file: Callable[[object], bool] | None = None
    claims_folder: Callable[[Path], bool] | None = None
