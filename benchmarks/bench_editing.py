"""Cost of an audio edit, measured in one run inside real ComfyUI (random SD1.5 weights).

Prints (inversion + edit) time ÷ one plain generation (KSampler, euler, same steps, size and CFG;
target ≤ 2.2) and the memory of the kept trajectory (latents only).

Usage: python -m benchmarks.bench_editing [--size 512] [--steps 10] [--refine 0] [--cfg 5]
"""
from __future__ import annotations

import argparse
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--refine", type=int, default=0)
    ap.add_argument("--cfg", type=float, default=5.0)
    args = ap.parse_args(argv)

    from PIL import Image

    from c2d_core.config import AdapterConfig

    from ._host import bench_host, make_workspace

    work = make_workspace("c2d_bench_edit_", adapters={"a.safetensors": AdapterConfig(gate_init=0.5)},
                          sounds={"a.wav": ("rain", 5.0)})
    host = bench_host(work)
    Image.new("RGB", (args.size, args.size), (90, 120, 200)).save(host.input_dir / "src.png")

    S, cfg = args.size, args.cfg
    common = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "20": {"class_type": "LoadImage", "inputs": {"image": "src.png"}},
        "21": {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["1", 2]}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "a.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": "clap"}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": "a.safetensors"}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
    }

    def plain(seed):
        return {**common, "4": {"class_type": "EmptyLatentImage", "inputs": {"width": S, "height": S, "batch_size": 1}},
                "5": {"class_type": "KSampler", "inputs": {
                    "model": ["14", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
                    "seed": seed, "steps": args.steps, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal",
                    "denoise": 1.0}},
                "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "b"}}}

    def edit(refine):
        return {**common,
                "22": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal",
                                                                  "steps": args.steps, "denoise": 1.0}},
                "23": {"class_type": "C2DInvertLatent", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                                   "latent": ["21", 0], "sigmas": ["22", 0],
                                                                   "refine_steps": refine}},
                "24": {"class_type": "C2DAudioEditSampler", "inputs": {"inverted": ["23", 0], "feature_fraction": 0.8,
                                                                       "attention_fraction": 0.5}},
                "25": {"class_type": "SamplerCustom", "inputs": {
                    "model": ["14", 0], "add_noise": False, "noise_seed": 0, "cfg": cfg, "positive": ["2", 0],
                    "negative": ["3", 0], "sampler": ["24", 0], "sigmas": ["22", 0], "latent_image": ["23", 0]}},
                "6": {"class_type": "SaveLatent", "inputs": {"samples": ["25", 0], "filename_prefix": "b"}}}

    host.run(plain(0), fresh=False)      # warm-up: loads models, encodes audio and the source image
    host.run(edit(args.refine + 1), fresh=False)
    t0 = time.perf_counter()
    host.run(plain(1), fresh=False)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = host.run(edit(args.refine), fresh=False)   # new refine value: inversion and edit both re-run
    t_edit = time.perf_counter() - t0
    traj = result["outputs"]["23"][0]["c2d_inversion"].trajectory
    print(f"SD1.5 random weights, {S}x{S}, {args.steps} steps, cfg {cfg}, refine_steps {args.refine}")
    print(f"plain generation: {t_plain:.2f} s; inversion + edit: {t_edit:.2f} s")
    print(f"RATIO (inversion + edit) / plain = {t_edit / t_plain:.2f}  (target <= 2.2)")
    print(f"kept trajectory: {len(traj.latents)} latents, {traj.nbytes() / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
