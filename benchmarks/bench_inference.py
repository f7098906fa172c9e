"""Inference cost of the audio adapter, measured in one run inside real ComfyUI (random weights).

Prints:
  - sampling time with the adapter applied ÷ without (SD1.5, 1 latent with CFG = 2 UNet rows per step,
    KSampler euler; denoising loop only; A/B runs interleaved, see benchmarks/_ab.py); target ≤ 1.05;
  - CLAP encode time of a 10 s clip (HTSAT-tiny at its real size, random weights);
  - extra memory of the applied adapter (parameters at the UNet's dtype + cached audio K/V).

Usage: python -m benchmarks.bench_inference [--size 512] [--steps 3] [--repeats 3]
(on 2 CPU cores, 512² takes about 15 min; --size 256 about 4 min).
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._host import add_float_mode_option, float_mode

CACHED_NODES = {"1", "2", "3", "4", "10", "11", "12", "13", "14", "20"}   # all but the sampler: cached when timed


def graph(ckpt, size, steps, seed, patched):
    """API prompt. Both sides hold the same audio nodes and an embeds preview (an output, so they run): ComfyUI's
    cache keeps them between the alternating prompts, both runs have the same models loaded, and only the KSampler's
    model differs. (When only the patched prompt held them, every patched run re-ran the CLAP encode first.)"""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "bench.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": "bench-clap"}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": "bench.safetensors"}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0] if patched else ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "bench"}},
        "20": {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "size": 64}},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    add_float_mode_option(ap)
    args = ap.parse_args(argv)
    floats = float_mode(args.keep_denormals)   # first: before torch starts its threads

    import torch

    from c2d_core.encoder_registry import load_audio_encoder
    from c2d_core.config import AdapterConfig
    from devtools.demo_audio import synth

    from ._ab import interleave
    from ._host import bench_host, make_workspace

    work = make_workspace("c2d_bench_", adapters={"bench.safetensors": AdapterConfig(gate_init=0.5)},
                          sounds={"bench.wav": ("rain", 10.0)}, clap_name="bench-clap", clap_tiny=False)
    host = bench_host(work)
    clap_dir = work / "models" / "clap" / "bench-clap"

    # CLAP encode, 10 s clip, real HTSAT-tiny size
    enc = load_audio_encoder(clap_dir)
    wav = torch.from_numpy(synth("rain", 10.0, 44_100, 2))
    enc.encode(wav, 44_100)
    clap_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        enc.encode(wav, 44_100)
        clap_times.append(time.perf_counter() - t0)
    clap_params = sum(p.numel() for p in enc.model.parameters())
    del enc

    ab = interleave(host, lambda patched, seed: graph("sd15.safetensors", args.size, args.steps, seed, patched),
                    args.repeats, cached=CACHED_NODES)
    model = ab.warm_patched["outputs"]["14"][0]
    [patch] = model.model_options["transformer_options"]["patches"]["middle_patch"]
    dtype = model.model.get_dtype()
    adapter_bytes = sum(p.numel() for p in patch.adapter.parameters()) * torch.finfo(dtype).bits // 8
    kv_bytes = patch.kv_cache_bytes()
    unet_bytes = sum(p.numel() * p.element_size() for p in model.model.diffusion_model.parameters())

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}, torch threads {torch.get_num_threads()}; SD1.5 random weights, UNet {dtype}, "
          f"{args.size}x{args.size}, 1 latent x CFG (2 UNet rows), euler {args.steps} steps, {args.repeats} "
          f"interleaved repeats; {floats}")
    for line in ab.report(target=1.05):
        print(line)
    print(f"CLAP encode, 10 s clip (HTSAT-tiny size, {clap_params / 1e6:.1f} M audio params): "
          f"median {statistics.median(clap_times) * 1000:.0f} ms")
    print(f"adapter extra memory: parameters {adapter_bytes / 2**20:.1f} MiB ({dtype}) + cached audio K/V "
          f"{kv_bytes / 2**10:.1f} KiB = {(adapter_bytes + kv_bytes) / unet_bytes:.1%} of the UNet "
          f"({unet_bytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
