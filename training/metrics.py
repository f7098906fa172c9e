"""The metrics the audio→image papers report, from feature networks given as local files.

SonicDiffusion / AudioToken protocol, on images generated from held-out audio:
    AIS  audio-image similarity: cosine between the Wav2CLIP embedding of the clip and the CLIP image
         embedding of the generated image (Wav2CLIP lives in CLIP ViT-B/32's space)
    IIS  image-image similarity: cosine between the CLIP embeddings of the generated and the real image
    AIC  audio-image content: zero-shot CLIP classification of the generated image among the class
         prompts ("a photo of {label}"), accuracy against the clip's label
    FID  Fréchet distance between real and generated images (torchmetrics' FrechetInceptionDistance
         with the standard FID Inception weights from a local file, or any feature module in tests)

Weights are never downloaded: CLIP is a transformers folder (`openai/clip-vit-base-patch32` as saved
by `save_pretrained`), Wav2CLIP the release's `Wav2CLIP.pt` (loaded with the `wav2clip` package), FID
the torch-fidelity Inception file `pt_inception-2015-12-05-6726825d.pth`.

Images are (N, H, W, 3) float32 in [0, 1] (ComfyUI's IMAGE layout) throughout.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from c2d_core.errors import C2DError

log = logging.getLogger(__name__)

WAV2CLIP_RATE = 16_000


class MetricModelError(C2DError):
    """A feature network for a metric is missing, unreadable or does not fit."""


def _need(path: str | Path, what: str, option: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise MetricModelError(f"{option}: {p} does not exist; give the local {what}")
    return p


def _pooled(out) -> torch.Tensor:
    """transformers ≥ 5 returns a ModelOutput from get_*_features, 4.x a tensor."""
    return out if torch.is_tensor(out) else out.pooler_output


class ClipScorer:
    """CLIP image and text embeddings (L2-normalised) from a local transformers CLIP folder."""

    def __init__(self, model, processor, name: str):
        self.model, self.processor, self.name = model.eval(), processor, name

    @classmethod
    def from_path(cls, path: str | Path) -> "ClipScorer":
        from transformers import CLIPModel, CLIPProcessor

        p = _need(path, "CLIP model folder (transformers format: config.json, weights, tokenizer)", "eval.clip")
        try:
            model = CLIPModel.from_pretrained(str(p), local_files_only=True)
            processor = CLIPProcessor.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError) as e:
            raise MetricModelError(f"eval.clip: {p} is not a transformers CLIP folder: {e}") from None
        return cls(model, processor, p.name)

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @torch.no_grad()
    def images(self, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """images (N, H, W, 3) in [0, 1] → (N, dim)."""
        out = []
        for i in range(0, len(images), batch):
            chunk = [(img.clamp(0, 1) * 255).round().byte().numpy() for img in images[i:i + batch]]
            pixels = self.processor(images=chunk, return_tensors="pt")["pixel_values"]
            out.append(_pooled(self.model.get_image_features(pixel_values=pixels)).float())
        return F.normalize(torch.cat(out), dim=-1)

    @torch.no_grad()
    def texts(self, texts: list[str]) -> torch.Tensor:
        """N prompts → (N, dim)."""
        tok = self.processor(text=texts, return_tensors="pt", padding=True, truncation=True)
        feats = self.model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return F.normalize(_pooled(feats).float(), dim=-1)


class Wav2ClipEncoder:
    """Wav2CLIP audio embeddings (L2-normalised) from the release checkpoint file."""

    def __init__(self, model):
        self.model = model.eval()

    @classmethod
    def from_path(cls, path: str | Path) -> "Wav2ClipEncoder":
        from c2d_core.torch_files import read_checkpoint

        p = _need(path, "Wav2CLIP checkpoint (Wav2CLIP.pt of the wav2clip release)", "eval.wav2clip")
        state = read_checkpoint(p, what="a Wav2CLIP checkpoint", error=MetricModelError,
                                unsafe_advice="Give the Wav2CLIP.pt release file, or re-save its state_dict")
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict) or not any(k.startswith("audio_encoder.") for k in state):
            raise MetricModelError(f"eval.wav2clip: {p.name} holds no audio_encoder.* weights; give the Wav2CLIP.pt "
                                   "release checkpoint")
        try:
            from wav2clip.model.encoder import ResNetExtractor
        except ImportError as e:
            raise MetricModelError(f"AIS needs the wav2clip package (pip install wav2clip): {e}") from None
        try:
            model = ResNetExtractor(checkpoint=state, scenario="frozen", transform=True)
        except RuntimeError as e:
            raise MetricModelError(f"eval.wav2clip: {p.name} does not fit Wav2CLIP's ResNet: {e}") from None
        return cls(model)

    @property
    def dim(self) -> int:
        return int(self.model.transform.sequential[-1].out_features)

    @torch.no_grad()
    def encode(self, clips: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """[(waveform (C, T), rate)] → (N, dim): each clip mixed to mono and resampled to 16 kHz."""
        import torchaudio.functional as AF

        out = []
        for wav, rate in clips:
            mono = wav.float().mean(0) if wav.ndim == 2 else wav.float()
            if rate != WAV2CLIP_RATE:
                mono = AF.resample(mono, rate, WAV2CLIP_RATE)
            out.append(self.model(mono[None]).float())
        return F.normalize(torch.cat(out), dim=-1)


def ais(audio_embeds: torch.Tensor, image_embeds: torch.Tensor) -> float:
    """Mean cosine of each clip's Wav2CLIP embedding with its generated image's CLIP embedding."""
    if audio_embeds.shape != image_embeds.shape:
        raise MetricModelError(f"AIS: Wav2CLIP embeddings {tuple(audio_embeds.shape)} and CLIP image embeddings "
                               f"{tuple(image_embeds.shape)} differ; Wav2CLIP is trained against CLIP ViT-B/32 "
                               "(512-d): give that CLIP model in eval.clip")
    return float((audio_embeds * image_embeds).sum(-1).mean())


def iis(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Mean cosine between the CLIP embeddings of each generated image and its real image."""
    return float((generated * real).sum(-1).mean())


def aic(image_embeds: torch.Tensor, class_embeds: torch.Tensor, labels: torch.Tensor) -> float:
    """Zero-shot accuracy: the class prompt nearest each generated image is the clip's label."""
    return float(((image_embeds @ class_embeds.T).argmax(1) == labels).float().mean())


def fid(real: torch.Tensor, generated: torch.Tensor, *, weights: str | Path = "",
        feature: torch.nn.Module | None = None, batch: int = 16) -> float:
    """FID with torchmetrics: the FID Inception from `weights` (a local file), or a `feature` module
    (N, 3, H, W) uint8 → (N, F) (tests). Images (N, H, W, 3) in [0, 1]."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError as e:
        raise MetricModelError(f"FID needs torchmetrics and torch-fidelity (pip install torchmetrics torch-fidelity): "
                               f"{e}") from None
    if feature is None:
        p = _need(weights, "FID Inception weights (pt_inception-2015-12-05-6726825d.pth)", "eval.fid_weights")
        metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(p))
    else:
        metric = FrechetInceptionDistance(feature=feature)
    if min(len(real), len(generated)) < 2:
        raise MetricModelError("FID needs at least 2 real and 2 generated images")
    for imgs, is_real in ((real, True), (generated, False)):
        for i in range(0, len(imgs), batch):
            u8 = (imgs[i:i + batch].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 3, 1, 2).contiguous()
            metric.update(u8, real=is_real)
    return float(metric.compute())
