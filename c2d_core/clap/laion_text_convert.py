"""LAION-CLAP checkpoint (laion-clap 1.1.7 `.pt`) → transformers `ClapTextModelWithProjection`.

The published laion-clap checkpoints (630k-*, music_*) use `tmodel="roberta"`: the text branch is
`RobertaModel.from_pretrained("roberta-base")` and the projection an `nn.Sequential(Linear, ReLU, Linear)`.
transformers' `convert_clap_original_pytorch_to_hf.py` maps them with two renames, written here as
explicit rules so an unknown key is reported instead of silently renamed:
  - `text_branch.<roberta key>` → `text_model.<same key>` (ClapTextModel keeps RoBERTa's key names);
  - `text_projection.0.*` / `text_projection.2.*` → `text_projection.linear1.*` / `linear2.*`.

The config comes from the tensor shapes (vocabulary, width, layers, MLP width, positions, projection).
The head count is not in any shape: laion-clap's RoBERTa (base or large) uses 64-wide heads, so
heads = width / 64. RoBERTa's LayerNorm eps (1e-5) and pad id (1) are RoBERTa's own values.

Dropped on purpose: `text_branch.embeddings.position_ids` / `token_type_ids` (buffers that transformers
rebuilds), `text_transform.*` (laion-clap's training-only MLP), and everything outside the text side.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import torch

from ..errors import ClapModelError
from .laion_convert import _unwrap

if TYPE_CHECKING:
    from transformers import ClapTextConfig

TEXT_PREFIX = "text_branch."
HEAD_DIM = 64  # roberta-base (768 / 12) and roberta-large (1024 / 16)
ROBERTA_LAYER_NORM_EPS = 1e-5
_DROPPED_TEXT = re.compile(r"^embeddings\.(position_ids|token_type_ids)$")
_ROBERTA_KEY = re.compile(r"^(embeddings\.|encoder\.layer\.\d+\.|pooler\.dense\.)")


def has_laion_text_branch(state_dict: dict) -> bool:
    """True if the (possibly nested / "module."-prefixed) dict holds LAION-CLAP `text_branch.*` keys."""
    return any(isinstance(k, str) and k.startswith(TEXT_PREFIX) for k in _unwrap(state_dict))


def _fail(what: str) -> ClapModelError:
    return ClapModelError(f"LAION-CLAP checkpoint text branch: {what}; it is not laion-clap's RoBERTa text tower "
                          "(or the file is corrupt): use the Hugging Face folder of this CLAP for sound prompts")


def _shape(sd: dict, key: str, ndim: int) -> tuple[int, ...]:
    t = sd.get(key)
    if not isinstance(t, torch.Tensor) or t.dim() != ndim:
        what = "is missing" if t is None else f"is {list(getattr(t, 'shape', [])) or type(t).__name__}, not {ndim}-D"
        raise _fail(f"{key} {what}")
    return tuple(t.shape)


def _infer_config(sd: dict, text: dict, projection_dim: int | None) -> ClapTextConfig:
    from transformers import ClapTextConfig

    vocab, width = _shape(text, "embeddings.word_embeddings.weight", 2)
    positions = _shape(text, "embeddings.position_embeddings.weight", 2)[0]
    token_types = _shape(text, "embeddings.token_type_embeddings.weight", 2)[0]
    layers = sorted({int(m[1]) for k in text if (m := re.match(r"^encoder\.layer\.(\d+)\.", k))})
    if not layers or layers != list(range(len(layers))):
        raise _fail(f"encoder layer indices {layers[:8]} are not 0..n-1")
    inter = _shape(text, "encoder.layer.0.intermediate.dense.weight", 2)[0]
    if width % HEAD_DIM:
        raise _fail(f"width {width} is not a multiple of RoBERTa's {HEAD_DIM}-wide heads")
    p0, p2 = _shape(sd, "text_projection.0.weight", 2), _shape(sd, "text_projection.2.weight", 2)
    if p0[1] != width or p2 != (p0[0], p0[0]):
        raise _fail(f"text_projection.0 {list(p0)} / .2 {list(p2)} do not fit the text width {width}")
    if projection_dim is not None and p2[0] != projection_dim:
        raise ClapModelError(f"this LAION-CLAP checkpoint projects text to {p2[0]} dims but its audio to "
                             f"{projection_dim}; the file mixes two models: download it again")
    return ClapTextConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=len(layers),
                          num_attention_heads=width // HEAD_DIM, intermediate_size=inter,
                          max_position_embeddings=positions, type_vocab_size=token_types,
                          layer_norm_eps=ROBERTA_LAYER_NORM_EPS, projection_dim=p2[0], projection_hidden_act="relu",
                          pad_token_id=1, bos_token_id=0, eos_token_id=2)


def convert_laion_text_state_dict(state_dict: dict, projection_dim: int | None = None
                                  ) -> tuple[ClapTextConfig, dict[str, torch.Tensor]]:
    """Convert a laion-clap checkpoint's text side for `transformers.ClapTextModelWithProjection`.

    state_dict: the `torch.load` result (nested under "state_dict" or flat, with or without "module.").
        Needs `text_branch.*` (RoBERTa) and `text_projection.{0,2}.*`.
    projection_dim: if given, the audio side's embedding width; the text side must match it.
    Returns `(config, hf_state)`; `hf_state` loads into `ClapTextModelWithProjection(config)` with
    nothing missing and nothing extra (checked here on a meta-device model).
    Raises ClapModelError for a checkpoint without a text branch, an unknown key or a shape mismatch.
    """
    from transformers import ClapTextModelWithProjection

    sd = _unwrap(state_dict)
    text = {k[len(TEXT_PREFIX):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(TEXT_PREFIX)}
    if not text:
        raise ClapModelError("this LAION-CLAP checkpoint has no text branch (text_branch.*), so it cannot encode "
                             "sound prompts; use a full laion-clap checkpoint or the Hugging Face CLAP folder")
    config = _infer_config(sd, text, projection_dim)
    out: dict[str, torch.Tensor] = {}
    for k, v in text.items():
        if _DROPPED_TEXT.match(k):
            continue
        if not _ROBERTA_KEY.match(k) or not isinstance(v, torch.Tensor):
            raise _fail(f"unknown weight {TEXT_PREFIX}{k}")
        out["text_model." + k] = v
    for i, j in ((0, 1), (2, 2)):
        for p in ("weight", "bias"):
            key = f"text_projection.{i}.{p}"
            _shape(sd, key, 2 if p == "weight" else 1)
            out[f"text_projection.linear{j}.{p}"] = sd[key]

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ClapTextModelWithProjection(config).state_dict().items()
                    if not k.endswith(("position_ids", "token_type_ids"))}
    missing = sorted(set(expected) - set(out))
    unexpected = sorted(TEXT_PREFIX + k[len("text_model."):] if k.startswith("text_model.") else k
                        for k in set(out) - set(expected))  # named as in the checkpoint
    wrong = [f"{k} {list(out[k].shape)} vs {list(expected[k])}" for k in expected
             if k in out and tuple(out[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        raise _fail(f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                    f"(e.g. {unexpected[:3]}), {len(wrong)} of wrong shape (e.g. {wrong[:2]})")
    return config, out
