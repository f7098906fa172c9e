"""Random-weight stand-ins of the DiT families' text encoders, at full size, as ComfyUI's loaders read them.

ComfyUI recognises a text encoder by its keys and shapes and then builds it from its own fixed config (T5-XXL's
`t5_config_xxl.json`, Qwen3-4B's, ...): a narrower stand-in is not loaded as the same model. So these are the real
sizes, built from ComfyUI's own classes on the meta device (shapes only) and written tensor by tensor in fp8
e4m3fn, as Comfy-Org publishes these encoders (`t5xxl_fp8_e4m3fn.safetensors`, `umt5_xxl_fp8_e4m3fn_scaled...`):

| kind | ComfyUI class | parameters | fp8 file | used by |
|---|---|---|---|---|
| t5xxl | sd3_clip.T5XXLModel | 4.76 B | 4.8 GB | Flux.1, Chroma, SD3.5 (DualCLIPLoader / CLIPLoader) |
| umt5xxl | wan.UMT5XXlModel | 5.68 B | 5.7 GB | Wan 2.1 / 2.2 (CLIPLoader type wan; with its tokenizer) |
| qwen3_4b | z_image.Qwen3_4BModel | 4.02 B | 4.0 GB | Z-Image (CLIPLoader type lumina2) |
| qwen25_vl_7b | qwen_image.Qwen25_7BVLIModel | 7.75 B | 7.8 GB | Qwen-Image (CLIPLoader type qwen_image) |
| clip_l | sd1_clip.SDClipModel | 0.12 B | 0.25 GB (fp16) | Flux.1 (DualCLIPLoader's second file) |
| gemma3_12b | lt.Gemma3_12BModel | 11.8 B | 12.8 GB (fp8 + bf16) | LTX-2 / 2.3 (LTXAVTextEncoderLoader) |

Values: normal, std 1/sqrt(fan_in) (biases 0, norm scales 1). Drawing 4–8 B normal values took 27–55 s per encoder,
paid again whenever a low-disk machine deletes and rebuilds them, so each fan-in draws one pool of 2^25 + 4099
values (seeded by (seed, fan_in)) and a weight's row block of at most 2^25 values is a window of it at an offset
hashed from (seed, key, block): no window repeats within a block, and these stand-ins only prove wiring. 1-d tensors
(norms, biases) are stored in fp8 too, as in `t5xxl_fp8_e4m3fn.safetensors` (ComfyUI picks T5's weight dtype from
its final norm's). The cached name hashes the recipe.

gemma3_12b is in Comfy-Org's mixed-precision layout: each linear of `model.layers` is an fp8 e4m3fn `weight` with a
float32 `weight_scale` (1) and a `comfy_quant` byte tensor (JSON `{"format": "float8_e4m3fn"}`), which ComfyUI's
mixed ops read per layer; embeddings and norms are bf16 (ComfyUI takes the compute dtype from the final norm's).
Gemma's RMSNorm scales by 1 + weight, so its norms are zeros (the identity scale). The vision tower (0.4 B, what the
prompt-enhance branch's image input uses) is left out: the LTXAV loader reports it missing and encodes text without
it. Gemma's own tokenizer is not available offline; the file carries ComfyUI's bundled SentencePiece model
`t5_pile_tokenizer/tokenizer.model` (32 000 pieces, BOS 1) in `spiece_model`, which Gemma3_12BTokenizer reads as it
reads Gemma's: its ids are valid rows of the 262 208-row embedding, and prompts pad to Gemma's 1024 tokens.

    path = ensure_text_encoder("t5xxl")     # ~/.cache/clap2diffusion/standins/c2d-standin-te-t5xxl-seed0-<hash>
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import sys
from pathlib import Path

import torch

from c2d_core.seeded_init import seeded_generator
from devtools.safetensors_stream import write_streamed
from devtools.standin_cache import cached, recipe_key, with_comfyui

ENCODERS = {"t5xxl": ("comfy.text_encoders.sd3_clip", "T5XXLModel"),
            "umt5xxl": ("comfy.text_encoders.wan", "UMT5XXlModel"),
            "qwen3_4b": ("comfy.text_encoders.z_image", "Qwen3_4BModel"),
            "qwen25_vl_7b": ("comfy.text_encoders.qwen_image", "Qwen25_7BVLIModel"),
            "clip_l": ("comfy.sd1_clip", "SDClipModel"),
            "gemma3_12b": ("comfy.text_encoders.lt", "Gemma3_12BModel")}
STORED = {"clip_l": torch.float16}    # everything else: fp8 e4m3fn (gemma3_12b: its linears; see GEMMA_UNQUANTIZED)
GEMMA_UNQUANTIZED = torch.bfloat16
GEMMA_LEFT_OUT = ("vision_model.", "multi_modal_projector.")
FP8_QUANT_CONF = json.dumps({"format": "float8_e4m3fn"}).encode()
BLOCK_VALUES = 1 << 25
POOL_VALUES = BLOCK_VALUES + 4099


def meta_model(kind: str):
    """ComfyUI's text-encoder module of `kind` on the meta device (its `.transformer` holds the weights)."""
    import comfy.sd  # noqa: F401  (imports every text-encoder module: lt.py reaches llama.py through the package)

    module, name = ENCODERS[kind]
    cls = getattr(importlib.import_module(module), name)
    with torch.device("meta"):
        return cls(device="meta", dtype=torch.float16)


