"""Inference cost of SDXL audio adapters per placement preset, inside real ComfyUI (random weights).

Prints, for each preset (all, mid_up, up, light; one adapter file each, made by `new_adapter(base_family="sdxl")` at
the default widths):
  - sampling time with the adapter applied ÷ without: the full-size SDXL base stand-in (devtools.standin_sdxl) through
    the stock CheckpointLoaderSimple, 1 latent with CFG (2 UNet rows per step), KSampler euler; A/B runs interleaved,
    medians; target ≤ 1.05 for `all`. Only the sampler runs in the timed prompts (the checkpoint, CLAP encode and
    adapter stay in ComfyUI's cache: checked, a note is printed otherwise);
  - adapter size: parameters, MB at fp16 and fp32;
  - extra sampling memory: the cached audio K/V (AudioAttentionPatch.kv_cache_bytes) at the UNet's dtype.

Usage: python -m benchmarks.bench_sdxl [--size 256] [--steps 2] [--repeats 3] [--presets all mid_up up light]
(on 2 CPU cores the SDXL UNet alone is 14 GB fp32; 256², 2 steps, 3 repeats take about 15 min).
"""
from __future__ import annotations

import argparse
import statistics
import time

CKPT = "sdxl.safetensors"
PRESETS = ("all", "mid_up", "up", "light")
SAMPLER = "5"


def graph(size, steps, seed, adapter, patched):
    """API prompt; the plain one keeps the audio nodes (so ComfyUI keeps them cached) but samples the bare model."""
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
        SAMPLER: {"class_type": "KSampler", "inputs": {
            "model": ["14", 0] if patched else ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0], "seed": seed, "steps": steps, "cfg": 6.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": [SAMPLER, 0], "filename_prefix": "bench_sdxl"}},
    }


def _timed(host, prompt, notes: list) -> float:
    t0 = time.perf_counter()
    result = host.run(prompt, fresh=False)
    elapsed = time.perf_counter() - t0
    patched = prompt[SAMPLER]["inputs"]["model"][0] == "14"
    expected = {"1", "2", "3", "4"} | ({"10", "11", "12", "13", "14"} if patched else set())
    missing = expected - set(result["cached"])
    if missing:  # these ran again: the time includes loading / encoding, not only sampling
        notes.append(f"nodes {sorted(missing)} were not served from ComfyUI's cache in a timed prompt")
    return elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    args = ap.parse_args(argv)

    import torch

    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from devtools.standin_sdxl import ensure_sdxl_standins

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
        host.run(graph(args.size, 1, 0, name, True), fresh=False)   # warm: loads everything (the checkpoint once)
        host.run(graph(args.size, 1, 0, name, False), fresh=False)
        warm = time.perf_counter() - t1
        plain, patched, notes = [], [], []
        for r in range(args.repeats):
            plain.append(_timed(host, graph(args.size, args.steps, 100 + r, name, False), notes))
            patched.append(_timed(host, graph(args.size, args.steps, 100 + r, name, True), notes))
        for note in sorted(set(notes)):
            print(f"  NOTE {preset}: {note}")
        result = host.run(graph(args.size, 1, 7, name, True), fresh=False)
        model = result["outputs"]["14"][0]
        [patch] = model.model_options["transformer_options"]["patches"]["middle_patch"]
        dtype = model.model.get_dtype()
        kv = patch.kv_cache_bytes()
        unet_bytes = sum(p.numel() * p.element_size() for p in model.model.diffusion_model.parameters())
        del result, model, patch
        rows.append((preset, statistics.median(plain), statistics.median(patched), plain, patched, kv, warm))
        print(f"  {preset}: warm-up {warm:.0f} s, plain {', '.join(f'{t:.2f}' for t in plain)} s, "
              f"with adapter {', '.join(f'{t:.2f}' for t in patched)} s", flush=True)

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"\ndevice: {device}; SDXL base random weights (UNet {unet_bytes / 2**30:.1f} GiB {dtype}), "
          f"{args.size}x{args.size}, 1 latent x CFG (2 UNet rows), euler {args.steps} steps, {args.repeats} "
          f"interleaved repeats per preset")
    print(f"{'preset':8} {'blocks':>6} {'params':>9} {'fp16 MB':>8} {'fp32 MB':>8} {'audio K/V':>10} "
          f"{'plain s':>8} {'adapter s':>9} {'RATIO':>6}")
    for preset, p_med, a_med, _plain, _patched, kv, _warm in rows:
        blocks, n = sizes[preset]
        target = "  (target <= 1.05)" if preset == "all" else ""
        print(f"{preset:8} {blocks:6d} {n / 1e6:8.1f}M {n * 2 / 1e6:8.0f} {n * 4 / 1e6:8.0f} {kv / 2**10:8.0f} KiB "
              f"{p_med:8.2f} {a_med:9.2f} {a_med / p_med:6.3f}{target}")


if __name__ == "__main__":
    main()
