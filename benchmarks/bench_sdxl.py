"""Inference cost of SDXL audio adapters per placement preset, inside real ComfyUI (random weights).

Prints, for each preset (all, mid_up, up, light; one adapter file each, made by `new_adapter(base_family="sdxl")` at
the default widths):
  - sampling time with the adapter applied ÷ without: the full-size SDXL base stand-in (devtools.standin_sdxl) through
    the stock CheckpointLoaderSimple, 1 latent with CFG (2 UNet rows per step), KSampler euler; denoising loop only,
    A/B runs in ABBA order (benchmarks/_ab.py, its full report per preset); target ≤ 1.05 for `all`. Only the sampler
    runs in the timed prompts (the checkpoint, CLAP encode and adapter stay in ComfyUI's cache: checked, a note is
    printed otherwise);
  - adapter size: parameters, MB at fp16 and fp32;
  - extra sampling memory: the cached audio K/V (AudioAttentionPatch.kv_cache_bytes) at the UNet's dtype.

Usage: python -m benchmarks.bench_sdxl [--size 256] [--steps 2] [--repeats 3] [--presets all mid_up up light]
(on 2 CPU cores the SDXL UNet alone is 14 GB fp32; 256², 2 steps, 3 repeats take about 15 min).
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._host import add_float_mode_option, float_mode
from .bench_inference import CACHED_NODES

CKPT = "sdxl.safetensors"
PRESETS = ("all", "mid_up", "up", "light")


def graph(size, steps, seed, adapter, patched):
    """API prompt. As in bench_inference, both sides hold the audio nodes and an embeds preview (an output, so they
    run and stay in ComfyUI's cache); only the KSampler's model differs."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "bench.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": "bench-clap"}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": adapter}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0] if patched else ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0], "seed": seed, "steps": steps, "cfg": 6.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "bench_sdxl"}},
        "20": {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "size": 64}},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    add_float_mode_option(ap)
    args = ap.parse_args(argv)
    floats = float_mode(args.keep_denormals)   # first: before torch starts its threads

    import torch

    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from devtools.standin_sdxl import ensure_sdxl_standins

    from ._ab import geometric_mean_interval, interleave
    from ._host import bench_host, make_workspace

    t0 = time.perf_counter()
    built = []
    ckpt = ensure_sdxl_standins(built=built)["sdxl"]
    for line in built:
        print(line)
    work = make_workspace("c2d_bench_sdxl_", adapters={}, sounds={"bench.wav": ("rain", 10.0)},
                          clap_name="bench-clap", clap_tiny=False)
    (work / "models" / "checkpoints" / CKPT).symlink_to(ckpt)
    sizes = {}
    for preset in args.presets:   # one at a time: the fp32 `all` adapter alone is 2.3 GB
        adapter = new_adapter(AdapterConfig(gate_init=0.5, base_family="sdxl", placement=preset), seed=0)
        sizes[preset] = (len(adapter.blocks), sum(p.numel() for p in adapter.parameters()))
        save_adapter(work / "models" / "audio_adapters" / f"sdxl_{preset}.safetensors", adapter)
        del adapter
    host = bench_host(work)
    print(f"set-up (stand-ins, adapters, host) {time.perf_counter() - t0:.0f} s")

    rows = []
    for preset in args.presets:
        name = f"sdxl_{preset}.safetensors"
        t1 = time.perf_counter()
        ab = interleave(host, lambda patched, seed: graph(args.size, args.steps, seed, name, patched),
                        args.repeats, cached=CACHED_NODES)
        model = ab.warm_patched["outputs"]["14"][0]
        [patch] = model.model_options["transformer_options"]["patches"]["middle_patch"]
        dtype = model.model.get_dtype()
        kv = patch.kv_cache_bytes()
        unet_bytes = sum(p.numel() * p.element_size() for p in model.model.diffusion_model.parameters())
        del model, patch
        ab.warm_patched = None   # drops this preset's applied model before the next adapter loads
        rows.append((preset, ab, kv))
        print(f"  {preset} ({time.perf_counter() - t1:.0f} s):", flush=True)
        for line in ab.report(target=1.05 if preset == "all" else None):
            print(f"    {line}", flush=True)

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"\ndevice: {device}; SDXL base random weights (UNet {unet_bytes / 2**30:.1f} GiB {dtype}), "
          f"{args.size}x{args.size}, 1 latent x CFG (2 UNet rows), euler {args.steps} steps, {args.repeats} "
          f"interleaved repeats per preset; {floats}")
    print(f"{'preset':8} {'blocks':>6} {'params':>9} {'fp16 MB':>8} {'fp32 MB':>8} {'audio K/V':>10} "
          f"{'plain s':>8} {'adapter s':>9} {'RATIO':>6} {'90 % interval':>15}")
    for preset, ab, kv in rows:
        blocks, n = sizes[preset]
        _mean, low, high = geometric_mean_interval(ab.pair_ratios)
        target = "  (target <= 1.05)" if preset == "all" else ""
        print(f"{preset:8} {blocks:6d} {n / 1e6:8.1f}M {n * 2 / 1e6:8.0f} {n * 4 / 1e6:8.0f} {kv / 2**10:8.0f} KiB "
              f"{statistics.median(ab.loop[False]):8.2f} {statistics.median(ab.loop[True]):9.2f} "
              f"{ab.pair_median:6.3f} [{low:.3f}, {high:.3f}]{target}")
    print("RATIO: median of the ABBA pair ratios of the denoising loop; interval: 90 % bootstrap of their "
          "geometric mean")


if __name__ == "__main__":
    main()
