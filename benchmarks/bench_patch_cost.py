"""Cost of the audio patch on one UNet call, without the rest of a ComfyUI run (loading, audio encoding, caching).

ComfyUI's own UNet class at the family's real size (random weights, built from the family's declared layout), one
CFG call (2 rows), with the adapter's hooks installed as the Apply node installs them ÷ without:
  - FLOPs counted by torch's FlopCounterMode (exact, independent of other load on the machine);
  - wall time, A/B calls interleaved, median and fastest.
This is the floor the sampling benchmarks (bench_inference, bench_sonic, bench_sdxl) can reach.

Usage: python -m benchmarks.bench_patch_cost [--adapter sonic|mlp4] [--family sd15|sdxl] [--placement all]
       [--size 512] [--repeats 3]     (SD1.5 at 512² on 2 CPU cores: about 30 s per call)
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._host import add_float_mode_option, float_mode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", choices=("sonic", "mlp4"), default="sonic")
    ap.add_argument("--family", choices=("sd15", "sdxl"), default="sd15")
    ap.add_argument("--placement", default="all", help="mlp4 only (sonic: its own 10 blocks)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    add_float_mode_option(ap)
    args = ap.parse_args(argv)
    floats = float_mode(args.keep_denormals)   # first: before torch starts its threads

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import comfy_locator
    comfy_locator.import_comfy(None, cpu=True)
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from c2d_core.patch import AudioAttentionPatch
    from c2d_core.seeded_init import seeded_tensor
    from c2d_core.sonic_convert import sonic_config
    from training.model import layout_unet_config

    if args.adapter == "sonic" and args.family != "sd15":
        ap.error("SonicDiffusion adapters are SD1.x only")
    layout = family_layout(args.family)
    unet = UNetModel(**layout_unet_config(layout), operations=comfy.ops.disable_weight_init).eval().requires_grad_(False)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            p.copy_(seeded_tensor(name, tuple(p.shape), 0, 0.3))
    cfg = sonic_config() if args.adapter == "sonic" else AdapterConfig(
        base_family=args.family, context_dim=layout.context_dim, placement=args.placement)
    adapter = new_adapter(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        for block in adapter.blocks.values():
            block.gate.fill_(0.5)
    patch = AudioAttentionPatch(adapter, torch.randn(1, adapter.config.clap_dim))

    latent = args.size // 8
    x = torch.randn(2, 4, latent, latent)
    context = torch.randn(2, 77, layout.context_dim)
    y = torch.randn(2, layout.adm_in_channels) if layout.adm_in_channels else None

    def call(patches):
        options = {"patches": patches, "cond_or_uncond": [1, 0], "sigmas": torch.tensor([5.0, 5.0])}
        with torch.no_grad():
            unet(x, timesteps=torch.tensor([500.0, 500.0]), context=context, y=y, transformer_options=options)

    def flops(patches):
        with FlopCounterMode(display=False) as counter:
            call(patches)
        return counter.get_total_flops()

    call(patch.hooks())   # builds the audio K/V once, as the first sampling step does
    plain_flops, patched_flops = flops({}), flops(patch.hooks())
    plain, patched = [], []
    for _ in range(args.repeats):
        for patches, bucket in (({}, plain), (patch.hooks(), patched)):
            t0 = time.perf_counter()
            call(patches)
            bucket.append(time.perf_counter() - t0)

    print(f"{layout.name} UNet (ComfyUI's class, random weights), {args.size}x{args.size}, 2 rows (CFG); adapter "
          f"{args.adapter}, {len(adapter.blocks)} blocks, {adapter.config.n_tokens} tokens; threads "
          f"{torch.get_num_threads()}; {floats}")
    print(f"FLOPs per call: without {plain_flops / 1e9:.1f} G, with {patched_flops / 1e9:.1f} G, "
          f"RATIO {patched_flops / plain_flops:.4f}")
    print(f"time per call without: median {statistics.median(plain):.2f} s ({', '.join(f'{t:.2f}' for t in plain)})")
    print(f"time per call with:    median {statistics.median(patched):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in patched)})")
    print(f"RATIO with/without: median {statistics.median(patched) / statistics.median(plain):.3f}, "
          f"fastest {min(patched) / min(plain):.3f}")


if __name__ == "__main__":
    main()
