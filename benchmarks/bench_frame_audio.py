"""A 10-minute Audio Timeline on Wan 14B, frame-local: what one block call costs, whole timeline against window.

    python benchmarks/bench_frame_audio.py [--minutes 10] [--fps 16] [--window 81] [--width 5120] [--heads 40]

One adapter block at Wan 14B's width (5120, 40 heads, 8 audio tokens per frame) hears a timeline of `--minutes` at
`--fps` (9601 frames for 10 minutes) in a context-window call of `--window` video frames (21 latent frames, 64
tokens each). "window" is the patch as it runs (frame_audio.call_rows: only the call's frames are projected);
"whole" projects and folds every frame of the timeline first (what the patch did before) and then takes the window.
Each runs in a fresh process; prints its peak RSS, the audio K/V it held and the seconds per block call. Pure torch,
no host.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(mode: str, frames: int, window: int, width: int, heads: int, calls: int) -> dict:
    import torch

    from c2d_core.config import AdapterConfig, BlockSpec
    from c2d_core.factory import new_adapter
    from c2d_core.frame_audio import frame_local_branch, video_frames
    from c2d_core.patch import AudioAttentionPatch
    from c2d_core.rows import row_plan

    torch.set_num_threads(2)
    adapter = new_adapter(AdapterConfig(clap_dim=512, context_dim=width, hidden_dim=512, gate_init=0.5,
                                        base_family="wan",
                                        blocks=(BlockSpec("double_0", width, heads, width // heads),)),
                          seed=0)
    stride = 4
    total = (frames - 1) // stride + 1
    latent = (window - 1) // stride + 1
    embeds = torch.randn(video_frames(total, stride), 512)
    start = total // 2
    window_opts = type("W", (), {"index_list": list(range(start, start + latent)), "total_frames": total})()
    opts = {"grid_sizes": (latent, 4, 4), "cond_or_uncond": [0], "context_window": window_opts}
    x = torch.randn(1, latent * 16, width)
    patch = AudioAttentionPatch(adapter, embeds)
    module = adapter.blocks["double_0"]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(calls):
            if mode == "window":
                out = patch.branch(x, opts, "double_0")
                kv_mb = None
            else:   # every frame projected and folded, then the window taken (the patch before call_rows)
                run, kv = patch._path.prepare(patch, "double_0", module, x, 1.0, torch.arange(embeds.shape[0]))
                folded = module.attn.fold(kv[0], kv[1])   # what the patch then kept: every frame's folded K/V
                out = frame_local_branch(run, x, kv, row_plan(opts, 1), (window_opts.index_list, total),
                                         stride, heads, torch.arange(embeds.shape[0]))
                kv_mb = sum(t.numel() * t.element_size() for t in folded) / 2 ** 20
                del folded
    seconds = (time.perf_counter() - t0) / calls
    assert out.shape == x.shape
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": base_rss, "kv_mb": kv_mb, "frames": int(embeds.shape[0])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=16.0)
    p.add_argument("--window", type=int, default=81, help="video frames per context window (4n+1)")
    p.add_argument("--width", type=int, default=5120)
    p.add_argument("--heads", type=int, default=40)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--measure", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    frames = int(args.minutes * 60 * args.fps) + 1
    if args.measure:
        print(json.dumps(measure(args.measure, frames, args.window, args.width, args.heads, args.calls)))
        return 0
    rows = {}
    for mode in ("window", "whole"):
        out = subprocess.run([sys.executable, __file__, "--measure", mode, "--minutes", str(args.minutes), "--fps",
                              str(args.fps), "--window", str(args.window), "--width", str(args.width), "--heads",
                              str(args.heads), "--calls", str(args.calls)], capture_output=True, text=True)
        if out.returncode:
            print(f"{mode}: failed ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})")
            continue
        rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.minutes:g}-minute timeline at {args.fps:g} fps ({frames} frames), one block at width {args.width} "
          f"({args.heads} heads), a context window of {args.window} frames; fresh process each, 2 threads:")
    print("| audio projected | peak RSS | s per block call |")
    print("|---|---|---|")
    for mode, r in rows.items():
        what = f"the window's frames ({args.window - 1})" if mode == "window" else \
            f"every frame ({r['frames']}; audio K/V {r['kv_mb']:.0f} MiB)"
        print(f"| {what} | {r['peak_rss_mb']:.0f} MiB | {r['seconds']:.3f} |")
    if len(rows) == 2:
        print(f"whole ÷ window: memory ×{rows['whole']['peak_rss_mb'] / rows['window']['peak_rss_mb']:.1f}, "
              f"time ×{rows['whole']['seconds'] / rows['window']['seconds']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
