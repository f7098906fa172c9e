"""Inference cost of a SonicDiffusion adapter (released pair layout, random weights) inside real ComfyUI.

Prints sampling time with the adapter applied ÷ without: SD1.5 stand-in, 1 latent with CFG (2 UNet rows per step:
the negative row gets projector(zeros) tokens, as SonicDiffusion), KSampler euler, A/B runs interleaved (benchmarks/_ab.py);
target ≤ 1.03 (audio attention in only 10 blocks). The audio comes from a Microsoft CLAP 2022 stand-in
(`CLAP_weights_2022.pth`, random weights, real size). Same graph and set-up as bench_inference.py: both prompts hold
the audio nodes; when only the patched prompt had them, ComfyUI re-ran the MS-CLAP encode before every patched run
and the patched sampling loop took 1.13× as long even at strength 0 (nothing computed).
MS-CLAP 2022 encode time of a 10 s clip vs the LAION path: `python -m benchmarks.bench_msclap_encode`.

Usage: python -m benchmarks.bench_sonic [--size 512] [--steps 3] [--repeats 3]
(on 2 CPU cores, 512² takes about 15 min; --size 256 about 4 min).
"""
from __future__ import annotations

import argparse

from ._host import add_float_mode_option, float_mode
from .bench_inference import CACHED_NODES
from .bench_inference import graph as inference_graph

CLAP = "CLAP_weights_2022.pth"
ADAPTER = "landscape"     # models/audio_adapters/landscape/: audio_projector_landscape.pth + landscape.pt


def graph(size, steps, seed, patched, strength=1.0):
    """bench_inference's graph (both prompts hold the audio nodes) with the MS-CLAP 2022 file and the SonicDiffusion
    pair folder."""
    p = inference_graph("sd15.safetensors", size, steps, seed, patched)
    p["11"]["inputs"]["clap_name"] = CLAP
    p["13"]["inputs"]["adapter_name"] = ADAPTER
    p["14"]["inputs"]["strength"] = strength
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strength", type=float, default=1.0,
                    help="of the patched runs; 0 = hooks installed but nothing computed (isolates the patch's compute)")
    add_float_mode_option(ap)
    args = ap.parse_args(argv)
    floats = float_mode(args.keep_denormals)   # first: before torch starts its threads

    import torch

    from devtools.standin_msclap import ensure_msclap_standin
    from devtools.standin_sonic import make_random_sonic_folder

    from ._ab import interleave
    from ._host import bench_host, make_workspace

    work = make_workspace("c2d_bench_sonic_", adapters={}, sounds={"bench.wav": ("rain", 10.0)})
    (work / "models" / "clap" / CLAP).symlink_to(ensure_msclap_standin())
    make_random_sonic_folder(work / "models" / "audio_adapters" / ADAPTER, seed=0)
    host = bench_host(work)

    ab = interleave(host, lambda patched, seed: graph(args.size, args.steps, seed, patched, args.strength),
                    args.repeats, cached=CACHED_NODES)
    dtype = ab.warm_patched["outputs"]["14"][0].model.get_dtype()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}, torch threads {torch.get_num_threads()}; SD1.5 random weights, UNet {dtype}, "
          f"{args.size}x{args.size}, 1 latent x CFG (2 UNet rows), euler {args.steps} steps, {args.repeats} "
          f"interleaved repeats; SonicDiffusion pair (10 blocks, 77 tokens), strength {args.strength:g}; {floats}")
    for line in ab.report(target=1.03):
        print(line)


if __name__ == "__main__":
    main()
