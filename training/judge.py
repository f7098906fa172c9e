"""An independent judge of sound → image: ImageBind audio × CLIP ViT-H/14 image embeddings.

CLAP must not judge routes that CLAP drives, and Wav2CLIP (SonicDiffusion's judge) lives in ViT-B/32's space. ImageBind
trained its audio tower onto frozen OpenCLIP ViT-H/14 image embeddings, so the cosine s(x, a) between an image's
ViT-H embedding (the user's clip_vision file, read by ComfyUI's own CLIP vision loader) and a clip's ImageBind
embedding says how well the picture fits the sound, for every route on one table: our adapters, SonicDiffusion,
unCLIP, IP-Adapter, sound tags.

AIS follows SonicDiffusion's ranking definition (their `evaluation.py`): for N images x_i with their own clips a_i
and a reference set R of M clips,
    AIS = (1/N) Σ_i (1/M) Σ_{r ∈ R} 1[ s(x_i, a_i) > s(x_i, r) ]
with R = every clip of the evaluated set (theirs: a cached set of the dataset's audios); the own clip is in R and,
the test being strict, counts as a loss, so a perfect judge scores (M − 1) / M and chance is about 1/2. Also given:
the mean matched cosine and the mean cosine to the other clips.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from c2d_core.image_space import image_space_of

from .metrics import MetricModelError


def ais_ranking(audio: torch.Tensor, images: torch.Tensor) -> float:
    """audio, images: (N, D) embeddings of matching pairs (row i ↔ row i) → SonicDiffusion's AIS in [0, 1]."""
    if audio.shape != images.shape or audio.ndim != 2 or len(audio) < 2:
        raise MetricModelError(f"AIS needs N ≥ 2 matching (audio, image) rows of one width; got {tuple(audio.shape)} "
                               f"and {tuple(images.shape)}")
    s = F.normalize(images.float(), dim=-1) @ F.normalize(audio.float(), dim=-1).T   # (N images, M = N clips)
    own = s.diagonal()[:, None]                                                      # (N, 1)
    return float((own > s).float().mean(dim=1).mean())


class ImageBindJudge:
    """ImageBind's audio tower + a CLIP ViT-H/14 vision model (ComfyUI's loader), both on the CPU by default."""

    def __init__(self, audio_encoder, clip_vision):
        self.audio_encoder, self.clip_vision = audio_encoder, clip_vision

    @classmethod
    def from_paths(cls, imagebind, clip_vision) -> "ImageBindJudge":
        from c2d_core.encoder_registry import load_audio_encoder

        from .host import import_comfy

        encoder = load_audio_encoder(imagebind)
        if image_space_of(encoder.model_id) is None:
            raise MetricModelError(f"the judge's audio encoder must be ImageBind (imagebind_huge.pth); {Path(imagebind).name}"
                                   f" is {encoder.family} {encoder.model_id}, whose embeddings are not in ViT-H's space")
        import_comfy()
        import comfy.clip_vision

        path = Path(clip_vision)
        if not path.is_file():
            raise MetricModelError(f"CLIP vision file not found: {path}; give the ViT-H/14 image encoder IP-Adapter "
                                   "users have (CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors in models/clip_vision/)")
        try:
            vision = comfy.clip_vision.load(str(path))
        except Exception as e:  # safetensors / torch.load errors of a truncated or foreign file
            raise MetricModelError(f"{path.name} is not a readable CLIP vision file ({type(e).__name__}: "
                                   f"{str(e)[:160]}); download it again") from None
        if vision is None or getattr(vision, "model_type", "clip_vision_model") != "clip_vision_model":
            raise MetricModelError(f"{path.name} is not a CLIP vision model ComfyUI knows; give the ViT-H/14 image "
                                   "encoder (CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors)")
        judge = cls(encoder, vision)
        width = judge.images(torch.zeros(1, 32, 32, 3)).shape[-1]
        if width != 1024:
            raise MetricModelError(f"{path.name} is not CLIP ViT-H/14 (image embeddings {width}-d, not 1024): ImageBind "
                                   "lives in OpenCLIP ViT-H/14's space; give CLIP-ViT-H-14-laion2B-s32B-b79K")
        return judge

    @torch.no_grad()
    def audio(self, clips: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """[(waveform (C, T), rate)] → (N, 1024) unit ImageBind embeddings."""
        return torch.cat([self.audio_encoder.encode(wave, rate) for wave, rate in clips])

    @torch.no_grad()
    def images(self, images: torch.Tensor, batch: int = 8) -> torch.Tensor:
        """images (N, H, W, 3) in [0, 1] → (N, D) unit image embeddings (ComfyUI's preprocessing: resize, centre crop)."""
        out = [self.clip_vision.encode_image(images[i:i + batch].float(), crop=True)["image_embeds"].float().cpu()
               for i in range(0, len(images), batch)]
        return F.normalize(torch.cat(out), dim=-1)

    def scores(self, clips: list[tuple[torch.Tensor, int]], images: torch.Tensor) -> dict:
        audio, vision = self.audio(clips), self.images(images)
        s = vision @ audio.T                                                              # (N, N)
        n = len(s)
        off = (s.sum() - s.diagonal().sum()) / max(n * n - n, 1)
        return {"AIS_imagebind": ais_ranking(audio, vision), "AIS_imagebind_perfect": (n - 1) / n,
                "cosine_matched": float(s.diagonal().mean()), "cosine_others": float(off), "pairs": n}


def score_folder(source, imagebind, clip_vision, max_audio_seconds: float = 30.0, resolution: int = 224) -> dict:
    """A folder (or manifest) of (audio, image) pairs, matched as `prepare` matches them → the judge's scores."""
    from .data import discover, load_audio, load_image

    samples, unpaired = discover(source)
    if len(samples) < 2:
        raise MetricModelError(f"{source} holds {len(samples)} (audio, image) pair(s); the score needs at least 2 "
                               "(files are paired by name: rain.wav + rain.png)")
    judge = ImageBindJudge.from_paths(imagebind, clip_vision)
    clips = [load_audio(s.audio, max_audio_seconds) for s in samples]
    images = torch.stack([load_image(s.image, resolution) for s in samples])
    result = judge.scores(clips, images)
    if unpaired:
        result["not_paired"] = dict(unpaired)
    return result
