"""LAION-CLAP checkpoint (laion-clap 1.1.7 `.pt`) → transformers `ClapAudioModelWithProjection`.

Only the audio side is converted: the HTSAT tower (`audio_branch.*`) and its projection MLP
(`audio_projection.*`). The renaming follows transformers' own
`models/clap/convert_clap_original_pytorch_to_hf.py` (KEYS_TO_MODIFY_MAPPING, the qkv split, the
`_projection.0/2 → linear1/2` rename), written here as explicit per-key rules so that an unknown
key is reported instead of silently renamed.

The config is read from the tensor shapes, never from the file name: width, depths, heads, window,
MLP ratio, mel bins, projection size and fusion all come from the weights, so HTSAT-tiny
(630k-audioset-best.pt: width 96, depths 2,2,6,2) and HTSAT-base (music_audioset_epoch_15_esc_90.14.pt:
width 128, depths 2,2,12,2) both convert. Values the weights do not hold (spec_size 256, patch
stride 4) are laion-clap's `create_htsat_model` values, checked against the attention masks when
the checkpoint has them.

Fusion: laion-clap's default fused variant (`enable_fusion=True`, `fusion_type="aff_2d"`, e.g.
630k-audioset-fusion-best.pt: `audio_branch.patch_embed.mel_conv2d` + `patch_embed.fusion_model`)
maps 1:1 onto transformers' `ClapAudioAFFBlock`. The other fusion types (`aff_1d`, `iaff_1d`,
`daf_1d`, `iaff_2d`, `daf_2d`, `channel_map`) have no transformers counterpart and are refused.

Keys dropped on purpose (transformers has no such weights, and the embeddings do not use them):
  - `audio_branch.spectrogram_extractor.*`, `audio_branch.logmel_extractor.*`: fixed STFT / mel
    filter banks; `ClapFeatureExtractor` computes the log-mel spectrogram before the model.
  - `audio_branch.layers.*.blocks.*.attn_mask`: shifted-window masks; transformers rebuilds them
    in `ClapAudioLayer.get_attn_mask`.
  - `audio_branch.tscam_conv.*`, `audio_branch.head.*`: HTSAT's AudioSet (527-class) head; CLAP
    embeddings use the pooled latent before it.
  - `audio_transform.*`: laion-clap's training-only MLP (the "mlp" loss), not on the embedding path.
  - `text_*`, `logit_scale_*` and everything else outside the audio branch (the text tower and the
    contrastive temperatures; `text_branch.embeddings.position_ids` is among them).
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import torch

from ..errors import ClapModelError

if TYPE_CHECKING:
    from transformers import ClapAudioConfig

AUDIO_PREFIX = "audio_branch."
HF_ENCODER_PREFIX = "audio_model.audio_encoder."

# laion-clap's create_htsat_model values that no tensor shape records.
LAION_SPEC_SIZE = 256
LAION_PATCH_STRIDE = 4

# Audio-branch keys with no transformers weight (see module docstring).
_DROPPED_AUDIO = re.compile(
    r"^(spectrogram_extractor\.|logmel_extractor\.|tscam_conv\.|head\.|layers\.\d+\.blocks\.\d+\.attn_mask$)")

# Renames inside one Swin block, `layers.{i}.blocks.{j}.` + old → + new (KEYS_TO_MODIFY_MAPPING).
_BLOCK_RENAMES = {
    "norm1.": "layernorm_before.",
    "norm2.": "layernorm_after.",
    "attn.proj.": "attention.output.dense.",
    "attn.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "attn.relative_position_index": "attention.self.relative_position_index",
    "mlp.fc1.": "intermediate.dense.",
    "mlp.fc2.": "output.dense.",
}
_BLOCK = re.compile(r"^(layers\.\d+\.blocks\.\d+\.)(.+)$")
# Keys whose name is the same in transformers (after the prefix).
_SAME = re.compile(r"^(patch_embed\.(proj|norm|mel_conv2d)\.|patch_embed\.fusion_model\.(local|global)_att\.\d+\."
                   r"|layers\.\d+\.downsample\.|norm\.)")


def _unwrap(state_dict) -> dict:
    """The flat tensor dict: `{"state_dict": {...}}` unnested, a leading "module." (DataParallel) removed."""
    if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    if not isinstance(state_dict, dict):
        return {}
    return {(k[len("module."):] if isinstance(k, str) and k.startswith("module.") else k): v
            for k, v in state_dict.items()}


def is_laion_state_dict(state_dict: dict) -> bool:
    """True if the (possibly nested / "module."-prefixed) dict holds LAION-CLAP `audio_branch.*` keys."""
    return any(isinstance(k, str) and k.startswith(AUDIO_PREFIX) for k in _unwrap(state_dict))


def _shape(sd: dict, key: str, ndim: int, prefix: str = AUDIO_PREFIX) -> tuple[int, ...]:
    """Shape of `sd[key]`, which must be an `ndim`-D tensor; else a ClapModelError naming `prefix + key`."""
    t = sd.get(key)
    if isinstance(t, torch.Tensor) and t.dim() == ndim:
        return tuple(t.shape)
    if t is None:
        what = "is missing"
    elif not isinstance(t, torch.Tensor):
        what = f"is a {type(t).__name__}, not a tensor"
    else:
        what = f"is {list(t.shape)}, not {ndim}-D"
    raise ClapModelError(f"LAION-CLAP checkpoint: {prefix}{key} {what}; the file is truncated or not a "
                         "laion-clap HTSAT checkpoint: download it again")


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ClapModelError(f"LAION-CLAP checkpoint has inconsistent shapes: {what}; the file is corrupt or "
                             "not a laion-clap HTSAT checkpoint: download it again")


def _refuse_unsupported_fusion(audio: dict) -> bool:
    """True for the supported aff_2d fusion, False for no fusion; raises for the fusion types transformers lacks."""
    keys = audio.keys()

    def refuse(kind: str):
        raise ClapModelError(
            f"this LAION-CLAP checkpoint uses fusion_type={kind!r}, which transformers' CLAP cannot run (it has only "
            "the default 'aff_2d' fusion); use an unfused checkpoint (e.g. 630k-audioset-best.pt) or "
            "630k-audioset-fusion-best.pt")

    if any(k.startswith(("mel_conv1d.", "fusion_model.")) for k in keys):
        refuse("aff_1d / iaff_1d / daf_1d")
    if any(k.startswith(("patch_embed.fusion_model.local_att2.", "patch_embed.fusion_model.global_att2."))
           for k in keys):
        refuse("iaff_2d")
    if _shape(audio, "patch_embed.proj.weight", 4)[1] != 1:
        refuse("channel_map")
    has_mel = "patch_embed.mel_conv2d.weight" in audio
    has_aff = "patch_embed.fusion_model.local_att.0.weight" in audio
    if has_mel and not has_aff:
        refuse("daf_2d")
    _check(has_mel == has_aff, "patch_embed.fusion_model is present without patch_embed.mel_conv2d")
    return has_mel


def _infer_config(sd: dict, audio: dict, projection_dim: int | None) -> ClapAudioConfig:
    """ClapAudioConfig from the shapes of the audio branch (`audio`, prefix removed) and projection (`sd`)."""
    from transformers import ClapAudioConfig

    if "absolute_pos_embed" in audio:
        raise ClapModelError("this LAION-CLAP checkpoint uses an absolute position embedding (ape=True), which "
                             "transformers' CLAP does not have; use a laion-clap HTSAT checkpoint trained without it")
    enable_fusion = _refuse_unsupported_fusion(audio)

    # patch_embed.proj.weight: (C, 1, p, p) → width C, patch size p
    width, _, ph, pw = _shape(audio, "patch_embed.proj.weight", 4)
    _check(ph == pw, f"patch_embed.proj.weight has a non-square kernel {ph}x{pw}")

    # depths: number of `layers.i.blocks.j` per stage, indices must be contiguous
    blocks: dict[int, set[int]] = {}
    for k in audio:
        m = re.match(r"^layers\.(\d+)\.blocks\.(\d+)\.", k)
        if m:
            blocks.setdefault(int(m[1]), set()).add(int(m[2]))
    if not blocks:
        raise ClapModelError("LAION-CLAP checkpoint has no audio_branch.layers.*.blocks.* weights; it is not an "
                             "HTSAT audio encoder (laion-clap PANN checkpoints are not supported): use an HTSAT one")
    _check(sorted(blocks) == list(range(len(blocks))), f"stage indices {sorted(blocks)} are not 0..{len(blocks) - 1}")
    depths = []
    for i in range(len(blocks)):
        _check(sorted(blocks[i]) == list(range(len(blocks[i]))),
               f"stage {i} has block indices {sorted(blocks[i])}, expected 0..{len(blocks[i]) - 1}")
        depths.append(len(blocks[i]))

    # relative_position_bias_table: ((2w-1)^2, heads) per stage → window w, heads
    heads, window = [], None
    for i in range(len(depths)):
        rows, n_heads = _shape(audio, f"layers.{i}.blocks.0.attn.relative_position_bias_table", 2)
        w = (math.isqrt(rows) + 1) // 2
        _check((2 * w - 1) ** 2 == rows, f"layers.{i} relative_position_bias_table has {rows} rows, not (2w-1)^2")
        _check(window in (None, w), f"layers.{i} has window {w}, layers.0 has {window}")
        window = w
        dim = width * 2 ** i
        _check(dim % n_heads == 0, f"layers.{i} width {dim} is not a multiple of its {n_heads} heads")
        heads.append(n_heads)

    # qkv.weight: (3C, C), fc1.weight: (r*C, C) in stage 0
    qkv = _shape(audio, "layers.0.blocks.0.attn.qkv.weight", 2)
    _check(qkv == (3 * width, width),
           f"audio_branch.layers.0.blocks.0.attn.qkv.weight is {list(qkv)}, expected [{3 * width}, {width}]")
    mlp_ratio = _shape(audio, "layers.0.blocks.0.mlp.fc1.weight", 2)[0] / width
    num_mel_bins = _shape(audio, "bn0.weight", 1)[0]

    # pooled width C·2^(L-1) feeds audio_projection.0: (P, C·2^(L-1)) → ReLU → audio_projection.2: (P, P)
    hidden = width * 2 ** (len(depths) - 1)
    norm = _shape(audio, "norm.weight", 1)
    _check(norm == (hidden,), f"audio_branch.norm.weight is {list(norm)}, expected [{hidden}] "
           f"(= {width} * 2^{len(depths) - 1})")
    p0, p2 = _shape(sd, "audio_projection.0.weight", 2, ""), _shape(sd, "audio_projection.2.weight", 2, "")
    _check(p0[1] == hidden, f"audio_projection.0.weight is {list(p0)}, its input should be the tower width {hidden}")
    _check(p2 == (p0[0], p0[0]), f"audio_projection.2.weight is {list(p2)}, expected [{p0[0]}, {p0[0]}]")
    if projection_dim is not None and p2[0] != projection_dim:
        raise ClapModelError(f"this LAION-CLAP checkpoint projects audio to {p2[0]} dims but {projection_dim} were "
                             f"expected; use a CLAP model with {projection_dim}-dim embeddings or an adapter trained "
                             f"for {p2[0]}")

    # the shifted-window mask of stage 0 is (nW, w², w²), nW = (spec_size / stride / w)²: check spec_size
    mask_key = "layers.0.blocks.1.attn_mask"
    if mask_key in audio:
        n_windows = _shape(audio, mask_key, 3)[0]
        grid = LAION_SPEC_SIZE // LAION_PATCH_STRIDE // window
        _check(n_windows == grid * grid, f"{mask_key} has {n_windows} windows, expected {grid * grid} for laion-clap's "
               f"spec_size {LAION_SPEC_SIZE}")

    aff_r = 4
    if enable_fusion:  # fusion_model.local_att.0.weight: (C/r, C, 1, 1)
        inter = _shape(audio, "patch_embed.fusion_model.local_att.0.weight", 4)[0]
        _check(inter > 0 and width % inter == 0, f"fusion_model.local_att.0 has {inter} channels for width {width}")
        aff_r = width // inter

    num_classes = _shape(audio, "head.weight", 2)[0] if "head.weight" in audio else 527  # unused by the embeddings
    return ClapAudioConfig(
        patch_embeds_hidden_size=width, hidden_size=hidden, depths=depths, num_hidden_layers=len(depths),
        num_attention_heads=heads, window_size=window, mlp_ratio=mlp_ratio, patch_size=ph,
        patch_stride=[LAION_PATCH_STRIDE, LAION_PATCH_STRIDE], spec_size=LAION_SPEC_SIZE, num_mel_bins=num_mel_bins,
        projection_dim=p2[0], qkv_bias="layers.0.blocks.0.attn.qkv.bias" in audio,
        enable_patch_layer_norm="patch_embed.norm.weight" in audio, enable_fusion=enable_fusion,
        aff_block_r=aff_r, num_classes=num_classes, projection_hidden_act="relu", hidden_act="gelu")


def rename_htsat(audio: dict, src_prefix: str = AUDIO_PREFIX, hf_prefix: str = HF_ENCODER_PREFIX,
                 what: str = "LAION-CLAP checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """HTSAT tower names (laion-clap's, also Microsoft CLAP 2023's `audio_encoder.base.htsat.*`; `audio` has the
    prefix removed) → transformers' `ClapAudioEncoder` names under `hf_prefix`; qkv (3C, ...) split into query /
    key / value (C, ...). Returns the new dict and, for error messages, each new key's source key."""
    out: dict[str, torch.Tensor] = {}
    src: dict[str, str] = {}

    def put(hf_key: str, tensor: torch.Tensor, laion_key: str) -> None:
        out[hf_key], src[hf_key] = tensor, laion_key

    for k, v in audio.items():
        if _DROPPED_AUDIO.match(k):
            continue
        if not isinstance(v, torch.Tensor):
            raise ClapModelError(f"{what}: {src_prefix}{k} is a {type(v).__name__}, not a tensor; "
                                 "the file is not a plain state dict: download it again")
        laion_key = src_prefix + k
        if k.startswith("bn0."):
            put(hf_prefix + "batch_norm." + k[4:], v, laion_key)
        elif _SAME.match(k):
            put(hf_prefix + k, v, laion_key)
        elif (m := _BLOCK.match(k)) and m[2] in ("attn.qkv.weight", "attn.qkv.bias"):
            _check(v.shape[0] % 3 == 0, f"{laion_key} is {list(v.shape)}, its first dim is not 3 × width")
            for name, part in zip(("query", "key", "value"), v.chunk(3, dim=0)):  # views, no copy
                put(f"{hf_prefix}{m[1]}attention.self.{name}.{m[2].rsplit('.', 1)[1]}", part, laion_key)
        elif m and (rule := next((r for r in _BLOCK_RENAMES if m[2].startswith(r)), None)):
            put(hf_prefix + m[1] + _BLOCK_RENAMES[rule] + m[2][len(rule):], v, laion_key)
        else:
            raise ClapModelError(f"{what} has an audio weight this converter does not know: "
                                 f"{laion_key} {list(getattr(v, 'shape', []))}; it is an HTSAT variant "
                                 "transformers cannot run: use a standard HTSAT checkpoint or a Hugging Face CLAP "
                                 "folder")
    return out, src


