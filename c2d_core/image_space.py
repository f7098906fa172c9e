"""Audio embeddings that live in a CLIP image space → image embeddings for unCLIP and IP-Adapter (zero-shot).

ImageBind trained its audio tower to land on frozen OpenCLIP ViT-H/14 image embeddings, so an ImageBind audio
embedding can stand in for the `image_embeds` of the CLIP vision model that SD 2.1 unCLIP-H and the ViT-H
IP-Adapters were trained on. Only the direction is meaningful (ImageBind's head normalises and multiplies by a
fixed 20), so the rows are normalised and given a scale:

  image_embeds = scale · e / ‖e‖,   e: (N, 1024) audio embeddings (one per clip, frame or blend)

Default scale 20: ImageBind's own output for audio (its fixed ×20 head), which is what Anything2Image
(Zeqiang-Lai/Anything2Image, `audio2img.py`) feeds SD 2.1 unCLIP as `image_embeds` with no further scaling.
IP-Adapter's image projection ends in a LayerNorm, so there the scale matters much less than in unCLIP.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import AdapterMismatchError
from .imagebind.tower import IMAGEBIND_HUGE

DEFAULT_SCALE = 20.0
# encoder model_id → (the image space its audio embeddings land in, its width)
IMAGE_SPACES = {IMAGEBIND_HUGE.name: ("OpenCLIP ViT-H/14 image embeddings", IMAGEBIND_HUGE.out_embed_dim)}


def image_space_of(model_id: str) -> str | None:
    """The CLIP image space an encoder's audio embeddings live in, or None (CLAP: a text–audio space)."""
    space = IMAGE_SPACES.get(model_id)
    return space[0] if space else None


def image_embeds(embeds: torch.Tensor, model_id: str, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """embeds: (N, D) audio embeddings from encoder `model_id` → (N, D) float32 image embeddings (scale · unit rows).

    Raises AdapterMismatchError for embeddings of an encoder outside a CLIP image space or of another width."""
    if model_id not in IMAGE_SPACES:
        known = ", ".join(sorted(IMAGE_SPACES))
        raise AdapterMismatchError(
            f"these audio embeddings were made by {model_id!r} ({embeds.shape[-1]}-d), which does not live in a CLIP "
            f"image space, so unCLIP and IP-Adapter cannot read them: load ImageBind ({known}, imagebind_huge.pth) "
            "with Load CLAP Model and encode the audio with it")
    space, width = IMAGE_SPACES[model_id]
    if embeds.ndim != 2 or embeds.shape[-1] != width:
        raise AdapterMismatchError(f"{space} are {width}-d, but these embeddings have shape {tuple(embeds.shape)}; "
                                   f"encode the audio with {model_id} (not a CLAP of another width)")
    if not torch.isfinite(embeds).all() or (embeds.norm(dim=-1) == 0).any():
        raise AdapterMismatchError("an audio embedding is zero or not finite, so it has no direction; check the "
                                   "blend weights or the audio")
    return F.normalize(embeds.float(), dim=-1) * float(scale)
