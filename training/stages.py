"""Stages are data: a resolved `Stage` says which parameter groups train and at which learning rate;
the loop only reads it.

Parameter groups of the trainable set:
    projector   adapter.projector.*
    attention   adapter.blocks.<key>.{norm,attn}.*      (everything of a gated block but its gate)
    gates       adapter.blocks.<key>.gate                (α; tanh(α) scales the block's audio branch)
    null_tokens adapter.null_tokens                      (the learned "no audio" tokens for CFG)
    lora        the UNet LoRA (stage 2)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from c2d_core.adapter import AudioAdapter

from .config import PARAM_GROUPS, Config, StageConfig

NO_DECAY = ("gates", "null_tokens")


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    steps: int
    groups: tuple[str, ...]
    lr: dict                       # group → learning rate (only the groups that train)
    early_stopping: bool
    eval_every: int
    patience: int
    min_delta: float

    @classmethod
    def resolve(cls, index: int, name: str, st: StageConfig, base_lr: float) -> "Stage":
        lr = st.lr_mult * base_lr
        rates = {g: lr * (st.gate_lr_mult if g == "gates" else 1.0) for g in st.train}
        return cls(index=index, name=name, steps=st.steps, groups=tuple(st.train), lr=rates,
                   early_stopping=st.early_stopping, eval_every=st.eval_every, patience=st.patience,
                   min_delta=st.min_delta)


def resolve_stages(cfg: Config) -> list[Stage]:
    return [Stage.resolve(i, name, st, cfg.train.lr) for i, (name, st) in enumerate(cfg.stage_list())]


def param_groups(adapter: AudioAdapter, lora: nn.Module | None) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Every trainable parameter in exactly one group (names are for logs and tests)."""
    groups: dict[str, list] = {g: [] for g in PARAM_GROUPS}
    for name, p in adapter.named_parameters():
        if name.startswith("projector."):
            groups["projector"].append((name, p))
        elif name == "null_tokens":
            groups["null_tokens"].append((name, p))
        elif name.startswith("blocks.") and name.endswith(".gate"):
            groups["gates"].append((name, p))
        elif name.startswith("blocks."):
            groups["attention"].append((name, p))
        else:
            raise AssertionError(f"adapter parameter {name} belongs to no training group")
    if lora is not None:
        groups["lora"] = [(f"lora.{n}", p) for n, p in lora.named_parameters()]
    return groups


def apply_stage(stage: Stage, adapter: AudioAdapter, lora: nn.Module | None, weight_decay: float) -> list[dict]:
    """Freeze everything, unfreeze the stage's groups; return the optimizer's parameter groups."""
    groups = param_groups(adapter, lora)
    if "lora" in stage.groups and lora is None:
        raise ValueError(f"stage {stage.name} trains the LoRA but none was built")
    for items in groups.values():
        for _, p in items:
            p.requires_grad_(False)
    out = []
    for g in stage.groups:
        params = [p for _, p in groups[g]]
        for p in params:
            p.requires_grad_(True)
        if params:
            out.append({"params": params, "lr": stage.lr[g], "name": g,
                        "weight_decay": 0.0 if g in NO_DECAY else weight_decay})
    if not out:
        raise ValueError(f"stage {stage.name} has nothing to train (groups {list(stage.groups)})")
    return out


def lr_lambda(step: int, total: int, warmup: int, schedule: str, min_ratio: float) -> float:
    """Multiplier of the learning rate at optimizer step `step` (0-based) of a stage of `total` steps."""
    warmup = min(warmup, max(total - 1, 0))
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup + 1:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup - 1))
    if schedule == "linear":
        return 1.0 - (1.0 - min_ratio) * progress
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(groups: list[dict], stage: Stage, cfg: Config):
    # fused: one kernel for all parameters (CPU and CUDA); the adapter's many small tensors made the
    # per-tensor loop a visible share of a stage-1 step
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, fused=True)
    t = cfg.train
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_lambda(s, stage.steps, t.warmup_steps, t.schedule, t.min_lr_ratio))
    return opt, sched
