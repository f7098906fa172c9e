"""Run logs: a CSV (always), TensorBoard (when installed) and a loss-curve PNG per run."""
from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path

from .cache import atomic_write_bytes

log = logging.getLogger(__name__)

COLUMNS = ("step", "stage", "stage_step", "loss", "val_loss", "lr", "grad_norm", "gate_mean", "gate_max",
           "samples_per_s", "elapsed_s")


class RunLog:
    """Appends rows to <run>/logs/train.csv. On resume, rows after the resumed step are dropped first
    (a killed run may have logged steps it had not checkpointed)."""

    def __init__(self, run_dir: Path, *, resume_step: int | None, tensorboard: bool):
        self.dir = Path(run_dir) / "logs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "train.csv"
        rows = self.read(self.path) if (self.path.is_file() and resume_step is not None) else []
        rows = [r for r in rows if int(r["step"]) <= (resume_step or 0)]
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(self.path, text.getvalue().encode())   # a kill here keeps the old log whole
        self._file = open(self.path, "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=resume_step)
            except ImportError:  # tensorboard not installed: CSV only
                log.debug("tensorboard is not installed; logging to CSV only")

    @staticmethod
    def read(path: Path) -> list[dict]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def row(self, **values) -> None:
        self._csv.writerow({k: ("" if values.get(k) is None else values[k]) for k in COLUMNS})
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._tb is not None:
            step = values["step"]
            for k in ("loss", "val_loss", "lr", "grad_norm", "gate_mean", "samples_per_s"):
                if values.get(k) not in (None, ""):
                    self._tb.add_scalar(f"train/{k}", float(values[k]), step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def plot_loss(csv_path: Path, png_path: Path, title: str = "") -> Path | None:
    """Training loss (raw and smoothed) and validation loss per step, stage boundaries marked."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no loss-curve PNG")
        return None
    rows = RunLog.read(csv_path)
    if not rows:
        return None
    steps = [int(r["step"]) for r in rows if r["loss"]]
    loss = [float(r["loss"]) for r in rows if r["loss"]]
    val = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(steps, loss, color="#9ab", lw=0.8, label="train loss")
    if len(loss) >= 5:
        k, smooth, acc = 0.9, [], loss[0]
        for v in loss:
            acc = k * acc + (1 - k) * v
            smooth.append(acc)
        ax.plot(steps, smooth, color="#147", lw=1.6, label="train loss (EMA)")
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", color="#c42", ms=3, label="validation loss")
    prev = None
    for r in rows:
        if prev is not None and r["stage"] != prev:
            start = int(r["step"]) - int(r["stage_step"] or 0)   # the stage's first step, not its first log row
            ax.axvline(start, color="#888", ls="--", lw=0.8)
            ax.text(start, ax.get_ylim()[1], f" {r['stage']}", va="top", fontsize=8, color="#555")
        prev = r["stage"]
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("ε-MSE")
    ax.set_title(title or "CLAP2Diffusion training")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path
