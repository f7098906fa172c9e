"""Layers that run in the activations' dtype/device whatever their weights are stored in.

The same idea as ComfyUI's `comfy.ops.manual_cast`: fp32/bf16 adapter weights work under fp16
activations, and weights may live on the offload device until the host moves them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _cast(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    if t is None:
        return None
    return t.to(device=like.device, dtype=like.dtype)


class CastLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, _cast(self.weight, x), _cast(self.bias, x))


class CastLayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.normalized_shape, _cast(self.weight, x), _cast(self.bias, x), self.eps)
