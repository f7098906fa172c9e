"""Zero-shot routes, one run: ImageBind audio encode of a 10 s clip ÷ LAION / HF CLAP, and CLAP sound tags for a 60 s
timeline.

Random weights at the real sizes (ImageBind's imagebind_huge audio tower, 86 M parameters, from the released key
layout; HTSAT-tiny ClapAudioModelWithProjection), both through the pack's own `encode` (checks, resampling,
windows) on a stereo 48 kHz clip. Runs are interleaved and the medians printed with the ratio. The tags line times
CLAP Sound Tags' work on a 60 s timeline at 8 fps (480 rows): the AudioSet vocabulary's 527 label prompts through the
CLAP text tower (first call; later calls use the cache) and the ranking of every row. Not a timed test.

Usage: python -m benchmarks.bench_zero_shot [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from benchmarks.bench_msclap_encode import clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the issue's figure: 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.sound_tags import TagSettings, audioset_labels, tag_audio
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_imagebind import make_random_imagebind_file

    with tempfile.TemporaryDirectory() as tmp:
        imagebind = load_audio_encoder(make_random_imagebind_file(f"{tmp}/imagebind_huge.pth", seed=0))
        laion = load_audio_encoder(make_random_clap_folder(f"{tmp}/clap", seed=0, tiny=False))
        wav = clip()
        times = {"imagebind": [], "laion": []}
        for enc in (imagebind, laion):  # warm-up
            enc.encode(wav, 48_000)
        for _ in range(args.repeats):
            for name, enc in (("imagebind", imagebind), ("laion", laion)):
                t0 = time.perf_counter()
                enc.encode(wav, 48_000)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"torch threads {torch.get_num_threads()}, 10 s stereo 48 kHz clip, median of {args.repeats}")
        for name, enc in (("imagebind", imagebind), ("laion", laion)):
            params = sum(p.numel() for p in enc.model.parameters()) / 1e6
            print(f"  {enc.family} ({enc.model_id}, {params:.0f} M params): {med[name] * 1000:8.1f} ms")
        print(f"  ratio ImageBind ÷ LAION: {med['imagebind'] / med['laion']:.2f}")

        rows = torch.nn.functional.normalize(torch.randn(480, laion.embed_dim, generator=torch.Generator().manual_seed(0)),
                                             dim=-1)  # 60 s at 8 fps, as Audio Timeline gives them
        labels = audioset_labels()
        t0 = time.perf_counter()
        tag_audio(laion, rows, labels, TagSettings())
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        tags = tag_audio(laion, rows, labels, TagSettings())
        again = time.perf_counter() - t0
        print(f"sound tags, 60 s timeline (480 frames), {len(labels)} AudioSet labels: first call {first:.2f} s "
              f"(label prompts through the text tower), then {again * 1000:.1f} ms per call; "
              f"{len(tags.schedule.splitlines())} keyframes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
