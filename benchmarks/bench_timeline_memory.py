"""Memory of per-frame CLAP timelines for long clips: peak RSS beyond the clip itself, per duration.

For each duration it builds a random clip (44.1 kHz, like a decoded file) and measures, each in its own
PeakRSS block (devtools.memory: mmap'd allocations + the kernel's high-water mark):
  timeline   encode_timeline (what Audio Timeline runs) with a small random CLAP: must stay flat, bounded
             by one chunk of windows, not grow with the duration (the F × D result is listed separately);
  check      the audio checks Load Audio (C2D) runs on the decoded clip (blockwise scan, no resampling);
  resample   what Load Audio did before: the same checks + resampling the whole clip to 48 kHz;
  encode     CLAP Encode Audio's whole-clip path (ClapAudioEncoder.encode: one clip → one embedding;
             resamples the whole clip, then 10 s windows), with --encode.

Usage: python -m benchmarks.bench_timeline_memory [--minutes 1 10 60] [--fps 0.2] [--channels 1] [--encode]
Runs in about 2 minutes on 2 CPU cores with the defaults (60 min at fps 0.2 = 720 windows).
"""
from __future__ import annotations

import argparse
import tempfile
import time

MB = 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60], help="clip durations to measure")
    ap.add_argument("--fps", type=float, default=0.2, help="timeline frames per second (low: fewer CLAP windows)")
    ap.add_argument("--window", type=float, default=1.0, help="seconds of audio per frame")
    ap.add_argument("--chunk", type=int, default=32, help="windows encoded per batch (bounds the working memory)")
    ap.add_argument("--rate", type=int, default=44_100, help="sample rate of the clip")
    ap.add_argument("--channels", type=int, default=1, help="channels of the clip (2 = stereo)")
    ap.add_argument("--encode", action="store_true", help="also measure CLAP Encode Audio's whole-clip path")
    args = ap.parse_args(argv)

    import torch

    from c2d_core.audio import check_waveform, prepare_waveform
    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.timeline import encode_timeline
    from devtools.memory import PeakRSS, available
    from devtools.standin_clap import make_random_clap_folder

    if not available():
        raise SystemExit("needs Linux (/proc/self/clear_refs) and glibc to measure peak memory")
    torch.manual_seed(0)
    folder = make_random_clap_folder(tempfile.mkdtemp(prefix="c2d_bench_tl_") + "/clap", projection_dim=512)
    enc = load_audio_encoder(folder)
    encode_timeline(enc, torch.randn(1, args.channels, 3 * args.rate) * 0.1, args.rate, fps=1.0)  # warm-up

    print(f"small random CLAP (HTSAT, hidden 256), clip {args.rate} Hz × {args.channels} ch float32, "
          f"fps {args.fps}, window {args.window} s, chunk {args.chunk}; peak RSS beyond the clip, MB")
    cols = ["minutes", "clip", "frames", "timeline", "result", "check", "resample"] + (["encode"] if args.encode else [])
    print(" ".join(f"{c:>9}" for c in cols) + "  timeline_s")
    for minutes in args.minutes:
        wav = torch.randn(1, args.channels, int(minutes * 60 * args.rate)) * 0.1  # (1, C, T) as Load Audio gives
        row = {"minutes": minutes, "clip": wav.numel() * 4 / MB}
        t0 = time.perf_counter()
        with PeakRSS() as m:
            embeds, _ = encode_timeline(enc, wav, args.rate, args.fps, args.window, chunk=args.chunk)
        seconds = time.perf_counter() - t0
        row.update(frames=embeds.shape[0], timeline=m.peak_extra / MB, result=embeds.numel() * 4 / MB)
        del embeds
        with PeakRSS() as m:
            check_waveform(wav, args.rate)
        row["check"] = m.peak_extra / MB
        with PeakRSS() as m:
            prepare_waveform(wav, args.rate)
        row["resample"] = m.peak_extra / MB
        if args.encode:
            with PeakRSS() as m:
                enc.encode(wav, args.rate)
            row["encode"] = m.peak_extra / MB
        del wav
        print(" ".join(f"{row[c]:>9.1f}" if isinstance(row[c], float) else f"{row[c]:>9}" for c in cols)
              + f"  {seconds:.1f}")


if __name__ == "__main__":
    main()