def layout(kind: str) -> dict[str, torch.Tensor]:
    """{key as the released file stores it: meta tensor of its stored shape and dtype} — the keys ComfyUI's
    `load_sd` puts into the module, parameters and saved buffers alike."""
    stored = STORED.get(kind, torch.float8_e4m3fn)
    out = {}
    for key, t in meta_model(kind).transformer.state_dict().items():
        if not t.is_floating_point():
            raise RuntimeError(f"{kind}: {key} is {t.dtype}; a stand-in needs a deliberate value for it")
        out[key] = torch.empty(t.shape, dtype=stored, device="meta")
    if kind == "umt5xxl":
        out["spiece_model"] = torch.empty(len(spiece_model()), dtype=torch.uint8, device="meta")
    if kind == "gemma3_12b":
        return gemma_layout(out)
    return out


def gemma_layout(fp8: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gemma-3-12B's {key: meta tensor} (all fp8) → Comfy-Org's mixed layout: `model.layers.*_proj.weight` fp8 with
    `weight_scale` () float32 and `comfy_quant` (len(FP8_QUANT_CONF),) uint8, the rest bf16, no vision tower, the
    tokenizer in `spiece_model`."""
    out = {}
    for key, t in fp8.items():
        if key.startswith(GEMMA_LEFT_OUT):
            continue
        if key.startswith("model.layers.") and key.endswith("_proj.weight") and t.ndim == 2:
            prefix = key[:-len("weight")]
            out[key] = t
            out[prefix + "weight_scale"] = torch.empty((), dtype=torch.float32, device="meta")
            out[prefix + "comfy_quant"] = torch.empty(len(FP8_QUANT_CONF), dtype=torch.uint8, device="meta")
        else:
            out[key] = torch.empty(t.shape, dtype=GEMMA_UNQUANTIZED, device="meta")
    out["spiece_model"] = torch.empty(len(gemma_tokenizer()), dtype=torch.uint8, device="meta")
    return out


def gemma_value(key: str, meta: torch.Tensor, seed: int) -> torch.Tensor:
    """value(), except where Gemma's file differs: its tokenizer, the quantization config bytes, and norms of 0
    (Gemma multiplies by 1 + weight)."""
    if key == "spiece_model":
        return torch.frombuffer(bytearray(gemma_tokenizer()), dtype=torch.uint8)
    if key.endswith(".comfy_quant"):
        return torch.frombuffer(bytearray(FP8_QUANT_CONF), dtype=torch.uint8)
    if key.endswith("norm.weight"):
        return torch.zeros(meta.shape, dtype=meta.dtype)
    return value(key, meta, seed)


@functools.lru_cache(maxsize=1)
def gemma_tokenizer() -> bytes:
    """ComfyUI's bundled SentencePiece model `t5_pile_tokenizer/tokenizer.model` (see the module docstring)."""
    import comfy.text_encoders.lt
    return (Path(comfy.text_encoders.lt.__file__).parent / "t5_pile_tokenizer" / "tokenizer.model").read_bytes()


def value(key: str, meta: torch.Tensor, seed: int) -> torch.Tensor:
    """The stored tensor of `key`: zeros for biases, ones for other vectors and for norm scales (`gamma`, also
    (C, 1, 1, 1)), normal(0, 1/fan_in) for the rest, in row blocks that are windows of value_pool; the tokenizer a
    file carries as itself."""
    if key == "spiece_model":
        return torch.frombuffer(bytearray(spiece_model()), dtype=torch.uint8)
    shape, leaf = tuple(meta.shape), key.rsplit(".", 1)[-1]
    if leaf in ("bias", "beta"):
        return torch.zeros(shape, dtype=meta.dtype)
    if len(shape) <= 1 or leaf == "gamma":
        return torch.ones(shape, dtype=meta.dtype)
    fan_in = math.prod(shape[1:])
    if fan_in > BLOCK_VALUES:
        raise ValueError(f"{key}: rows of {fan_in} values are longer than a pool window ({BLOCK_VALUES})")
    rows = BLOCK_VALUES // fan_in
    pool = value_pool(seed, fan_in, meta.dtype)
    blocks = []
    for r in range(0, shape[0], rows):
        n = min(rows, shape[0] - r) * fan_in
        start = int.from_bytes(hashlib.blake2b(f"{seed}:{key}#{r}".encode(), digest_size=8).digest(), "little")
        start %= POOL_VALUES
        blocks.append(pool[start:start + n])
    return torch.cat(blocks).view(shape)


@functools.lru_cache(maxsize=6)
def value_pool(seed: int, fan_in: int, dtype: torch.dtype) -> torch.Tensor:
    """(2 * POOL_VALUES,) normal(0, 1/fan_in) values in `dtype`, the pool twice over so that any window of at most
    POOL_VALUES values starting in its first half is one slice."""
    pool = (torch.randn(POOL_VALUES, generator=seeded_generator(seed, f"pool#{fan_in}")) / math.sqrt(fan_in))
    pool = pool.to(dtype)
    return torch.cat([pool, pool])


@functools.lru_cache(maxsize=1)
def spiece_model() -> bytes:
    """A small SentencePiece model (T5's special ids: pad 0, eos 1, unk 2) trained on a fixed text, deterministic:
    UMT5-XXL files carry their tokenizer as a `spiece_model` byte tensor, and ComfyUI reads it from there."""
    import io

    import sentencepiece

    words = ("a photograph of a landscape highly detailed blurry low quality watermark text the sound of rain "
             "thunder fire waves over sea city street at night forest birds singing abstract painting vivid colours "
             "flowing video cat dog abcdefghijklmnopqrstuvwxyz 0123456789 , . ! ? ' - ( ) :").split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8)) for i in range(400)]
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=256,
                                             model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                             num_threads=1, hard_vocab_limit=False, character_coverage=1.0,
                                             minloglevel=2)
    return out.getvalue()


def make_text_encoder(path, kind: str, seed: int = 0) -> Path:
    sd = layout(kind)
    make = gemma_value if kind == "gemma3_12b" else value
    return write_streamed(path, sd, lambda k: make(k, sd[k], seed),
                          {"clap2diffusion.standin": f"{kind} seed {seed}"})


def ensure_text_encoder(kind: str, cache_dir=None, seed: int = 0) -> Path:
    """Build (first call on a machine only) and return the stand-in file of `kind` (see the module's table)."""
    if kind not in ENCODERS:
        raise ValueError(f"no text-encoder stand-in {kind!r}; there are {sorted(ENCODERS)}")
    key = recipe_key({"kind": kind, "seed": seed, "class": ENCODERS[kind]}, sys.modules[__name__])
    return cached(f"c2d-standin-te-{kind}-seed{seed}", key, with_comfyui(make_text_encoder, kind, seed),
                  folder=cache_dir)
