"""BEATs' declared config: the `cfg` dict every released BEATs checkpoint carries beside its `model` state dict.

A released file is `{"cfg": {...}, "model": {name: tensor}, ...}` (`BEATs_iter3_plus_AS2M*.pt`, unilm/beats).
`BEATsConfig.from_file_cfg` reads the fields that shape the network and refuses features this port does not
implement (another activation, pre-norm blocks without deep norm are fine; GLU blocks are not), naming them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import ClapModelError

AUDIOTOKEN_FILE = "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"


@dataclass(frozen=True)
class BEATsConfig:
    """Defaults are unilm's `BEATsConfig`; a file's `cfg` overrides them."""

    input_patch_size: int = 16          # fbank patches (time × mel) of the patch embedding
    embed_dim: int = 512                # patch embedding width
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_norm_first: bool = False
    deep_norm: bool = False
    conv_pos: int = 128                 # convolutional positions: kernel and groups
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False
    finetuned_model: bool = False       # True: the file has the AudioSet classifier (`predictor`)
    predictor_class: int = 527
    num_mel_bins: int = 128             # fixed by BEATs' `preprocess` (kaldi fbank, 16 kHz, 25 ms / 10 ms)
    sample_rate: int = 16_000
    fbank_mean: float = 15.41663
    fbank_std: float = 6.55582

    @classmethod
    def from_file_cfg(cls, cfg: dict, name: str = "the file") -> "BEATsConfig":
        if not isinstance(cfg, dict):
            raise ClapModelError(f"{name}: its 'cfg' is a {type(cfg).__name__}, not BEATs' config dict; use a "
                                 f"BEATs checkpoint as Microsoft releases it (e.g. {AUDIOTOKEN_FILE})")
        known = {f.name for f in fields(cls)}
        out = cls(**{k: v for k, v in cfg.items() if k in known})
        if out.activation_fn != "gelu":
            raise ClapModelError(f"{name}: BEATs with activation {out.activation_fn!r} is not supported (only the "
                                 f"released 'gelu' models are); use {AUDIOTOKEN_FILE}")
        if out.encoder_embed_dim % out.encoder_attention_heads:
            raise ClapModelError(f"{name}: encoder_embed_dim {out.encoder_embed_dim} is not divisible by "
                                 f"{out.encoder_attention_heads} heads; the file's config is damaged")
        return out

    def describe(self) -> str:
        kind = "fine-tuned on AudioSet (has the classifier)" if self.finetuned_model else "pre-trained only"
        return f"BEATs {self.encoder_layers} layers × {self.encoder_embed_dim}, {kind}"
