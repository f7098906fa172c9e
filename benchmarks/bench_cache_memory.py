"""The trainer's memory against the cache's size: read on demand, it stays flat as the cache grows 10×.

    python benchmarks/bench_cache_memory.py [--samples 400] [--grow 10] [--captions 20] [--steps 200]

Writes two synthetic caches in the trainer's format (training/cache.py) — `--samples` and `--grow` × as many samples,
Flux-sized rows: 16 × 64 × 64 latents (a 512² image), 512-d CLAP, `--captions` distinct captions of 256 × 4096 T5
tokens + a 768-d pooled vector, stored once each — then, in a fresh process per cache, opens it with `load_cache`
and reads `--steps` random batches of 16 as the training loop does. Prints each process's resident memory after
the reads: anonymous (RssAnon, what the process itself holds) and total (RSS, also counting the file pages the
memory map has touched, which the kernel can drop), against the cache's size on disk; then the same with the whole
cache loaded into memory (the whole-array properties, what the trainer did before), for comparison. Target: the
anonymous memory flat (ratio ≈ 1) as the cache grows 10×.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_cache(path: Path, samples: int, captions: int, seed: int = 0) -> int:
    """A cache of `samples` Flux-sized rows with `captions` distinct captions; returns its size in bytes."""
    import torch

    from training.cache import CacheWriter

    g = torch.Generator().manual_seed(seed)
    texts = [(torch.randn(256, 4096, generator=g), torch.randn(768, generator=g)) for _ in range(captions)]
    w = CacheWriter(path, {"kind": "synthetic", "latent_space": "model", "clap_model_id": "stand-in"}, shard_size=256)
    for i in range(samples):
        text, pooled = texts[i % captions]
        w.add(f"s{i:07d}", "synthetic", clap=torch.randn(512, generator=g), latent=torch.randn(16, 64, 64, generator=g),
              text=text, pooled=pooled)
    w.set_null_text(torch.zeros(256, 4096), torch.zeros(768))
    w.close()
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def measure(path: str, steps: int, whole: bool) -> dict:
    """In this process: open the cache and read `steps` random batches of 16 (or load every array: whole)."""
    import torch

    from training.cache_reader import load_cache

    t0 = time.perf_counter()
    cache = load_cache(path)
    if whole:
        arrays = [cache.clap, cache.latent, cache.text, cache.pooled]      # noqa: F841 (held, as the old loader did)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        b = cache.batch(torch.randint(0, len(cache), (16,), generator=g))
        assert b["latent"].shape == (16, 16, 64, 64) and b["text"].shape == (16, 256, 4096)
    return {"anon_mb": _status_kb("RssAnon") / 1024, "rss_mb": _status_kb("VmRSS") / 1024,
            "seconds": time.perf_counter() - t0, "samples": len(cache)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--grow", type=int, default=10)
    p.add_argument("--captions", type=int, default=20)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--measure", nargs=3, metavar=("CACHE", "STEPS", "WHOLE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.measure[2] == "1")))
        return 0
    work = Path(tempfile.mkdtemp(prefix="c2d_cachemem_"))
    sizes = {}
    for n in (args.samples, args.samples * args.grow):
        t0 = time.perf_counter()
        sizes[n] = write_cache(work / f"cache{n}", n, args.captions)
        print(f"wrote {n} samples: {sizes[n] / 2 ** 20:.0f} MiB on disk ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = {}
    for whole in (False, True):
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--measure", str(work / f"cache{n}"), str(args.steps),
                                  "1" if whole else "0"], capture_output=True, text=True, check=True)
            rows[(whole, n)] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{args.steps} random batches of 16 read from each cache ({args.captions} distinct captions, Flux-sized "
          "rows); resident memory of a fresh process after the reads:")
    print("| reading | samples | cache on disk | anonymous (RssAnon) | total RSS | seconds |")
    print("|---|---|---|---|---|---|")
    for (whole, n), r in rows.items():
        print(f"| {'whole cache in memory' if whole else 'on demand (load_cache)'} | {n} | "
              f"{sizes[n] / 2 ** 20:.0f} MiB | {r['anon_mb']:.0f} MiB | {r['rss_mb']:.0f} MiB | {r['seconds']:.1f} |")
    small, big = args.samples, args.samples * args.grow
    for whole in (False, True):
        ratio = rows[(whole, big)]["anon_mb"] / rows[(whole, small)]["anon_mb"]
        print(f"{'whole' if whole else 'on demand'}: anonymous memory ×{ratio:.2f} for ×{args.grow} the samples")
    print(f"(caches in {work}; delete it when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
