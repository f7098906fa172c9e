"""Inference cost of a SonicDiffusion adapter (released pair layout, random weights) inside real ComfyUI.

Prints sampling time with the adapter applied ÷ without: SD1.5 stand-in, 1 latent with CFG (2 UNet rows per step:
the negative row gets projector(zeros) tokens, as SonicDiffusion), KSampler euler, A/B runs interleaved, medians;
target ≤ 1.03 (audio attention in only 10 blocks). The audio comes from a Microsoft CLAP 2022 stand-in
(`CLAP_weights_2022.pth`, random weights, real size). Same graph and set-up as bench_inference.py, except that both
prompts hold the audio nodes (see `graph`): when only the patched prompt had them, ComfyUI re-ran the MS-CLAP encode
before every patched run and the patched sampling loop took 1.13× as long even at strength 0 (nothing computed).
MS-CLAP 2022 encode time of a 10 s clip vs the LAION path: `python -m benchmarks.bench_msclap_encode`.

Usage: python -m benchmarks.bench_sonic [--size 512] [--steps 3] [--repeats 3]
(on 2 CPU cores, 512² takes about 15 min; --size 256 about 4 min).
"""
from __future__ import annotations

import argparse
import statistics
import time

from .bench_inference import graph as inference_graph

CLAP = "CLAP_weights_2022.pth"
ADAPTER = "landscape"     # models/audio_adapters/landscape/: audio_projector_landscape.pth + landscape.pt


def graph(size, steps, seed, patched, strength=1.0):
    """bench_inference's graph with the MS-CLAP 2022 file and the SonicDiffusion pair folder. Both prompts hold the
    same audio nodes and an embeds preview (an output, so they run): ComfyUI's cache then keeps them between the
    alternating prompts, and both runs have the same models loaded. Only the KSampler's model differs."""
    p = inference_graph("sd15.safetensors", size, steps, seed, True)
    p["11"]["inputs"]["clap_name"] = CLAP
    p["13"]["inputs"]["adapter_name"] = ADAPTER
    p["14"]["inputs"]["strength"] = strength
    p["20"] = {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "size": 64}}
    if not patched:
        p["5"]["inputs"]["model"] = ["1", 0]
        del p["14"]
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strength", type=float, default=1.0,
                    help="of the patched runs; 0 = hooks installed but nothing computed (isolates the patch's compute)")
    args = ap.parse_args(argv)

    import torch

    from devtools.standin_msclap import ensure_msclap_standin
    from devtools.standin_sonic import make_random_sonic_folder

    from ._host import SamplingClock, bench_host, make_workspace

    work = make_workspace("c2d_bench_sonic_", adapters={}, sounds={"bench.wav": ("rain", 10.0)})
    (work / "models" / "clap" / CLAP).symlink_to(ensure_msclap_standin())
    make_random_sonic_folder(work / "models" / "audio_adapters" / ADAPTER, seed=0)
    host = bench_host(work)

    host.run(graph(args.size, 1, 0, True, args.strength), fresh=False)   # warm: loads everything
    host.run(graph(args.size, 1, 0, False), fresh=False)
    clock = SamplingClock()
    plain, patched, plain_loop, patched_loop, rows = [], [], [], [], {False: [], True: []}
    for r in range(args.repeats):
        for is_patched, bucket, loop in ((False, plain, plain_loop), (True, patched, patched_loop)):
            t0 = time.perf_counter()
            with clock.run() as span:
                host.run(graph(args.size, args.steps, 100 + r, is_patched, args.strength), fresh=False)
            bucket.append(time.perf_counter() - t0)
            loop.append(span.seconds)
            rows[is_patched].append(span.unet_rows)

    p_med, a_med = statistics.median(plain_loop), statistics.median(patched_loop)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; SD1.5 random weights, {args.size}x{args.size}, 1 latent x CFG (2 UNet rows), "
          f"euler {args.steps} steps, {args.repeats} interleaved repeats; SonicDiffusion pair (10 blocks, 77 tokens), "
          f"strength {args.strength:g}")
    print(f"sampling without adapter:            median {p_med:.2f} s ({', '.join(f'{t:.2f}' for t in plain_loop)})")
    print(f"sampling with SonicDiffusion adapter: median {a_med:.2f} s ({', '.join(f'{t:.2f}' for t in patched_loop)})")
    print(f"RATIO with/without = {a_med / p_med:.3f}  (target <= 1.03; denoising loop only)")
    print(f"ratio of the fastest runs = {min(patched_loop) / min(plain_loop):.3f}  (less sensitive to other load on "
          f"the machine)")
    for is_patched, name in ((False, "without"), (True, "with")):   # 2-row calls = cond and uncond batched together
        print(f"UNet calls per run {name} adapter (rows per call): {'; '.join(map(str, rows[is_patched]))}")
    whole_p, whole_a = statistics.median(plain), statistics.median(patched)
    print(f"whole runs (audio nodes cached: both prompts hold them): {whole_p:.2f} s vs {whole_a:.2f} s, "
          f"ratio {whole_a / whole_p:.3f}")


if __name__ == "__main__":
    main()
