"""Microsoft CLAP 2023 audio tower: log-mel front end → HTSAT (transformers' `ClapAudioModel`) → projection.

msclap's `HTSATWrapper` (`msclap/models/htsat.py`) is the HTS-AT Swin transformer laion-clap also uses, so its
`audio_encoder.base.htsat.*` tensors map onto transformers' CLAP audio model with `laion_convert.rename_htsat`
(bn0 → batch_norm, qkv split into query/key/value, …). The HTSAT's shape is declared here (msclap's
`models/config.py`: 96-wide patches of 4, depths 2-2-6-2, heads 4-8-16-32, window 8, spec size 256, 64 mel
bins), never read from the file; the file is checked against it in transformers' names (a wrong or missing
tensor is named with both shapes). Not loaded: the fixed front end (recomputed, loaded when present),
`attn_mask` (rebuilt), `tscam_conv` / `head` (AudioSet classifier).

Front end: as Cnn14's (`msclap_audio`), but HTSATWrapper takes its settings from `models/config.py`, not the
yml: a mel bank for 32 kHz, 50–14,000 Hz, applied to the 44.1 kHz audio CLAPWrapper feeds it — reproduced.
The embedding is the HTSAT's `latent_output` (transformers' `pooler_output`, 768-d) → `Projection` → 1024-d.
Shapes: (B, 308700) 7 s at 44.1 kHz → log-mel (B, 1, 965, 64) → (B, 768) → (B, 1024), unnormalised.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ClapModelError
from .msclap_audio import Projection, _LogMel, _Spectrogram
from .msclap_file import AUDIO_PREFIX, OPTIONAL_SUFFIXES, MsClapVariant, layout_problems

HTSAT_PREFIX = AUDIO_PREFIX + "base.htsat."
PROJ_PREFIX = AUDIO_PREFIX + "projection."
HF_PREFIX = "audio_encoder."  # transformers' ClapAudioModel
# msclap/models/config.py (htsat_*), as transformers' ClapAudioConfig
HTSAT_CONFIG = dict(patch_embeds_hidden_size=96, hidden_size=768, depths=[2, 2, 6, 2], num_hidden_layers=4,
                    num_attention_heads=[4, 8, 16, 32], window_size=8, mlp_ratio=4.0, patch_size=4,
                    patch_stride=[4, 4], spec_size=256, num_mel_bins=64, qkv_bias=True,
                    enable_patch_layer_norm=True, enable_fusion=False, num_classes=527, hidden_act="gelu")


def htsat_config():
    from .hf import transformers_module
    return transformers_module().ClapAudioConfig(**HTSAT_CONFIG)


def _hf_model(config=None):
    from .hf import quiet_transformers, transformers_module
    tf = transformers_module()
    with quiet_transformers(tf):
        return tf.ClapAudioModel(config or htsat_config())


def _renamed(state: dict) -> tuple[dict, dict]:
    from .laion_convert import rename_htsat
    htsat = {k[len(HTSAT_PREFIX):]: v for k, v in state.items() if k.startswith(HTSAT_PREFIX)}
    return rename_htsat(htsat, src_prefix=HTSAT_PREFIX, hf_prefix=HF_PREFIX, what="Microsoft CLAP 2023 file")


def htsat_problems(state: dict, variant: MsClapVariant) -> list[str]:
    """How the file's `audio_encoder.*` tensors differ from the declared 2023 tower ([] = they fit)."""
    audio = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(AUDIO_PREFIX)}
    problems = [f"{k} is unexpected (shape {list(getattr(v, 'shape', []))})" for k, v in audio.items()
                if not k.startswith((HTSAT_PREFIX, PROJ_PREFIX))]
    try:
        hf, src = _renamed(audio)
    except ClapModelError as e:
        return problems + [str(e)]
    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in _hf_model().state_dict().items()}
        projection = Projection(variant.out_emb, variant.d_proj)
        proj = {PROJ_PREFIX + k: tuple(v.shape) for k, v in projection.state_dict().items()}
    problems += [f"the {HTSAT_PREFIX}* tensor for transformers' {k} is missing (expected shape {list(s)})"
                 for k, s in want.items() if k not in hf]
    problems += [f"{src[k]} has shape {list(v.shape)}, expected {list(want[k])} (transformers' {k})"
                 for k, v in hf.items() if k in want and tuple(v.shape) != want[k]]
    problems += [f"{src[k]} is unexpected" for k in hf if k not in want]
    return problems + layout_problems({k: v for k, v in audio.items() if k.startswith(PROJ_PREFIX)}, proj,
                                      prefix=PROJ_PREFIX)


class MsClapHtsatTower(nn.Module):
    """msclap 2023's `AudioEncoder`: (B, T) 44.1 kHz waveform, T ≤ 7 s → (B, 1024), unnormalised."""

    def __init__(self, variant: MsClapVariant):
        super().__init__()
        if variant.audio_tower != "htsat":
            raise ValueError(f"MsClapHtsatTower builds the HTSAT tower, not {variant.audio_tower!r}")
        self.variant = variant
        self.spectrogram_extractor = _Spectrogram(variant.window_size, variant.hop_size)
        self.logmel_extractor = _LogMel(variant)
        self.htsat = _hf_model()
        self.projection = Projection(variant.out_emb, variant.d_proj)

    def load_msclap(self, audio: dict) -> None:
        """audio: the file's tensors without `audio_encoder.` (as `read_msclap_audio` returns, already checked)."""
        full = {AUDIO_PREFIX + k: v for k, v in audio.items()}
        hf, _ = _renamed(full)
        self.htsat.load_state_dict({k: v for k, v in hf.items()}, strict=True)
        self.projection.load_state_dict({k[len("projection."):]: v for k, v in audio.items()
                                         if k.startswith("projection.")}, strict=True)
        front = {k[len("base.htsat."):]: v for k, v in audio.items()
                 if k.startswith("base.htsat.") and k.endswith(OPTIONAL_SUFFIXES) and "extractor" in k}
        missing = self.load_state_dict(front, strict=False).unexpected_keys
        assert not missing, missing

    def cast(self, device=None, dtype=None) -> "MsClapHtsatTower":
        """`.to(device, dtype)` with the fixed front end kept in fp32."""
        self.to(device=device, dtype=dtype)
        self.spectrogram_extractor.float()
        self.logmel_extractor.float()
        return self

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self.logmel_extractor(self.spectrogram_extractor(waveform))          # (B, 1, frames, 64) fp32
        dtype = self.projection.linear1.weight.dtype
        pooled = self.htsat(input_features=mel.to(dtype)).pooler_output           # (B, 768)
        return self.projection(pooled)
