"""Microsoft CLAP 2022 (Cnn14) encode time of a 10 s clip vs the LAION / Hugging Face CLAP path, one run.

Both encoders have random weights at their real sizes (Cnn14 + projection, 85 M parameters; HTSAT-tiny
ClapAudioModelWithProjection) and run through the pack's own `encode` (checks, resampling, windows). The clip
is stereo 48 kHz, so both resample (to 44.1 kHz and 48 kHz). Runs are interleaved; medians are printed, and
the ratio MS-CLAP ÷ LAION. Not a timed test: figures depend on the machine.

Usage: python -m benchmarks.bench_msclap_encode [--repeats 5] [--device cpu|cuda] [--dtype fp32|fp16|bf16]
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def clip(seconds=10.0, rate=48_000):
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * math.pi * 440 * t).repeat(2, 1) + 0.05 * torch.randn(2, t.numel(), generator=g)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    args = ap.parse_args(argv)
    from c2d_core.clap import MsClapAudioEncoder
    from c2d_core.encoder_registry import load_audio_encoder
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_msclap import random_msclap_state

    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    ms = MsClapAudioEncoder.from_checkpoint({"model": random_msclap_state(seed=0)}, device=device, dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        laion = load_audio_encoder(make_random_clap_folder(f"{tmp}/clap", seed=0, tiny=False),
                                           device=device, dtype=dtype)
    wav = clip()
    times = {"msclap-2022": [], "laion-htsat": []}
    for enc in (ms, laion):  # warm-up
        enc.encode(wav, 48_000)
    for _ in range(args.repeats):
        times["msclap-2022"].append(timed(lambda: ms.encode(wav, 48_000), device))
        times["laion-htsat"].append(timed(lambda: laion.encode(wav, 48_000), device))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"device {device}, {args.dtype}, torch threads {torch.get_num_threads()}, 10 s stereo 48 kHz clip, "
          f"median of {args.repeats}")
    params = sum(p.numel() for p in ms.model.parameters()) / 1e6
    print(f"  MS-CLAP 2022 (Cnn14, {params:.0f} M params): {med['msclap-2022'] * 1000:8.1f} ms")
    params = sum(p.numel() for p in laion.model.parameters()) / 1e6
    print(f"  LAION / HF CLAP (HTSAT-tiny, {params:.0f} M params): {med['laion-htsat'] * 1000:8.1f} ms")
    print(f"  ratio MS-CLAP ÷ LAION: {med['msclap-2022'] / med['laion-htsat']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
