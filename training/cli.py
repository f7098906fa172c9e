"""Command line of the trainer: `python -m training <command> --help` documents every option."""
from __future__ import annotations

import argparse
import logging
import os
import sys

# Allow `python -m training` from the repository root: c2d_core is a sibling package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c2d_core.config import PLACEMENTS, AdapterConfig  # noqa: E402
from c2d_core.errors import C2DError  # noqa: E402


def cmd_init(args: argparse.Namespace) -> int:
    from c2d_core.adapter_file import save_adapter
    from c2d_core.factory import new_adapter

    cfg = AdapterConfig(clap_dim=args.clap_dim, gate_init=args.gate_init, placement=args.placement,
                        base_family=args.base, n_mlps=args.n_mlps, n_tokens=args.n_tokens,
                        hidden_dim=args.hidden_dim, clap_model_id=args.clap_model_id)
    adapter = new_adapter(cfg, seed=args.seed)
    save_adapter(args.out, adapter, training_config={"command": "init", "seed": args.seed})
    n = sum(p.numel() for p in adapter.parameters())
    logging.info("wrote %s: %d blocks, %.1f M parameters, gates %.3g", args.out, len(adapter.blocks), n / 1e6,
                 args.gate_init)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description="CLAP2Diffusion adapter trainer")
    sub = p.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write a fresh (untrained) adapter: the starting point of training")
    init.add_argument("--out", required=True, help="output .safetensors path")
    init.add_argument("--gate-init", type=float, default=0.0,
                      help="initial gate α of every block; 0 (default) leaves the base model unchanged")
    init.add_argument("--clap-dim", type=int, default=512, help="CLAP embedding width (512 LAION CLAP; 1024 MS-CLAP)")
    init.add_argument("--placement", default="all",
                      help=f"blocks that get audio attention: one of {list(PLACEMENTS)} or comma-separated block keys")
    init.add_argument("--seed", type=int, default=0, help="random seed of the initial weights")
    init.add_argument("--base", default="sd15", help="base model family (sd15)")
    init.add_argument("--n-mlps", type=int, default=4, help="parallel projector MLPs (1 = ablation)")
    init.add_argument("--n-tokens", type=int, default=8, help="audio tokens per clip")
    init.add_argument("--hidden-dim", type=int, default=1024, help="hidden width of each projector MLP")
    init.add_argument("--clap-model-id", default="", help="CLAP model the adapter is meant for (metadata)")
    init.set_defaults(func=cmd_init)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (C2DError, ValueError) as e:
        logging.error("%s", e)
        return 2
