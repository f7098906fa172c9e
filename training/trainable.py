"""What the optimizer trains: the adapter (+ stage-2 LoRA) beside the frozen base, and the per-stage wrapper
accelerate / DDP sees."""
from __future__ import annotations

import torch
import torch.nn as nn

from .lora import UNetLora
from .model import Base
from .objective import Noise, diffusion_loss


class Trainable(nn.Module):
    """The trained weights: the adapter and the UNet LoRA. The frozen base is held outside the module
    tree (not saved, not wrapped by DDP, not seen by the optimizer)."""

    def __init__(self, adapter: nn.Module, lora: UNetLora | None, base: Base):
        super().__init__()
        self.adapter = adapter
        self.lora = lora
        self._base = (base,)
        self.snr_gamma = 0.0

    @property
    def base(self) -> Base:
        return self._base[0]

    def loss(self, latent, text, null_text, clap, noise, t, null_audio, null_text_rows, pooled=None, null_pooled=None,
             sizes=None, text_len=None) -> torch.Tensor:
        """objective.diffusion_loss; pooled / null_pooled / sizes only for SDXL-type (ADM) models; text_len where
        the batch's captions differ in length."""
        rnd = Noise(noise=noise, t=t, null_audio=null_audio, null_text=null_text_rows)
        return diffusion_loss(self.base.model, self.adapter, latent, text, null_text, clap, rnd, self.snr_gamma,
                              pooled=pooled, null_pooled=null_pooled, sizes=sizes, context_len=text_len)


class StageModule(nn.Module):
    """A fresh wrapper per stage for accelerate/DDP (DDP fixes the trained parameter set when it wraps)."""

    def __init__(self, trainable: Trainable):
        super().__init__()
        self.trainable = trainable

    def forward(self, *args):
        return self.trainable.loss(*args)
