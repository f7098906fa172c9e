"""Trainer overhead: a stage-1 training step vs a bare frozen-UNet forward + backward on the same batch.

    python benchmarks/train_step_time.py [--batch 16] [--latent 16] [--steps 60] [--channels 32]
    python benchmarks/train_step_time.py --checkpoint sd15.safetensors --latent 64 --batch 4 --checkpointing \
        --mixed-precision bf16          # the SD1.5 512² target on a GPU (≤ 12 GB)
    python benchmarks/train_step_time.py --family sdxl [--channels 64] [--placement all]
                                        # the reduced-width SDXL (70 blocks, context 2048, ADM 2816)
    python benchmarks/train_step_time.py --family sdxl --checkpoint sdxl.safetensors --latent 128 --batch 1 \
        --checkpointing --mixed-precision bf16     # the SDXL 1024² target on a GPU (≤ 16 GB)
    python benchmarks/train_step_time.py --family flux [--full-width] [--placement all|double|single]
                                        # a tiny Flux (training/tiny_dit.py), or Flux.1's real width (3072, text
                                        # 4096) with one double- and one single-stream block, written to a
                                        # diffusion-model-only file and loaded by the trainer's own loader
    python benchmarks/train_step_time.py --family flux --checkpoint flux1-dev.safetensors --latent 128 --batch 1 \
        --checkpointing --mixed-precision bf16     # Flux 1024² training peak memory on a GPU

"Bare" is the least any adapter inside the UNet costs: the frozen UNet's forward and the backward
through it (to its input). The trainer step is the real loop's `Trainer.train_step` (data, noise, the patched UNet
with the audio modules, backward, clipping, AdamW, schedule). On SDXL both get ComfyUI's ADM vector `y` (pooled
text + size/crop embeddings, training/adm.py) for the same 77×2048 text context; on a DiT both go through ComfyUI's
apply_model with the same text tokens and pooled vector (training/objective.py predict_dit). Prints
the ratio (target ≤ 1.15 in stage 1), samples/s and peak memory; not a test (timings vary by machine).
Both are timed in interleaved rounds (min and median), so load from other processes hits both alike.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_sdxl_cache(cache: Path, task, labels: list) -> None:
    """The toy task's latents and embeddings with what SDXL needs besides: (77, 2048) text, 1280-d pooled text and
    each image's geometry (original 1024×768, no crop, target = the latent's pixel size)."""
    import torch

    from toy import task as S
    from training.cache import CacheWriter

    g = torch.Generator().manual_seed(0)
    text, pooled = torch.randn(task.context_len, task.context_dim, generator=g) * 0.5, torch.randn(1280, generator=g)
    x0, embeds, px = S.latents(labels, task, 1), S.fake_embed(labels, 512, 0), task.latent_size * 8
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": "stand-in",
                            "clap_dim": 512}, shard_size=256)
    for i, (e, k) in enumerate(zip(embeds, labels)):
        w.add(f"s{i:05d}", "synthetic", clap=e, latent=x0[i], text=text, pooled=pooled, size=(1024, 768, 0, 0, px, px),
              label=str(k))
    w.set_null_text(torch.zeros_like(text), torch.zeros(1280))
    w.close()


def write_dit_cache(cache: Path, task, labels: list, pooled_dim: int) -> None:
    """The toy task's 16-channel latents and embeddings with a DiT's text tokens (context_len × context_dim) and a
    pooled vector (pooled_dim; read by Flux.1 and SD3, ignored by the others)."""
    import torch

    from toy import task as S
    from training.cache import CacheWriter

    g = torch.Generator().manual_seed(0)
    text, pooled = torch.randn(task.context_len, task.context_dim, generator=g) * 0.5, torch.randn(pooled_dim, generator=g)
    x0, embeds = S.latents(labels, task, 1), S.fake_embed(labels, 512, 0)
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": "stand-in",
                            "clap_dim": 512}, shard_size=256)
    for i, (e, k) in enumerate(zip(embeds, labels)):
        w.add(f"s{i:05d}", "synthetic", clap=e, latent=x0[i], text=text, pooled=pooled, label=str(k))
    w.set_null_text(torch.zeros_like(text), torch.zeros_like(pooled))
    w.close()


def write_full_width_flux(path: Path) -> Path:
    """A diffusion-model-only file of a Flux.1-width model (3072 wide, 24 heads, text 4096, pooled 768) with one
    double- and one single-stream block, random weights, in the real key layout (ComfyUI detects it as Flux)."""
    import torch
    from safetensors.torch import save_file

    from training.tiny_dit import build_dit

    full = {"hidden_size": 3072, "num_heads": 24, "mlp_ratio": 4.0, "axes_dim": [16, 56, 56], "context_in_dim": 4096,
            "vec_in_dim": 768}
    model = build_dit("flux", overrides=full, blocks=(1, 1), dtype=torch.bfloat16)
    save_file({k: v.contiguous() for k, v in model.diffusion_model.state_dict().items()}, str(path))
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--latent", type=int, default=16, help="latent side (8×8 = 64 px images)")
    p.add_argument("--channels", type=int, default=32, help="tiny UNet model_channels")
    p.add_argument("--hidden", type=int, default=128, help="projector hidden width")
    p.add_argument("--steps", type=int, default=60, help="timed steps (after 10 warm-up steps)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps of each before timing")
    p.add_argument("--round-steps", type=int, default=4, help="steps per timed round (rounds = max(3, steps/this))")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--checkpointing", action="store_true", help="with gradient checkpointing in the trainer")
    p.add_argument("--checkpoint", default="", help="an SD1.5 checkpoint instead of the tiny UNet (context 768); "
                                                     "with --latent 64 that is 512² images")
    p.add_argument("--family", default="sd15", choices=("sd15", "sdxl", "flux", "chroma", "sd3", "qwen_image",
                                                        "z_image"),
                   help="sdxl: the reduced-width SDXL (model_channels --channels) or --checkpoint an SDXL file; "
                        "77×2048 text, pooled text and image sizes in the cache; a DiT family: its tiny model "
                        "(training/tiny_dit.py), --full-width (flux) or --checkpoint a file of that family")
    p.add_argument("--full-width", action="store_true", help="flux: Flux.1's real width (3072, 24 heads, text 4096, "
                                                             "pooled 768) with one double- and one single-stream block")
    p.add_argument("--text-tokens", type=int, default=4, help="DiTs: text tokens per caption (Flux: 256 or 512)")
    p.add_argument("--placement", default="all", help="adapter.placement (SDXL presets: all, mid_up, up, light)")
    p.add_argument("--mixed-precision", default="no", choices=("no", "bf16", "fp16"),
                   help="train.mixed_precision (bf16 on a GPU also stores the frozen UNet in bf16)")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from training.host import import_comfy
    import_comfy()
    from toy import task as S
    from training.config_io import load_config
    from training.loop import Trainer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(tempfile.mkdtemp(prefix="c2d_steptime_"))
    sdxl = args.family == "sdxl"
    dit = args.family not in ("sd15", "sdxl")
    checkpoint = args.checkpoint
    if dit:
        from toy import flux as X
        text_dim, pooled_dim = (4096, 768) if args.full_width or checkpoint else (X.TEXT_DIM, X.POOLED_DIM)
        if args.full_width:
            checkpoint = str(write_full_width_flux(work / "flux_full_width.safetensors"))
        task = S.Task(train_per_class=max(8, args.batch), latent_size=args.latent, channels=16,
                      context_dim=text_dim, context_len=args.text_tokens)
    else:
        task = S.Task(train_per_class=max(8, args.batch), latent_size=args.latent,
                      context_dim=2048 if sdxl else 768 if args.checkpoint else 32, context_len=77 if sdxl else 4)
    labels = [k for k in range(4) for _ in range(task.train_per_class)]
    if sdxl:
        write_sdxl_cache(work / "cache", task, labels)
    elif dit:
        write_dit_cache(work / "cache", task, labels, pooled_dim)
    else:
        S.write_cache(work / "cache", task, S.fake_embed(labels, 512, 0), labels, S.latents(labels, task, 1), "stand-in")
    warm, n, per_round = args.warmup, args.steps, max(1, args.round_steps)
    cfg = load_config(None, {
        "model.tiny": not checkpoint, "model.checkpoint": checkpoint,
        "model.tiny_unet.model_channels": args.channels, "adapter.hidden_dim": args.hidden,
        "model.tiny_unet.family": "sd15" if dit else args.family, "model.tiny_unet.context_dim": task.context_dim,
        "model.tiny_unet.num_heads": 2, "adapter.placement": args.placement,
        "model.tiny_dit.family": args.family if dit and not checkpoint else "",
        "data.cache": str(work / "cache"), "data.val_fraction": 0.0, "train.run_dir": str(work / "run"),
        "train.batch_size": args.batch, "train.stages": ("align",), "stage.align.steps": 10 ** 6,
        "train.progress": False, "train.tensorboard": False, "train.mixed_precision": args.mixed_precision,
        "model.gradient_checkpointing": args.checkpointing})

    trainer = Trainer(cfg)
    run = trainer.begin_stage(trainer.stages[0])        # stage 1: projector + gated attention (gates from 0)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def trainer_step():
        trainer.train_step(run)                         # data, noise, patched UNet, backward, clip, AdamW
        trainer.state.step += 1

    # --- bare frozen UNet forward + backward (to its input) on the same batch ------------------------
    base, ms, unet = trainer.base, trainer.base.model_sampling, trainer.base.unet
    b = trainer._batch(trainer.sampler.indices(0, 0, 0))
    rnd = trainer._noise(tuple(b["latent"].shape), 0, 0)
    sigma = ms.sigmas.to(device)[rnd.t.to(device)].float()
    x_noisy = ms.noise_scaling(sigma, rnd.noise.to(device), b["latent"])

    dtype = next(unet.parameters()).dtype
    extra = {}
    if trainer.uses_adm:                                # SDXL: the same ADM vector the trainer builds per step
        from training.adm import adm_vector
        extra["y"] = adm_vector(base.model, b["pooled"], b["size"]).to(device, dtype)

    def bare():
        if dit:   # the same apply_model call as the trainer's, without the adapter
            from training.objective import predict_dit
            with trainer.acc.autocast():
                v = predict_dit(base.model, None, x_noisy.detach().requires_grad_(True), sigma, b["text"], None,
                                pooled=b.get("pooled"))
                torch.nn.functional.mse_loss(v, rnd.noise.to(device)).backward()
            return
        xc = ms.calculate_input(sigma, x_noisy).to(dtype).detach().requires_grad_(True)
        with trainer.acc.autocast():
            out = unet(xc, ms.timestep(sigma).float(), context=b["text"].to(dtype),
                       transformer_options={"cond_or_uncond": [0]}, **extra)
        torch.nn.functional.mse_loss(out.float(), rnd.noise.to(device)).backward()

    # interleaved rounds, min and median per round: robust to other load on a shared machine
    from training.host import differentiable_kernels

    times = {"bare": [], "trainer": []}
    with differentiable_kernels():      # as Trainer.run: ComfyUI's models on their differentiable paths
        for f in (bare, trainer_step):
            for _ in range(warm):
                f()
        rounds = max(3, n // per_round)
        for _ in range(rounds):
            for name, f in (("bare", bare), ("trainer", trainer_step)):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(per_round):
                    f()
                if device == "cuda":
                    torch.cuda.synchronize()
                times[name].append((time.perf_counter() - t0) / per_round)
    bare_s, step_s = min(times["bare"]), min(times["trainer"])
    med = statistics.median(times["trainer"]) / statistics.median(times["bare"])
    train_peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else peak_rss_mb()

    n_unet = sum(p.numel() for p in unet.parameters())
    n_adapter = sum(p.numel() for p in trainer.trainable.adapter.parameters())
    name = "Flux.1 width, 1 double + 1 single block" if args.full_width else Path(checkpoint).name if checkpoint else \
        f"tiny {args.family} DiT" if dit else (f"reduced-width SDXL (model_channels {args.channels}, "
                                                               "context 2048)" if sdxl else
                                                               f"tiny UNet (model_channels {args.channels})")
    print(f"{name}: {n_unet / 1e6:.2f} M params, adapter {n_adapter / 1e6:.2f} M "
          f"({len(trainer.trainable.adapter.blocks)} blocks, placement {args.placement}), batch {args.batch}, latent {args.latent}×{args.latent}, "
          f"{device}, {args.threads} threads, mixed precision {args.mixed_precision}, UNet {dtype}, "
          f"gradient checkpointing {'on' if args.checkpointing else 'off'}")
    print(f"bare frozen-UNet forward+backward: {bare_s * 1000:.1f} ms/step")
    print(f"trainer stage-1 step:              {step_s * 1000:.1f} ms/step  ({args.batch / step_s:.3g} samples/s)")
    print(f"ratio trainer / bare:              {step_s / bare_s:.3f} (fastest rounds), {med:.3f} (median rounds); "
          "target ≤ 1.15")
    print(f"peak memory: {train_peak:.0f} MB ({'CUDA allocated' if device == 'cuda' else 'process RSS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
