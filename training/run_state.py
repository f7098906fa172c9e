"""What a training run holds while it runs and what it returns: the live objects of the stage being trained, the
result of `train`, and the process-wide accelerate state a new Trainer starts from."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from .stages import Stage


@dataclass
class StageRun:
    """The live objects of the stage being trained."""

    stage: Stage
    model: nn.Module            # StageModule, wrapped by accelerate (DDP with several processes)
    optimizer: object
    scheduler: object
    params: list
    best: dict | None = None    # best weights so far (early stopping)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    adapter_path: Path | None
    val_loss: float | None
    stages: list


def fresh_accelerate_state(mixed_precision: str) -> None:
    """accelerate keeps one process-wide state; a second Trainer in the same single process (tests,
    the benchmark's ablations) with another precision would be refused. Distributed runs keep theirs."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    if PartialState._shared_state and PartialState().num_processes > 1:
        return
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision:
        AcceleratorState._reset_state()
        GradientState._reset_state()
