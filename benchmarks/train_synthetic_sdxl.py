"""Learning evidence on SDXL's structure and the placement ablation: tone pitch → latent colour on a tiny SDXL.

    python benchmarks/train_synthetic_sdxl.py [--out runs/synthetic_sdxl] [--quick] [--presets all,mid_up,up,light]

The synthetic task of benchmarks/train_synthetic.py on ComfyUI's own SDXL model at toy width (toy/sdxl.py: SDXL's
70 transformer blocks, 2048-wide text context, the 2816-wide ADM vector from a pooled caption and the image size).
The base is pretrained once per machine without audio (cached under ~/.cache/clap2diffusion/toy/); then one adapter
per placement preset (c2d_core.config.UNET_PLACEMENTS) is trained through the real trainer on CLAP embeddings of
synthetic tones (the toy bundle's random-weight CLAP), held-out clips are sampled and scored by the nearest-centroid
classifier. Prints the table (held-out accuracy, blocks, adapter size, seconds per trainer step), writes
results.json into --out.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "runs" / "synthetic_sdxl"), help="output folder")
    p.add_argument("--quick", action="store_true", help="the small CI-sized budget (the test's)")
    p.add_argument("--presets", default="all,mid_up,up,light", help="comma-separated placement presets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    from training.host import import_comfy
    import_comfy(cpu=True)
    from toy import placement as P

    presets = tuple(s.strip() for s in args.presets.split(",") if s.strip())
    budget = P.QUICK if args.quick else P.Budget()
    t0 = time.perf_counter()
    results = P.run(Path(args.out), budget, presets=presets, seed=args.seed,
                    log_fn=lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True))
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(P.table(results))
    print()
    print(f"embeddings: held-out nearest-class-mean accuracy {results['embedding_accuracy']:.0%}; whole run "
          f"{results['timings']['total_s']:.0f} s on {args.threads} thread(s) (base: {results['timings']['base_s']:.0f} s)")
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
