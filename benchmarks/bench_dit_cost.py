"""Cost of the audio adapter on DiTs: one sampling step (CFG, 2 rows) with the adapter ÷ without, per family and
placement preset, at the family's real width; adapter size per preset.

The transformer is ComfyUI's own class at the real width with fewer blocks (default 1 double- + 1 single-stream
block: FLOPs per block do not depend on depth, so `all` on the full model has the ratio of the blocks it selects),
random weights (devtools/standin_dit.py); the adapter is installed as the Apply node installs it
(`patches_replace["dit"]`, or Z-Image's `patches["double_block"]`), gates 0.5, its audio K/V built by a first call
as in sampling. FLOPs from torch's FlopCounterMode (exact); wall time A/B interleaved (order alternating), the median
of the pairs' ratios and the fastest of each; presets selecting the same blocks of the reduced model are measured once.
Adapter sizes are for the full model (the family's declared layout).

Video families (Wan) run a clip of --frames latent frames (default 21 = 81 video frames) with one embedding per
video frame (frame-local audio).

Usage: python -m benchmarks.bench_dit_cost [--family flux|chroma|sd3|qwen_image|z_image|wan] [--size 512]
       [--height H] [--blocks 1,1] [--repeats 3] [--frames 21] [--device cpu|gpu]
       (Flux at 512², one block per stream: ≈ 10 s per step, 2 cores)
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._host import add_float_mode_option, float_mode

LATENT_CHANNELS = {"flux": 16, "chroma": 16, "sd3": 16, "qwen_image": 16, "z_image": 16, "wan": 16}
VIDEO = {"wan": 21}   # latent frames of the video families' benchmark clip (Wan: 81 video frames)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="flux", choices=sorted(LATENT_CHANNELS))
    ap.add_argument("--size", type=int, default=512, help="image width in pixels (latent = size / 8)")
    ap.add_argument("--height", type=int, default=0, help="image height in pixels (default: --size; Wan 480p: "
                                                          "--size 832 --height 480)")
    ap.add_argument("--blocks", default="1,1", help="double-stream, single-stream blocks of the reduced-depth model")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=0, help="video families: latent frames (default: 21 = 81 frames)")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                    help="gpu: ComfyUI picks its accelerator (Wan 1.3B whole: --blocks 30,0 --size 832 --height 480)")
    add_float_mode_option(ap)
    args = ap.parse_args(argv)
    floats = float_mode(args.keep_denormals)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import comfy_locator
    comfy_locator.import_comfy(None, cpu=True if args.device == "cpu" else None)   # gpu: CPU only when none is seen
    import nodes

    from c2d_core.audio_attention import GatedAudioAttention
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from c2d_core.patch import AudioAttentionPatch
    from c2d_core.placement import select_blocks
    from devtools.standin_dit import dit_conditioning, dit_patcher

    blocks = tuple(int(n) for n in args.blocks.split(","))
    layout = family_layout(args.family)
    model = dit_patcher(args.family, width="full", blocks=blocks)
    found, width = layout.discover(model.model.diffusion_model)
    height = args.height or args.size
    frames = (args.frames or VIDEO[args.family]) if args.family in VIDEO else 0
    shape = (1, LATENT_CHANNELS[args.family], *((frames,) if frames else ()), height // 8, args.size // 8)
    latent = {"samples": torch.zeros(shape)}
    n_embeds = 4 * (frames - 1) + 1 if frames else 1   # video: one embedding per video frame (frame-local audio)
    embeds = torch.nn.functional.normalize(torch.randn(n_embeds, 512, generator=torch.Generator().manual_seed(0)),
                                           dim=-1)

    def step(patcher):
        with torch.no_grad():
            nodes.common_ksampler(patcher, 1, 1, 2.0, "euler", "simple", dit_conditioning(args.family),
                                  dit_conditioning(args.family, seed=1), latent, disable_noise=False)

    def flops(patcher) -> int:
        with FlopCounterMode(display=False) as counter:
            step(patcher)
        return counter.get_total_flops()

    streams = {s: sum(b.stage == s for b in found) for s in ("double", "single")}
    print(f"{layout.name} at its real width ({width}, {found[0].heads} heads), {streams['double']} double-stream + "
          f"{streams['single']} single-stream blocks, {args.size}×{height}"
          f"{f' × {frames} latent frames, {n_embeds} per-frame embeddings' if frames else ''} (2 rows: CFG), "
          "1 euler step; threads "
          f"{torch.get_num_threads()}; {floats}")
    plain_flops = flops(model)
    measured = {}   # chosen blocks → the preset measured with them
    for preset in layout.placements:
        chosen = select_blocks(found, preset, layout.placements) if any(
            layout.placements[preset].selects(b) for b in found) else ()
        if not chosen:
            continue
        if tuple(chosen) in measured:   # the reduced-depth model: presets that pick the same blocks cost the same
            print(f"{preset:>7}: the same blocks as {measured[tuple(chosen)]}")
            continue
        measured[tuple(chosen)] = preset
        adapter = new_adapter(AdapterConfig(base_family=args.family, context_dim=width, blocks=chosen,
                                            placement=preset, gate_init=0.5)).eval().requires_grad_(False)
        patch = AudioAttentionPatch(adapter, embeds)
        patched = model.clone()
        installed = patch.transformer_patches()
        for name, fns in installed.get("patches", {}).items():
            for fn in fns:
                patched.set_model_patch(fn, name)
        for (name, index), fn in installed.get("patches_replace", {}).get("dit", {}).items():
            patched.set_model_patch_replace(fn, "dit", name, index)
        step(patched)   # the audio K/V, once per run
        with_flops = flops(patched)
        times = {"without": [], "with": []}
        for r in range(args.repeats):   # A/B interleaved, the order alternating
            for label, m in ((("without", model), ("with", patched))[::1 if r % 2 == 0 else -1]):
                t0 = time.perf_counter()
                step(m)
                times[label].append(time.perf_counter() - t0)
        pairs = [w / wo for w, wo in zip(times["with"], times["without"])]
        full = select_blocks(layout.blocks(), preset, layout.placements)
        with torch.device("meta"):   # one block at the declared (full model's) width
            spec = full[0]
            per_block = sum(p.numel() for p in GatedAudioAttention(
                query_dim=spec.query_dim, context_dim=layout.context_dim, heads=spec.heads,
                dim_head=spec.dim_head).parameters())
        print(f"{preset:>7}: FLOPs RATIO {with_flops / plain_flops:.4f} ({plain_flops / 1e12:.3f} → "
              f"{with_flops / 1e12:.3f} TFLOP); time RATIO median of {len(pairs)} pairs {statistics.median(pairs):.3f} "
              f"(pairs {min(pairs):.3f}–{max(pairs):.3f}), fastest "
              f"{min(times['with']) / min(times['without']):.3f} (without: median "
              f"{statistics.median(times['without']):.2f} s); the declared {layout.name} model "
              f"({layout.hidden_size} wide): {len(full)} blocks, {len(full) * per_block / 1e6:.0f} M block parameters")


if __name__ == "__main__":
    main()
