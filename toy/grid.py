"""The shipped toy bundle: a tiny UNet, a random-weight CLAP and the adapter trained on the synthetic
task (benchmarks/train_synthetic.py), small enough to live in the repository (`toy/bundle/`).

    python -m toy.grid [--out toy/bundle/grid.png] [--per-class 6]

regenerates the picture grid of the README: new (held-out) tones of each pitch → CLAP (the real
encoder code path) → adapter → tiny UNet, sampled with audio CFG and drawn with the task's
latent→RGB map; the last column is the base model without audio. It also prints the grid's accuracy.
Random-weight Stable Diffusion would only show noise; this shows what the trained adapter does.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import torch

from . import task as S
from .bundle import BUNDLE, classifier, load_bundle
from .drawing import GridLayout, draw_grid

log = logging.getLogger(__name__)

GRID_SEED = 2024   # held-out clips: neither the training (seed + 11) nor the test clips (seed + 12)


@torch.no_grad()
def grid(out: Path, *, bundle: Path = BUNDLE, per_class: int = 6, seed: int = GRID_SEED) -> dict:
    """Draw the grid PNG; returns {"accuracy", "out", "seconds"}."""
    from training.sampling import sample

    t0 = time.perf_counter()
    base, adapter, clap_dir, meta, task = load_bundle(bundle)
    labels = [k for k in range(S.N_CLASSES) for _ in range(per_class)]
    embeds = S.clap_embed(S.clips(labels, seed, task.seconds), clap_dir)
    text, _ = S.caption(task)
    B, s = len(labels), task.latent_size
    x = sample(base.model, adapter, (B, task.channels, s, s), text.expand(B, -1, -1), embeds,
               steps=meta["sample_steps"], audio_cfg=meta["audio_cfg"], seed=seed)
    plain = sample(base.model, None, (S.N_CLASSES, task.channels, s, s), text.expand(S.N_CLASSES, -1, -1), None,
                   steps=meta["sample_steps"], seed=seed + 1)
    pred = classifier(task).predict(x)
    acc = float((pred == torch.tensor(labels)).float().mean())

    layout = GridLayout(cell=64, pad=6, left=92, top=34)
    imgs = S.latent_to_rgb(x, scale=layout.cell // s)
    base_imgs = S.latent_to_rgb(plain, scale=layout.cell // s)
    tiles = [[imgs[k * per_class + j] for j in range(per_class)] + [base_imgs[k]] for k in range(S.N_CLASSES)]
    outlined = {(k, j) for k in range(S.N_CLASSES) for j in range(per_class) if int(pred[k * per_class + j]) != k}
    canvas = draw_grid(tiles, [f"{S.FREQS[k]:.0f} Hz tone" for k in range(S.N_CLASSES)],
                       {0: "held-out tones -> CLAP -> adapter -> tiny UNet", per_class: "no audio"},
                       [f"held-out accuracy {acc:.0%} (chance 25%); audio CFG {meta['audio_cfg']:g}, "
                        f"{meta['sample_steps']} Euler steps; outlined: misclassified"], layout, outlined)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return {"accuracy": acc, "out": str(out), "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toy.grid", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(BUNDLE / "grid.png"), help="PNG to write")
    p.add_argument("--bundle", default=str(BUNDLE), help="toy bundle folder")
    p.add_argument("--per-class", type=int, default=6, help="held-out clips per pitch (grid columns)")
    p.add_argument("--seed", type=int, default=GRID_SEED, help="seed of the held-out clips and the sampling noise")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    import comfy_locator
    comfy_locator.import_comfy(cpu=True)
    r = grid(Path(args.out), bundle=Path(args.bundle), per_class=args.per_class, seed=args.seed)
    log.info("wrote %s: held-out accuracy %.0f%% (chance 25%%) in %.1f s", r["out"], 100 * r["accuracy"], r["seconds"])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
