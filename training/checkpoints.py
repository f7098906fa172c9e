"""Resumable checkpoints: atomic, pruned to the last N, separate from the exported adapter.

    <run>/checkpoints/step_00001200/
        trainable.safetensors   adapter.* and lora.* weights (fp32)
        optimizer.pt            optimizer + LR scheduler state of the current stage
        state.json              step, stage, stage step, early-stopping state, run config
        best.safetensors        best weights so far of an early-stopping stage (when there is one)
        rng_rank<r>.pt          torch / python RNG states of each process
        COMPLETE                written last

A checkpoint is assembled in `checkpoints/.tmp-*` (every file fsynced, `COMPLETE` last) and renamed
into place in one `os.replace`, so a run killed at any moment leaves either a complete checkpoint or
an ignored temp folder. Old checkpoints are renamed out of the `step_*` namespace before they are
deleted, so a half-deleted one is never listed either.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from c2d_core.errors import C2DError

log = logging.getLogger(__name__)

NAME = re.compile(r"^step_(\d{8})$")
MARKER = "COMPLETE"


class CheckpointError(C2DError):
    """No usable checkpoint where one was asked for."""


@dataclass
class TrainState:
    """Where the run is. `stage_step` optimizer steps of stage `stage` are done; `stage_done` means the
    stage finished (all steps, or stopped early) and the next one starts fresh."""

    step: int = 0
    stage: int = 0
    stage_step: int = 0
    stage_done: bool = False
    best_val: float | None = None
    bad_evals: int = 0
    history: list = field(default_factory=list)   # [(step, stage name, val loss)] of early-stopping evaluations


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temp folders and folders without the marker are ignored)."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and NAME.match(p.name) and (p / MARKER).is_file()]
    return sorted(found, key=lambda p: int(NAME.match(p.name).group(1)))


def resolve_resume(run_dir: Path, resume: str) -> Path | None:
    """"latest" → newest complete checkpoint (None if the run has none yet); a path → that checkpoint."""
    if not resume:
        return None
    if resume == "latest":
        found = list_checkpoints(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / MARKER).is_file():
        raise CheckpointError(f"--resume {resume}: not a complete checkpoint folder (no {MARKER} file); use "
                              "--resume latest or a folder from <run_dir>/checkpoints/")
    return path


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _torch_save(obj, path: Path) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save

    _write_synced(path, save({k: v.detach().float().cpu().contiguous() for k, v in tensors.items()}))


def _remove(path: Path) -> None:
    """Delete a checkpoint folder: first renamed out of the `step_*` names (atomic), then removed."""
    trash = path.parent / f".tmp-del-{path.name}"
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


class Checkpointer:
    """Writes and reads the run's checkpoints. With several processes, `save` must be called by all of
    them (`barrier` is accelerate's wait_for_everyone); only the main process writes shared files."""

    def __init__(self, run_dir: Path, keep: int, *, is_main: bool = True, rank: int = 0, barrier=lambda: None):
        self.root = checkpoint_dir(run_dir)
        self.keep, self.is_main, self.rank, self.barrier = keep, is_main, rank, barrier
        if is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            for old in self.root.glob(".old-step_*"):   # killed while replacing a checkpoint of the same step
                name = old.name[len(".old-"):]
                if not (self.root / name / MARKER).is_file() and (old / MARKER).is_file():
                    shutil.rmtree(self.root / name, ignore_errors=True)
                    os.replace(old, self.root / name)
                else:
                    shutil.rmtree(old, ignore_errors=True)
            for p in self.root.glob(".tmp-*"):   # left by a killed run: never a valid checkpoint
                shutil.rmtree(p, ignore_errors=True)
        barrier()

    def save(self, state: TrainState, trainable: dict[str, torch.Tensor], optimizer, scheduler,
             config: dict, best: dict[str, torch.Tensor] | None = None) -> Path:
        name = f"step_{state.step:08d}"
        tmp = self.root / f".tmp-{name}"
        final = self.root / name
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.barrier()
        _torch_save(rng_state(), tmp / f"rng_rank{self.rank}.pt")
        self.barrier()
        if self.is_main:
            _save_tensors(trainable, tmp / "trainable.safetensors")
            if best:
                _save_tensors(best, tmp / "best.safetensors")
            _torch_save({"optimizer": optimizer.state_dict() if optimizer else None,
                         "scheduler": scheduler.state_dict() if scheduler else None}, tmp / "optimizer.pt")
            _write_synced(tmp / "state.json", json.dumps({"state": asdict(state), "config": config}, indent=1).encode())
            _write_synced(tmp / MARKER, b"ok\n")
            _fsync_dir(tmp)
            if final.exists():   # the same step saved again after a resume: swap (recovered in __init__ if killed)
                old = self.root / f".old-{name}"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            _fsync_dir(self.root)
            self.prune()
        self.barrier()
        return final

    def prune(self) -> None:
        for old in list_checkpoints(self.root.parent)[:-self.keep]:
            _remove(old)


def load_latest(run_dir: Path, rank: int = 0) -> "Loaded | None":
    """The newest complete checkpoint that loads; an unreadable one (e.g. a full disk) is reported and the
    one before it is tried. None when the run has no checkpoint yet."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return load_checkpoint(path, rank)
        except Exception as e:  # safetensors / torch.load / json each raise their own types
            log.warning("checkpoint %s cannot be read (%s: %s); trying the one before it", path, type(e).__name__, e)
    return None


@dataclass
class Loaded:
    path: Path
    state: TrainState
    trainable: dict
    optimizer: dict | None
    scheduler: dict | None
    config: dict
    best: dict | None
    rng: dict | None


def load_checkpoint(path: Path, rank: int = 0) -> Loaded:
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / MARKER).is_file():
        raise CheckpointError(f"{path} is not a complete checkpoint")
    meta = json.loads((path / "state.json").read_text())
    opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    rng_path = path / f"rng_rank{rank}.pt"
    rng = torch.load(rng_path, map_location="cpu", weights_only=False) if rng_path.is_file() else None
    best = load_file(str(path / "best.safetensors")) if (path / "best.safetensors").is_file() else None
    return Loaded(path=path, state=TrainState(**meta["state"]), trainable=load_file(str(path / "trainable.safetensors")),
                  optimizer=opt["optimizer"], scheduler=opt["scheduler"], config=meta["config"], best=best, rng=rng)
