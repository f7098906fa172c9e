"""Sound → video sync as a number: per-frame accuracy and switch-frame error on the synthetic video task.

    python benchmarks/train_synthetic_video.py [--seeds 0,1,2] [--quick]

toy/video_sync.py on a tiny Wan (ComfyUI's own classes): a tone switches pitch at a known frame, the square's colour
must switch there. Per seed: the tiny Wan pretrained without audio, a frame-local adapter trained through the real
trainer (Audio Timeline embeddings, one per video frame), held-out clips sampled at audio CFG 4. Prints per-latent-
frame accuracy, the mean error of the switch frame in video frames and how often it is exact, and AV-Align, for the
base without audio and with the adapter (AV-Align also for the data itself, with its own and another clip's sound);
writes results.json into --out. Needs ComfyUI 0.33+.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "runs" / "synthetic_video"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--quick", action="store_true", help="the test's budget (48 training clips, 16 held out)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    from training.host import import_comfy
    import_comfy(cpu=True)
    from toy import video_sync as V

    budget = V.Budget(train_clips=48, test_clips=16) if args.quick else V.Budget()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    t0 = time.perf_counter()
    results = [V.run(Path(args.out) / f"seed{s}", budget, seed=s,
                     log_fn=lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True)) for s in seeds]
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=1))

    def mean(values, fmt):
        return fmt(statistics.mean(values)) + (f" ± {fmt(statistics.stdev(values))}" if len(values) > 1 else "")

    pct, frames = (lambda v: f"{v:.0%}"), (lambda v: f"{v:.2f}")
    print(f"\n{len(seeds)} seed(s), {budget.test_clips} held-out clips × {V.LATENT_FRAMES} latent frames each; "
          f"chance per frame 25 %")
    print("| | per-latent-frame accuracy | switch-frame error (video frames) | switch frame exact | AV-Align |")
    print("|---|---|---|---|---|")
    for name in ("base, no audio", "adapter"):
        rows = [r["rows"][name] for r in results]
        print(f"| {name} | {mean([r['frame_accuracy'] for r in rows], pct)} | "
              f"{mean([r['switch_error_frames'] for r in rows], frames)} | "
              f"{mean([r['switch_exact'] for r in rows], pct)} | {mean([r['av_align'] for r in rows], frames)} |")
    data = [r["rows"]["data"] for r in results]
    print(f"| the data itself, its own sound | | | | {mean([r['av_align'] for r in data], frames)} |")
    print(f"| the data itself, another clip's sound | | | | "
          f"{mean([r['av_align_other_sound'] for r in data], frames)} |")
    print(f"\nwhole run {time.perf_counter() - t0:.0f} s on {args.threads} thread(s); embeddings "
          f"{sum(r['embed_s'] for r in results):.0f} s, adapter training {sum(r['train_s'] for r in results):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
