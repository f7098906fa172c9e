"""Proof that the trainer learns, with no real weights: tone pitch → latent colour on a tiny UNet.

    python benchmarks/train_synthetic.py [--out runs/synthetic] [--quick] [--no-ablations] [--embed clap]
                                         [--bundle toy/bundle] [--grid docs/toy_grid.png]

Pretrains a tiny UNet (ComfyUI's own UNetModel from a config) on the synthetic latents, trains the
adapter through the real trainer (all three stages) on CLAP embeddings of synthetic tones (the real
CLAP code path, random weights), samples held-out clips and scores them with a nearest-centroid
classifier. Prints the ablation table (4 MLPs vs 1, gated vs ungated, 3 stages vs stage 1 alone),
writes results.json and ablations.png into --out. Target: ≥ 90 % held-out accuracy (chance 25 %)
in ≤ 10 minutes on 2 CPU cores for the full variant. --bundle copies the full variant (tiny UNet,
random CLAP, adapter) into the shipped toy bundle; --grid then draws the README's picture grid
(the same as `python -m toy.grid --out PATH`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "runs" / "synthetic"), help="output folder")
    p.add_argument("--quick", action="store_true", help="the small CI-sized budget")
    p.add_argument("--no-ablations", action="store_true", help="only the full variant")
    p.add_argument("--embed", default="clap", choices=("clap", "stand-in"),
                   help="clap: random-weight CLAP through c2d_core.clap.encoder; stand-in: class prototypes + noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    p.add_argument("--bundle", default="", help="write the full variant as the toy bundle into this folder "
                                                "(the shipped one: toy/bundle)")
    p.add_argument("--grid", default="", help="with --bundle: also draw the picture grid PNG here")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    from training.host import import_comfy
    import_comfy(cpu=True)
    from toy import experiment as E
    from toy import report as R

    budget = E.QUICK if args.quick else E.Budget()
    t0 = time.perf_counter()
    results = E.run(Path(args.out), budget, embed=args.embed, ablations=not args.no_ablations, seed=args.seed,
                    log_fn=lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True))
    full = results["rows"][0]
    full_wall = results["timings"]["embed_s"] + results["timings"]["pretrain_s"] + full["train_s"]
    results["full_variant_wall_s"] = full_wall
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    R.plot(results, out / "ablations.png")
    print()
    print(R.table(results))
    print()
    best = max(v for k, v in full.items() if k.startswith("acc"))
    print(f"full variant: {best:.0%} held-out accuracy (chance 25%), {full_wall:.0f} s wall for embedding + base "
          f"pretraining + adapter training; whole benchmark {results['timings']['total_s']:.0f} s "
          f"on {args.threads} threads")
    print(f"wrote {out / 'results.json'} and {out / 'ablations.png'}")
    if args.bundle:
        from toy.bundle import write_bundle
        from toy.grid import grid
        dest = write_bundle(results, Path(args.bundle))
        import shutil
        for name in ("results.json", "ablations.png"):   # the evidence travels with the bundle
            shutil.copy(out / name, dest / name)
        size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
        print(f"toy bundle: {dest} ({size / 2 ** 20:.1f} MiB)")
        if args.grid:
            g = grid(Path(args.grid), bundle=dest)
            print(f"picture grid: {g['out']} (held-out accuracy {g['accuracy']:.0%}, {g['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
