"""Encoders of the released audio→image models, one run: a 10 s clip through BEATs (AudioToken's encoder, and
AudioToken's whole audio → token path) and AudioCLIP (GlueGen's encoder, and GlueGen's whole audio → condition path)
÷ LAION / HF CLAP.

Random weights at the real sizes, in the released layouts (BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt: 12 ×
768, 90 M parameters; AudioToken's embedder; AudioCLIP-Full-Training.pt's audio tower, 32 M; GlueGen's GlueNet,
58 M; HTSAT-tiny ClapAudioModelWithProjection), each through the pack's own path (checks, resampling to its rate) on
a stereo 48 kHz clip. AudioCLIP's `encode` embeds every 4 s window (3 for 10 s); GlueGen uses the first 4 s only. Runs are interleaved; medians and ratios printed.
Not a timed test.

Usage: python -m benchmarks.bench_released_encoders [--repeats 5] [--threads 1]
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
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from c2d_core.audiotoken.embedder import load_embedder
    from c2d_core.audiotoken.token import audio_tokens
    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.gluegen.condition import load_gluenet, sound_condition
    from devtools.standin_audiotoken import random_beats_file, random_embedder_file
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_gluegen import random_audioclip_file, random_gluenet_file

    with tempfile.TemporaryDirectory() as tmp:
        beats = load_audio_encoder(random_beats_file(f"{tmp}/BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"))
        embedder = load_embedder(torch.load(random_embedder_file(f"{tmp}/embedder_learned_embeds.bin"),
                                            weights_only=True))
        audioclip = load_audio_encoder(random_audioclip_file(f"{tmp}/AudioCLIP-Full-Training.pt"))
        gluenet = load_gluenet(torch.load(random_gluenet_file(f"{tmp}/gluenet.ckpt"), weights_only=True))
        laion = load_audio_encoder(make_random_clap_folder(f"{tmp}/clap", seed=0, tiny=False))
        wav = clip()
        runs = {"BEATs encode": lambda: beats.encode(wav, 48_000),
                "AudioToken token (BEATs + embedder)": lambda: audio_tokens(beats, embedder, wav, 48_000),
                "AudioCLIP encode": lambda: audioclip.encode(wav, 48_000),
                "GlueGen condition (AudioCLIP + GlueNet)": lambda: sound_condition(audioclip, gluenet, wav, 48_000),
                "LAION CLAP encode": lambda: laion.encode(wav, 48_000)}
        for run in runs.values():  # warm-up
            run()
        times = {k: [] for k in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"torch threads {torch.get_num_threads()}, 10 s stereo 48 kHz clip, median of {args.repeats}")
        for name in runs:
            print(f"  {name}: {med[name] * 1000:8.1f} ms   ÷ LAION {med[name] / med['LAION CLAP encode']:.2f}")
        print(f"  params: BEATs {sum(p.numel() for p in beats.model.parameters()) / 1e6:.0f} M, "
              f"embedder {sum(p.numel() for p in embedder.parameters()) / 1e6:.1f} M, "
              f"AudioCLIP audio {sum(p.numel() for p in audioclip.model.parameters()) / 1e6:.0f} M, "
              f"GlueNet {sum(p.numel() for p in gluenet.parameters()) / 1e6:.0f} M, "
              f"LAION audio {sum(p.numel() for p in laion.model.parameters()) / 1e6:.0f} M")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
