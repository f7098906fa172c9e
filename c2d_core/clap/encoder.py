"""CLAP audio encoder on transformers' `ClapAudioModelWithProjection`.

Loads, from local files only (never a hub):
  - a Hugging Face folder (config.json + weights, e.g. a copy of laion/clap-htsat-unfused or
    laion/larger_clap_general); the text tower in it is ignored;
  - a LAION-CLAP checkpoint (.pt/.ckpt/.pth, read with `weights_only=True`, or .safetensors) as
    laion-clap publishes it, converted by `clap.laion_convert`;
  - a Microsoft CLAP file (`CLAP_weights_2022.pth`, `{"model": state_dict}`): `from_path` returns a
    `clap.MsClapAudioEncoder` (same interface, 44.1 kHz, 1024-d), told apart by the file's format.

`encode` takes any rate / channel count, resamples to 48 kHz mono, cuts clips longer than the
encoder's 10 s window into windows and returns L2-normalised embeddings, mean-pooled per clip by
default or per window.

`encode_text` embeds words ("crackling fire") into the same space with the CLAP's text tower
(`clap.text.ClapTextEncoder`), loaded from the same files on first use: audio-only use never loads it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..audio import CLAP_SAMPLE_RATE, prepare_waveform, split_windows
from ..errors import ClapModelError, wrap_upstream
from .hf import quiet_transformers, read_state_dict, transformers_module
from .windows import POOLINGS, pool_windows

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


class ClapAudioEncoder:
    """CLAP audio tower + projection; `encode` gives (B, D) embeddings, D = `embed_dim`."""

    window_seconds = 10.0

    def __init__(self, model, feature_extractor, model_id: str, device=None, dtype=None, source=None):
        self.model = model.eval().requires_grad_(False)
        self.feature_extractor = feature_extractor
        self.model_id = model_id
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.model.to(device=self.device, dtype=self.dtype)
        self.fused = bool(getattr(model.config, "enable_fusion", False))
        self.source = Path(source) if source is not None else None  # folder or .pt the text tower is read from
        self._text_encoder = None

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    def __repr__(self):
        return f"ClapAudioEncoder({self.model_id!r}, dim={self.embed_dim}, fused={self.fused}, device={self.device})"

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_path(cls, path, device=None, dtype=None) -> "ClapAudioEncoder":
        path = Path(path)
        if not path.exists():
            raise ClapModelError(f"CLAP model not found: {path}; put a Hugging Face CLAP folder or a LAION-CLAP "
                                 ".pt file into ComfyUI/models/clap/")
        if path.is_dir():
            return cls._from_hf_folder(path, device, dtype)
        if path.suffix.lower() in CHECKPOINT_SUFFIXES:
            state = read_state_dict(path)
            from . import MsClapAudioEncoder, is_msclap_checkpoint
            if is_msclap_checkpoint(state):
                return MsClapAudioEncoder.from_checkpoint(state, name=path.name, device=device, dtype=dtype,
                                                          source=path)
            return cls._from_laion_checkpoint(path, device, dtype, state=state)
        raise ClapModelError(f"{path.name} is not a CLAP model: expected a Hugging Face folder (with config.json) "
                             f"or a LAION-CLAP checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})")

    @classmethod
    def _from_hf_folder(cls, path: Path, device, dtype) -> "ClapAudioEncoder":
        tf = transformers_module()
        if not (path / "config.json").is_file():
            raise ClapModelError(f"{path} has no config.json; copy the whole Hugging Face model folder "
                                 "(config.json, model.safetensors, preprocessor_config.json)")
        try:
            config = tf.ClapAudioConfig.from_pretrained(str(path), local_files_only=True)
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"{path.name}/config.json is not a CLAP config; use a CLAP model folder "
                                               "such as laion/clap-htsat-unfused", e)) from e
        try:
            with quiet_transformers(tf):  # the text tower's keys are "unexpected" here, by design
                model = tf.ClapAudioModelWithProjection.from_pretrained(str(path), config=config,
                                                                        local_files_only=True)
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"could not load the CLAP weights in {path.name}: the folder is "
                                               "incomplete or corrupt; copy it again", e)) from e
        if (path / "preprocessor_config.json").is_file():
            fe = tf.ClapFeatureExtractor.from_pretrained(str(path), local_files_only=True)
        else:
            fe = tf.ClapFeatureExtractor()
        return cls(model, _fit_extractor(fe, config), model_id=path.name, device=device, dtype=dtype, source=path)

    @classmethod
    def _from_laion_checkpoint(cls, path: Path, device, dtype, state=None) -> "ClapAudioEncoder":
        tf = transformers_module()
        state = read_state_dict(path) if state is None else state
        from .msclap_file import is_msclap_checkpoint
        from .laion_convert import convert_laion_state_dict, is_laion_state_dict
        if is_msclap_checkpoint(state):
            raise ClapModelError(f"{path.name} is a Microsoft CLAP checkpoint ({{'model': audio_encoder.*}}), not a "
                                 "LAION-CLAP one: load it with Load CLAP Model / ClapAudioEncoder.from_path, which "
                                 "reads it as Microsoft CLAP")
        if not isinstance(state, dict) or not is_laion_state_dict(state):
            raise ClapModelError(f"{path.name} is not a LAION-CLAP checkpoint (no audio_branch.* weights); "
                                 "use a laion-clap .pt such as 630k-audioset-best.pt or a Hugging Face CLAP folder")
        config, hf_state = convert_laion_state_dict(state)
        model = tf.ClapAudioModelWithProjection(config)
        missing, unexpected = model.load_state_dict(hf_state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ClapModelError(f"{path.name}: converted LAION-CLAP weights do not fit ({len(missing)} missing, e.g. "
                                 f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}); "
                                 "use the Hugging Face folder of this model instead")
        return cls(model, _fit_extractor(tf.ClapFeatureExtractor(), config), model_id=path.stem,
                   device=device, dtype=dtype, source=path)

    def text_encoder(self):
        """The CLAP text tower of the same files (`clap.text.ClapTextEncoder`), loaded on the first call."""
        if self._text_encoder is None:
            from .text import ClapTextEncoder
            if self.source is None:
                raise ClapModelError(f"{self.model_id} was built in memory, not loaded from a CLAP folder or "
                                     "checkpoint, so its text tower is unknown; load it with Load CLAP Model")
            kw = dict(model_id=self.model_id, device=self.device, dtype=self.dtype)
            if self.source.is_dir():
                text = ClapTextEncoder.from_hf_folder(self.source, **kw)
            else:
                text = ClapTextEncoder.from_laion_checkpoint(self.source, projection_dim=self.embed_dim, **kw)
            if text.embed_dim != self.embed_dim:
                raise ClapModelError(f"{self.model_id}: the text tower projects to {text.embed_dim} dims but the "
                                     f"audio tower to {self.embed_dim}; the CLAP files are mixed: copy them again")
            log.info("loaded the CLAP text tower of %s for sound prompts", self.model_id)
            self._text_encoder = text
        return self._text_encoder

    def encode_text(self, prompts) -> torch.Tensor:
        """prompts: N non-empty strings → (N, D) float32 CPU unit embeddings in the audio embeddings' space."""
        return self.text_encoder().encode(prompts)

    # --------------------------------------------------------------- encoding
    @torch.no_grad()
    def encode(self, waveform, sample_rate, pooling: str = "mean", batch_windows: int = 8,
               allow_silence: bool = False, on_progress=None) -> torch.Tensor:
        """CLAP embeddings of a batch of clips.

        waveform: (B, C, T) | (C, T) | (T,) at `sample_rate` (any channels, 4–384 kHz).
        Returns float32 on CPU, L2-normalised: (B, D) with pooling="mean" (window embeddings averaged,
        then normalised) or (B, W, D) with pooling="none", W = number of 10 s windows.
        `on_progress(done, total)` is called after each batch of windows (done of total = B × W windows).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        mono = prepare_waveform(waveform, sample_rate, self.sample_rate, allow_silence=allow_silence)  # (B, T)
        windows = split_windows(mono, int(self.window_seconds * self.sample_rate))  # W × (B, n_w)
        B, W = mono.shape[0], len(windows)
        flat = [windows[w][b].numpy() for b in range(B) for w in range(W)]  # clip-major order
        embeds = []
        for i in range(0, len(flat), batch_windows):
            feats = self.feature_extractor(flat[i:i + batch_windows], sampling_rate=self.sample_rate,
                                           return_tensors="pt")
            out = self.model(input_features=feats["input_features"].to(self.device, self.dtype),
                             is_longer=feats["is_longer"].to(self.device) if self.fused else None)
            embeds.append(out.audio_embeds.float().cpu())
            if on_progress is not None:
                on_progress(min(i + batch_windows, len(flat)), len(flat))
        return pool_windows(embeds, B, W, pooling)


def _fit_extractor(fe, config):
    """The extractor's defaults assume the fused model; take truncation from the model config.
    Windows never exceed 10 s here, so truncation only decides the fused/unfused mel layout."""
    fe.truncation = "fusion" if getattr(config, "enable_fusion", False) else "rand_trunc"
    fe.padding = "repeatpad"
    if fe.sampling_rate != CLAP_SAMPLE_RATE:
        log.warning("CLAP feature extractor expects %d Hz; audio will be resampled to that", fe.sampling_rate)
    return fe

