"""Stage-2 LoRA on the UNet's attention linears, saved in a key format ComfyUI's LoRA loader maps.

Training adds (alpha / rank) · up(down(x)) to the output of each target linear through a forward
hook (the UNet's modules and state-dict keys stay untouched). Export keys (`export.lora_to_comfy`, the
one mapping) are ComfyUI's generic LoRA format: `diffusion_model.<module path>.lora_down.weight`, `.lora_up.weight`, `.alpha`;
`comfy.lora.model_lora_keys_unet(model)` maps `diffusion_model.<module path>` to the weight, and
merging W + (alpha/rank)·up@down there is what the hook computes.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PREFIX = "diffusion_model."


class LoraLayer(nn.Module):
    """down: (rank, in_features), up: (out_features, rank) zero-initialised (starts as the identity change)."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float, generator: torch.Generator):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.down = nn.Parameter((torch.rand(rank, in_features, generator=generator) * 2 - 1) * bound)
        self.up = nn.Parameter(torch.zeros(out_features, rank))
        self.scale = alpha / rank
        self.alpha = alpha

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in) → (..., out)."""
        return F.linear(F.linear(x, self.down.to(x.dtype)), self.up.to(x.dtype)) * self.scale


def lora_targets(configured: tuple[str, ...], layout) -> tuple[str, ...]:
    """The linears to adapt: `lora.targets` as configured, except that its UNet default on a DiT family means the
    family's own default (c2d_core.families.DiTLayout.lora_targets: Flux's img/txt attention and single-block
    linears, …)."""
    from .config import DEFAULT_LORA_TARGETS

    if tuple(configured) == DEFAULT_LORA_TARGETS and getattr(layout, "lora_targets", ()):
        return layout.lora_targets
    return tuple(configured)


def find_targets(unet: nn.Module, targets: tuple[str, ...]) -> list[str]:
    """Module paths (inside the UNet) of the linears whose path ends with one of `targets`."""
    found = []
    for name, module in unet.named_modules():
        if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            found.append(name)
    return found


class UNetLora(nn.Module):
    """The LoRA layers for one UNet; `attach(unet)` hooks them in, `detach()` removes the hooks."""

    def __init__(self, unet: nn.Module, *, rank: int, alpha: float, targets: tuple[str, ...], seed: int = 0):
        super().__init__()
        self.paths = find_targets(unet, targets)
        if not self.paths:
            raise ValueError(f"lora.targets {list(targets)} match no linear layer of the UNet; use suffixes such as "
                             "attn2.to_k (see lora.targets' default)")
        g = torch.Generator().manual_seed(seed + 7919)
        modules = dict(unet.named_modules())
        self.layers = nn.ModuleDict({
            p.replace(".", "__"): LoraLayer(modules[p].in_features, modules[p].out_features, rank, alpha, g)
            for p in self.paths})
        self.rank, self.alpha = rank, alpha
        self._hooks: list = []

    def layer(self, path: str) -> LoraLayer:
        return self.layers[path.replace(".", "__")]

    def attach(self, unet: nn.Module) -> "UNetLora":
        self.detach()
        modules = dict(unet.named_modules())
        for p in self.paths:
            lora = self.layer(p)
            self._hooks.append(modules[p].register_forward_hook(
                lambda mod, args, out, lora=lora: out + lora.delta(args[0]).to(out.dtype)))
        return self

    def detach(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
