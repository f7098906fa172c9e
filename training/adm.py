"""SDXL's ADM conditioning `y` for the training forward, made by ComfyUI's own `model_base.SDXL.encode_adm`.

SDXL's UNet takes, beside the (B, 77, 2048) text context, a (B, 2816) vector `y`: the pooled text embedding
(1280, CLIP-G's projected end token) followed by six 256-wide sinusoidal embeddings of the image geometry
(SDXL "micro-conditioning"). Per sample the trainer keeps the geometry as six integers, in ComfyUI's names and
encode_adm's order:

    SIZE_FIELDS = (height, width, crop_h, crop_w, target_height, target_width)
    height, width:               the image's size before it was resized (SDXL's original_size)
    crop_h, crop_w:              top / left offset of the crop in the resized image (crop_coords_top_left)
    target_height, target_width: the training resolution (target_size)

With these, `adm_vector` is exactly what ComfyUI's sampler gives the UNet for a conditioning made by
CLIPTextEncodeSDXL with the same values (and, with original = target = latent size × 8 and crop 0, what it
gives for a plain CLIPTextEncode conditioning, whose pooled_output it carries).
"""
from __future__ import annotations

import torch

from .cache import CacheError
from .model_kind import is_dit, reads_pooled

SIZE_FIELDS = ("height", "width", "crop_h", "crop_w", "target_height", "target_width")
SIZE_EMBED = 256          # width of each of the six embeddings (model_base.SDXL's Timestep(256))


def uses_adm(base_model) -> bool:
    """Whether the UNet needs `y` (SDXL: adm_channels 2816; SD1.5: 0; DiTs make theirs in extra_conds)."""
    return not is_dit(base_model) and int(getattr(base_model, "adm_channels", 0) or 0) > 0


def pooled_width(base_model) -> int:
    """Width of the pooled text embedding the model's ADM vector starts with (SDXL: 2816 − 6·256 = 1280)."""
    return int(base_model.adm_channels) - len(SIZE_FIELDS) * SIZE_EMBED


def default_sizes(latent_hw: tuple[int, int], n: int, factor: int = 8) -> torch.Tensor:
    """(n, 6) geometry of uncropped images at the latent's pixel size: ComfyUI's sampler default (latent × 8)."""
    h, w = (int(v) * factor for v in latent_hw)
    return torch.tensor([[h, w, 0, 0, h, w]] * n, dtype=torch.int64)


def adm_vector(base_model, pooled: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """(B, adm_channels) `y` of each sample. pooled: (B, P) pooled text embeddings; sizes: (B, 6) in SIZE_FIELDS
    order. ComfyUI's encode_adm takes one geometry per call, so rows are grouped by geometry."""
    if pooled.shape[0] != sizes.shape[0]:
        raise ValueError(f"adm_vector: {pooled.shape[0]} pooled rows but {sizes.shape[0]} geometry rows")
    out = torch.empty(pooled.shape[0], int(base_model.adm_channels), dtype=torch.float32, device=pooled.device)
    keys = [tuple(int(v) for v in row) for row in sizes.tolist()]
    for key in dict.fromkeys(keys):
        rows = torch.tensor([i for i, k in enumerate(keys) if k == key], device=pooled.device)
        y = base_model.encode_adm(pooled_output=pooled[rows].float(), **dict(zip(SIZE_FIELDS, key)))
        out[rows] = y.to(out.device, torch.float32)
    return out


def batch_with_geometry(b: dict) -> dict:
    """A cache batch for an ADM model: `size` (B, 6) added when the cache has none (the latent's pixel size,
    uncropped, as ComfyUI's sampler assumes)."""
    if "size" not in b:
        b["size"] = default_sizes(tuple(b["latent"].shape[2:]), b["latent"].shape[0]).to(b["latent"].device)
    return b


def adm_inputs(b: dict, null_pooled: torch.Tensor) -> dict:
    """diffusion_loss's SDXL keyword arguments for batch b: pooled (B, P), null_pooled (P,), sizes (B, 6)."""
    return {"pooled": b["pooled"], "null_pooled": null_pooled, "sizes": b["size"]}


def pooled_inputs(base_model, b: dict, null_pooled: torch.Tensor | None) -> dict:
    """diffusion_loss's keyword arguments beyond the text tokens for batch b, the one place that decides them:
    SDXL's pooled vectors and geometry (adm_inputs), a DiT's pooled vectors (Flux, SD3), or none."""
    if uses_adm(base_model):
        return adm_inputs(b, null_pooled)
    if reads_pooled(base_model):
        return {"pooled": b["pooled"], "null_pooled": null_pooled}
    return {}


def check_cache_fits(base_model, cache) -> None:
    """An ADM model (SDXL) needs the pooled text embeddings of every sample and of the empty caption; so does a DiT
    that reads a pooled vector (Flux, SD3)."""
    if reads_pooled(base_model) and (cache.pooled_dim is None or cache.null_pooled is None):
        raise CacheError("the model reads a pooled text vector beside the text tokens (Flux.1, SD3) but the cache "
                         "holds none: it was prepared for another family; run prepare again with this model in "
                         "model.checkpoint (and a new data.cache)")
    if not uses_adm(base_model):
        return
    want = pooled_width(base_model)
    if cache.pooled_dim is None or cache.null_pooled is None:
        raise CacheError("the model is SDXL-type (it takes pooled text + size conditioning) but the cache holds no "
                         "pooled text embeddings: it was prepared for SD1.5; run prepare again with the SDXL "
                         "checkpoint in model.checkpoint (and a new data.cache)")
    got = int(cache.pooled_dim)
    if got != want or int(cache.null_pooled.shape[-1]) != want:
        raise CacheError(f"the cache's pooled text embeddings are {got}-d but the model's ADM conditioning needs "
                         f"{want}-d: the cache was prepared with another checkpoint; prepare again with this one")
