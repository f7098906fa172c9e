"""Tables and plots of the synthetic experiment's results (toy/experiment.py)."""
from __future__ import annotations

from pathlib import Path

def smoothed_loss(csv_path: Path, k: float = 0.9) -> list[tuple[int, float]]:
    """(step, EMA of the training loss) of a run's CSV log."""
    from training.logs import RunLog

    if not Path(csv_path).is_file():
        return []
    out, acc = [], None
    for r in RunLog.read(csv_path):
        if r["loss"]:
            v = float(r["loss"])
            acc = v if acc is None else k * acc + (1 - k) * v
            out.append((int(r["step"]), acc))
    return out


def steps_to_reach(curve: list[tuple[int, float]], threshold: float) -> int | None:
    """First step whose smoothed loss is ≤ threshold (None: never)."""
    return next((s for s, v in curve if v <= threshold), None)


def slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name.lower()).strip("_")[:40]


def table(results: dict) -> str:
    """The ablation table as Markdown."""
    cols = [k for k in results["rows"][0] if k.startswith("acc")]
    thr = results.get("loss_threshold")
    reach = f"steps to loss ≤ {thr:.4f}" if thr is not None else "steps to loss"
    head = ("| variant | " + " | ".join(f"held-out acc. (audio CFG {c[7:]})" for c in cols) +
            f" | {reach} | steps | train s |")
    lines = [head, "|" + "---|" * (len(cols) + 4)]
    for r in results["rows"]:
        s2l = r.get("steps_to_loss")
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r[c]:.0%}" for c in cols) +
                     f" | {'never' if s2l is None else s2l} | {r['steps']} | {r['train_s']:.0f} |")
    lines.append(f"| base, no audio (chance {results['chance']:.0%}) | " + " | ".join(
        f"{results['base_accuracy']:.0%}" for _ in cols) + " | – | – | – |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> Path:
    """Held-out accuracy per variant (bars) and the training-loss curves of each run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    cols = [k for k in rows[0] if k.startswith("acc")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    width = 0.8 / len(cols)
    for j, c in enumerate(cols):
        ax1.bar([i + j * width for i in range(len(rows))], [r[c] for r in rows], width, label=f"audio CFG {c[7:]}")
    ax1.axhline(results["chance"], color="k", ls="--", lw=0.8, label="chance")
    ax1.axhline(0.9, color="g", ls=":", lw=0.8, label="target 90%")
    ax1.set_xticks([i + width * (len(cols) - 1) / 2 for i in range(len(rows))])
    ax1.set_xticklabels([r["variant"] for r in rows], rotation=15, fontsize=8)
    ax1.set_ylim(0, 1.3)
    ax1.set_yticks([0, 0.25, 0.5, 0.75, 0.9, 1.0])
    ax1.set_ylabel("held-out accuracy")
    ax1.legend(fontsize=8, loc="upper center", ncol=2)
    ax1.set_title("tone pitch → latent colour (4 classes)")
    for r in rows:
        pts = smoothed_loss(Path(results["out"]) / "runs" / slug(r["variant"]) / "logs" / "train.csv")
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], label=r["variant"], lw=1)
    if results.get("loss_threshold") is not None:
        ax2.axhline(results["loss_threshold"], color="k", ls=":", lw=0.8, label="loss threshold of the table")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training loss (min-SNR ε-MSE, EMA)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
