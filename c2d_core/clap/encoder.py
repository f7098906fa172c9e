"""LAION / Hugging Face CLAP audio encoder on transformers' `ClapAudioModelWithProjection`.

Reads, from local files only (never a hub; `c2d_core.encoder_registry` picks this reader by the file's layout):
  - a Hugging Face folder (config.json + weights, e.g. a copy of laion/clap-htsat-unfused or
    laion/larger_clap_general); the text tower in it is ignored here;
  - a LAION-CLAP checkpoint (.pt/.ckpt/.pth, read with `weights_only=True`, or .safetensors) as
    laion-clap publishes it, converted by `clap.laion_convert`.

`encode` (`AudioEncoder`) resamples to 48 kHz mono, cuts clips longer than the 10 s window into windows and
returns L2-normalised embeddings, mean-pooled per clip by default or per window.

`encode_text` embeds words ("crackling fire") into the same space with the CLAP's text tower
(`clap.text.ClapTextEncoder`), loaded from the same files on first use: audio-only use never loads it.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..audio import CLAP_SAMPLE_RATE
from ..audio_encoder import AudioEncoder, EncoderFormat
from ..errors import ClapModelError, wrap_upstream
from ..torch_files import top_level_keys
from .hf import quiet_transformers, transformers_module

log = logging.getLogger(__name__)


class ClapAudioEncoder(AudioEncoder):
    """CLAP audio tower + projection; `encode` gives (B, D) embeddings, D = `embed_dim`."""

    family = "LAION-CLAP"
    window_seconds = 10.0
    default_batch_windows = 8

    def __init__(self, model, feature_extractor, model_id: str, device=None, dtype=None, source=None):
        super().__init__(model_id=model_id, device=device, dtype=dtype, source=source)
        self.model = model.eval().requires_grad_(False)
        self.feature_extractor = feature_extractor
        self.model.to(device=self.device, dtype=self.dtype)
        self.fused = bool(getattr(model.config, "enable_fusion", False))

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
    def from_hf_folder(cls, path, device=None, dtype=None) -> "ClapAudioEncoder":
        path = Path(path)
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
    def from_laion_checkpoint(cls, state, name: str, device=None, dtype=None, source=None) -> "ClapAudioEncoder":
        """From an already read (`weights_only`) laion-clap checkpoint object (`is_laion_state_dict`)."""
        if not _is_laion_checkpoint(state):
            from .msclap_file import is_msclap_checkpoint
            what = "a Microsoft CLAP file" if is_msclap_checkpoint(state) else top_level_keys(state)
            raise ClapModelError(f"{name} is not a LAION-CLAP checkpoint: it is {what}; load it with Load CLAP Model "
                                 "(load_audio_encoder), which reads each format as such")
        tf = transformers_module()
        from .laion_convert import convert_laion_state_dict
        config, hf_state = convert_laion_state_dict(state)
        model = tf.ClapAudioModelWithProjection(config)
        missing, unexpected = model.load_state_dict(hf_state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ClapModelError(f"{name}: converted LAION-CLAP weights do not fit ({len(missing)} missing, e.g. "
                                 f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}); "
                                 "use the Hugging Face folder of this model instead")
        model_id = Path(name).stem
        return cls(model, _fit_extractor(tf.ClapFeatureExtractor(), config), model_id=model_id,
                   device=device, dtype=dtype, source=source)

    def load_text_encoder(self):
        """The CLAP text tower of the same folder or checkpoint (`clap.text.ClapTextEncoder`)."""
        from .text import ClapTextEncoder
        kw = dict(model_id=self.model_id, device=self.device, dtype=self.dtype)
        if self.source.is_dir():
            text = ClapTextEncoder.from_hf_folder(self.source, **kw)
        else:
            text = ClapTextEncoder.from_laion_checkpoint(self.source, projection_dim=self.embed_dim, **kw)
        log.info("loaded the CLAP text tower of %s for sound prompts", self.model_id)
        return text

    # --------------------------------------------------------------- encoding
    def embed_windows(self, windows):
        """windows: n mono clips (≤ 10 s at 48 kHz) → (n, D) projected embeddings (the extractor pads them)."""
        feats = self.feature_extractor([w.numpy() for w in windows], sampling_rate=self.sample_rate,
                                       return_tensors="pt")
        out = self.model(input_features=feats["input_features"].to(self.device, self.dtype),
                         is_longer=feats["is_longer"].to(self.device) if self.fused else None)
        return out.audio_embeds


def _fit_extractor(fe, config):
    """The extractor's defaults assume the fused model; take truncation from the model config.
    Windows never exceed 10 s here, so truncation only decides the fused/unfused mel layout."""
    fe.truncation = "fusion" if getattr(config, "enable_fusion", False) else "rand_trunc"
    fe.padding = "repeatpad"
    if fe.sampling_rate != CLAP_SAMPLE_RATE:
        log.warning("CLAP feature extractor expects %d Hz; audio will be resampled to that", fe.sampling_rate)
    return fe



def _is_hf_clap_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def _is_laion_checkpoint(obj) -> bool:
    from .laion_convert import is_laion_state_dict
    return isinstance(obj, dict) and is_laion_state_dict(obj)


HF_FOLDER_FORMAT = EncoderFormat(
    name="hf-clap", describe="a Hugging Face CLAP folder (config.json + model.safetensors, e.g. a copy of "
                             "laion/clap-htsat-unfused)",
    claims_folder=_is_hf_clap_folder,
    load=lambda path, obj, device, dtype: ClapAudioEncoder.from_hf_folder(path, device, dtype))
LAION_FORMAT = EncoderFormat(
    name="laion-clap", describe="a LAION-CLAP checkpoint (audio_branch.* tensors, e.g. 630k-audioset-best.pt)",
    claims_file=_is_laion_checkpoint,
    load=lambda path, obj, device, dtype: ClapAudioEncoder.from_laion_checkpoint(obj, path.name, device, dtype,
                                                                                 source=path))