def _rename(sd: dict, audio: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """LAION names → transformers names (`rename_htsat`) plus the projection MLP.

    Returns the transformers state dict and, for error messages, each new key's LAION source key.
    """
    out, src = rename_htsat(audio)

    def put(hf_key: str, tensor: torch.Tensor, laion_key: str) -> None:
        out[hf_key], src[hf_key] = tensor, laion_key

    for i, j in ((0, 1), (2, 2)):  # nn.Sequential(Linear, ReLU, Linear) → linear1 / linear2
        for p in ("weight", "bias"):
            key = f"audio_projection.{i}.{p}"
            _shape(sd, key, 2 if p == "weight" else 1, "")
            put(f"audio_projection.linear{j}.{p}", sd[key], key)
    return out, src


def _check_against_model(config: ClapAudioConfig, hf_state: dict, src: dict[str, str]) -> None:
    """Key set and shapes of `hf_state` == those of `ClapAudioModelWithProjection(config)` (built on meta)."""
    from transformers import ClapAudioModelWithProjection

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ClapAudioModelWithProjection(config).state_dict().items()}
    missing = sorted(set(expected) - set(hf_state))
    unexpected = sorted(src[k] for k in set(hf_state) - set(expected))
    wrong = [f"{src[k]} gives {k} {list(hf_state[k].shape)}, expected {list(expected[k])}"
             for k in expected if k in hf_state and tuple(hf_state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        raise ClapModelError(
            "LAION-CLAP checkpoint does not fit the HTSAT config read from its own shapes "
            f"({len(wrong)} of wrong shape, e.g. {wrong[:2]}; {len(missing)} missing, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}); the file is corrupt or a laion-clap variant "
            "this converter does not support: download it again or use a Hugging Face CLAP folder")


def convert_laion_state_dict(state_dict: dict, projection_dim: int | None = None
                             ) -> tuple[ClapAudioConfig, dict[str, torch.Tensor]]:
    """Convert a laion-clap checkpoint's audio side for `transformers.ClapAudioModelWithProjection`.

    state_dict: the `torch.load` result: `{"state_dict": {...}, ...}` or the flat dict, keys with or
        without "module.". Needs `audio_branch.*` (HTSAT) and `audio_projection.{0,2}.*`.
    projection_dim: if given, the embedding size the caller expects; a different one is an error.
    Returns `(config, hf_state)`: a `ClapAudioConfig` read from the shapes, and a dict that loads
    into `ClapAudioModelWithProjection(config)` with `strict=True` (nothing missing, nothing extra).
    No tensor is copied: the q/k/v are views of the LAION qkv, e.g. for HTSAT-tiny
    `layers.0.blocks.0.attn.qkv.weight` (288, 96) → `attention.self.{query,key,value}.weight` (96, 96)
    each (clone them before `safetensors.save_file`, which refuses shared storage).
    Raises ClapModelError (never KeyError / RuntimeError) for a non-LAION dict, missing or
    inconsistent weights, or an unsupported variant.
    """
    sd = _unwrap(state_dict)
    audio = {k[len(AUDIO_PREFIX):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(AUDIO_PREFIX)}
    if not audio:
        found = sorted({k.split(".")[0] for k in sd if isinstance(k, str)})[:6]
        raise ClapModelError(f"this .pt has no LAION-CLAP audio branch (audio_branch.*); its top-level names are "
                             f"{found}. Use a laion-clap checkpoint such as 630k-audioset-best.pt or a Hugging Face "
                             "CLAP folder (e.g. laion/clap-htsat-unfused)")
    config = _infer_config(sd, audio, projection_dim)
    hf_state, src = _rename(sd, audio)
    _check_against_model(config, hf_state, src)
    return config, hf_state
