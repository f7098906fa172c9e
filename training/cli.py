"""Command line of the trainer: `python -m training <command> --help` documents every option.

    init      write a fresh (untrained) adapter
    prepare   encode the data once: CLAP embeddings, VAE latents, text embeddings → <cache>
    train     run the stages on the cache; checkpoints, logs, loss curve, adapter.safetensors
    export    turn a run's checkpoint into an adapter file (and optionally a stock LoRA file)
    convert-sonicdiffusion
              convert SonicDiffusion's released pair (audio_projector_*.pth + <name>.pt) into one adapter file
    evaluate  score an adapter on the cached validation data
    score     judge any folder of (audio, image) pairs: ImageBind audio × CLIP ViT-H images (AIS, no CLAP)
    sync-score
              AV-Align of any video files with their sound (any route: this pack's, LTX-2, Wan S2V, a camera)

prepare/train/evaluate read a config file (`--config x.toml|.yaml`) and overrides: any option as
`--section.key VALUE` (listed by `train --help`) or `--set section.key=VALUE`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Allow `python -m training` from the repository root: c2d_core is a sibling package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c2d_core.config import PLACEMENTS, AdapterConfig  # noqa: E402
from c2d_core.families import FAMILIES  # noqa: E402
from c2d_core.errors import C2DError  # noqa: E402

log = logging.getLogger("training")

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
SHORTCUTS = {  # flag → config key (the long --section.key form works for every option)
    "--run-dir": ("train.run_dir", "run folder (train.run_dir)"),
    "--data": ("data.source", "data folder or manifest (data.source)"),
    "--model": ("model.checkpoint", "SD1.5 or SDXL checkpoint to train on (model.checkpoint)"),
    "--clap": ("clap.model", "audio encoder: CLAP folder or file, or imagebind_huge.pth (clap.model)"),
    "--lr": ("train.lr", "base learning rate (train.lr)"),
    "--lora-rank": ("lora.rank", "stage-2 LoRA rank (lora.rank)"),
    "--gate-lr-mult": ("stage.joint.gate_lr_mult", "stage-2 gate learning-rate multiplier (stage.joint.gate_lr_mult)"),
}


# ---- init (unchanged flags; tested by tests/unit/test_adapter_file.py::test_init_cli) ---------------
def cmd_init(args: argparse.Namespace) -> int:
    import dataclasses

    from c2d_core.adapter_file import save_adapter
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from c2d_core.placement import select_blocks

    family_given = args.family is not None
    family, blocks = args.family or "sd15", ()
    if args.checkpoint:
        from .checkpoint_layout import checkpoint_blocks

        family, model_blocks, context_dim = checkpoint_blocks(args.checkpoint, args.comfyui or None)
        if family_given and args.family != family:
            raise ValueError(f"--family {args.family} but {args.checkpoint} is a {family} checkpoint; drop --family")
        blocks = select_blocks(model_blocks, args.placement, family_layout(family).placements)
    else:
        context_dim = family_layout(family).context_dim
    cfg = AdapterConfig(clap_dim=args.clap_dim, gate_init=args.gate_init, placement=args.placement,
                        base_family=family, context_dim=context_dim, n_mlps=args.n_mlps, n_tokens=args.n_tokens,
                        hidden_dim=args.hidden_dim, clap_model_id=args.clap_model_id)
    cfg = dataclasses.replace(cfg, blocks=blocks) if blocks else cfg
    adapter = new_adapter(cfg, seed=args.seed)
    save_adapter(args.out, adapter, training_config={"command": "init", "seed": args.seed})
    n = sum(p.numel() for p in adapter.parameters())
    log.info("wrote %s: %s adapter, %d blocks, %d-wide tokens, %.1f M parameters, gates %.3g", args.out, family,
             len(adapter.blocks), context_dim, n / 1e6, args.gate_init)
    return 0


# ---- config-driven commands ----------------------------------------------------------------------
def add_config_options(p: argparse.ArgumentParser) -> None:
    from .config_io import iter_options

    p.add_argument("--config", help="config file (.toml, .yaml/.yml or .json); options below override it")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any option, e.g. --set stage.joint.steps=500 (repeatable)")
    short = p.add_argument_group("shortcuts")
    for flag, (key, help_text) in SHORTCUTS.items():
        short.add_argument(flag, dest=f"opt:{key}", metavar="VALUE", help=help_text)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for key, tp, default, help_text in iter_options():
        section = key.rsplit(".", 1)[0]
        if section not in groups:
            groups[section] = p.add_argument_group(f"[{section}]")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        groups[section].add_argument(f"--{key}", dest=f"opt:{key}", metavar=_metavar(tp),
                                     help=f"{help_text} (default: {shown})".replace("%", "%%"))


def _metavar(tp) -> str:
    import typing
    if typing.get_origin(tp) is tuple:
        return "A,B,..."
    return {bool: "BOOL", int: "INT", float: "FLOAT", str: "STR"}.get(tp, "VALUE")


def config_from_args(args: argparse.Namespace):
    from .config_io import load_config

    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt:") and v is not None}
    cfg_path = args.config
    if not cfg_path and getattr(args, "resume", "") and overrides.get("train.run_dir"):
        saved = Path(overrides["train.run_dir"]) / "config.toml"
        if saved.is_file():
            cfg_path = str(saved)   # `train --run-dir R --resume latest` continues R with its own config
    from .config_io import parse_override
    items = dict(parse_override(s) for s in args.set)
    cfg = load_config(cfg_path, overrides={**items, **overrides})
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from .loop import train

    cfg = config_from_args(args)
    result = train(cfg, resume=args.resume or "", stop_after=args.stop_after)
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.adapter_path is not None:   # the main process (the others only train)
        log.info("done: %d steps in %s; adapter %s", result.step, result.run_dir, result.adapter_path)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    cfg = config_from_args(args)
    report = prepare(cfg)
    log.info("prepared %d samples into %s (%d new, %d skipped; see skipped.json)", report.total, report.cache,
             report.encoded, len(report.skipped))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .checkpoints import CheckpointError, list_checkpoints
    from .export import export_checkpoint

    if args.checkpoint:
        ck = Path(args.checkpoint)
    else:
        found = list_checkpoints(Path(args.run_dir))
        if not found:
            raise CheckpointError(f"no complete checkpoint in {args.run_dir}/checkpoints; train first (or give "
                                  "--checkpoint)")
        ck = found[-1]
    out = Path(args.out) if args.out else Path(args.run_dir or ck.parent.parent) / "adapter.safetensors"
    export_checkpoint(ck, out, Path(args.lora_out) if args.lora_out else None)
    log.info("exported %s from %s", out, ck)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    cfg = config_from_args(args)
    decode = None
    if args.decode:
        import importlib
        module, _, name = args.decode.partition(":")
        try:
            decode = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise SystemExit(f"--decode {args.decode}: {e}; give MODULE:FUNCTION, e.g. toy.task:latent_to_rgb")
    result = evaluate(cfg, adapter_path=args.adapter, out=args.out, decode=decode)
    for k, v in result.items():
        log.info("%s: %s", k, v)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import json

    from .judge import score_folder

    result = score_folder(args.folder, args.imagebind, args.clip_vision)
    for k, v in result.items():
        log.info("%s: %s", k, v)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def cmd_sync_score(args: argparse.Namespace) -> int:
    import json

    from .sync_score import score_video

    if args.audio and len(args.videos) > 1:
        raise ValueError("--audio pairs one sound file with one video; score the videos one at a time")
    rows = [score_video(v, args.audio or None, args.max_side) for v in args.videos]
    print("| video | fps | frames | audio onsets | motion peaks | AV-Align |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['video']).name} | {r['fps']:g} | {r['frames']} | {len(r['audio_onsets'])} | "
              f"{len(r['motion_peaks'])} | {r['score']:.3f} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


def cmd_convert_sonic(args: argparse.Namespace) -> int:
    from c2d_core.adapter_file import save_adapter
    from c2d_core.sonic_convert import load_sonicdiffusion

    loaded = load_sonicdiffusion(args.projector, args.adapter)
    save_adapter(args.out, loaded.adapter, training_config={
        "command": "convert-sonicdiffusion", "projector": Path(args.projector).name, "adapter": Path(args.adapter).name})
    gates = loaded.adapter.gates()
    log.info("wrote %s: SonicDiffusion adapter, %d blocks (after text attention), gates %.3g…%.3g, CLAP %s", args.out,
             len(gates), min(gates.values()), max(gates.values()), loaded.adapter.config.clap_model_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description="CLAP2Diffusion adapter trainer",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write a fresh (untrained) adapter: the starting point of training")
    init.add_argument("--out", required=True, help="output .safetensors path")
    init.add_argument("--gate-init", type=float, default=0.0,
                      help="initial gate α of every block; 0 (default) leaves the base model unchanged")
    init.add_argument("--clap-dim", type=int, default=512, help="CLAP embedding width (512 LAION CLAP; 1024 MS-CLAP)")
    init.add_argument("--placement", default="all",
                      help=f"blocks that get audio attention: one of {list(PLACEMENTS)} or comma-separated block keys")
    init.add_argument("--seed", type=int, default=0, help="random seed of the initial weights")
    init.add_argument("--family", "--base", dest="family", default=None, choices=sorted(FAMILIES),
                      help="base model family: sd15 (default) or sdxl (real widths; SDXL fine-tunes and inpainting too)")
    init.add_argument("--checkpoint", default="", metavar="CKPT",
                      help="size the adapter from this checkpoint's UNet (its family and blocks; reads no weights)")
    init.add_argument("--comfyui", default="", help="ComfyUI folder for --checkpoint (default: $COMFYUI_PATH, ...)")
    init.add_argument("--n-mlps", type=int, default=4, help="parallel projector MLPs (1 = ablation)")
    init.add_argument("--n-tokens", type=int, default=8, help="audio tokens per clip")
    init.add_argument("--hidden-dim", type=int, default=1024, help="hidden width of each projector MLP")
    init.add_argument("--clap-model-id", default="", help="CLAP model the adapter is meant for (metadata)")
    init.set_defaults(func=cmd_init)

    prep = sub.add_parser("prepare", help="encode data once (CLAP, VAE latents, text) into the cache; incremental")
    add_config_options(prep)
    prep.set_defaults(func=cmd_prepare, resume="")

    tr = sub.add_parser("train", help="train the adapter stage by stage on the prepared cache")
    tr.add_argument("--resume", default="", metavar="latest|PATH",
                    help="continue from the newest complete checkpoint of train.run_dir (latest) or a checkpoint "
                         "folder; without --config, latest reuses <run_dir>/config.toml")
    tr.add_argument("--stop-after", type=int, default=None, metavar="N",
                    help="checkpoint and exit after N optimizer steps of this call (resume later with --resume latest)")
    add_config_options(tr)
    tr.set_defaults(func=cmd_train)

    ex = sub.add_parser("export", help="write the adapter file (for the nodes) from a run's checkpoint")
    ex.add_argument("--run-dir", default="", help="run folder: export its newest checkpoint")
    ex.add_argument("--checkpoint", default="", help="a checkpoint folder (<run_dir>/checkpoints/step_*)")
    ex.add_argument("--out", default="", help="adapter .safetensors to write (default: <run_dir>/adapter.safetensors)")
    ex.add_argument("--lora-out", default="",
                    help="also write the stage-2 LoRA alone, loadable by ComfyUI's stock LoraLoaderModelOnly")
    ex.set_defaults(func=cmd_export)

    cs = sub.add_parser("convert-sonicdiffusion",
                        help="convert SonicDiffusion's released projector + adapter pair into one adapter file")
    cs.add_argument("--projector", required=True, help="their audio projector state dict, e.g. audio_projector_landscape.pth")
    cs.add_argument("--adapter", required=True,
                    help="their UNet adapter tensors (or whole UNet state dict), e.g. landscape.pt")
    cs.add_argument("--out", required=True, help="adapter .safetensors to write (e.g. models/audio_adapters/x.safetensors)")
    cs.set_defaults(func=cmd_convert_sonic)

    ev = sub.add_parser("evaluate", help="score an adapter on the cached validation data")
    ev.add_argument("--adapter", required=True, help="adapter .safetensors to evaluate")
    ev.add_argument("--out", default="", help="write the scores as JSON here")
    ev.add_argument("--decode", default="", help="MODULE:FUNCTION turning latents of a cache in the UNet's own space "
                                                 "into pictures (no VAE decodes them), e.g. toy.task:latent_to_rgb")
    add_config_options(ev)
    ev.set_defaults(func=cmd_evaluate, resume="")

    sc = sub.add_parser("score", help="judge a folder of (audio, image) pairs with ImageBind × CLIP ViT-H (AIS)")
    sc.add_argument("folder", help="audio + image files paired by name (rain.wav + rain.png), or a .csv/.jsonl "
                                   "manifest as for prepare; at least 2 pairs")
    sc.add_argument("--imagebind", required=True, help="ImageBind's imagebind_huge.pth")
    sc.add_argument("--clip-vision", required=True,
                    help="CLIP ViT-H/14 vision file (CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors)")
    sc.add_argument("--out", default="", help="write the scores as JSON here")
    sc.set_defaults(func=cmd_score)

    ss = sub.add_parser("sync-score", help="AV-Align of video files with their sound (any route's videos)")
    ss.add_argument("videos", nargs="+", help="video files (.mp4, .webm, .mov …), each with its own sound track")
    ss.add_argument("--audio", default="", help="the sound of a silent video (one video only)")
    ss.add_argument("--max-side", type=int, default=256, help="frames are scaled to this longer side for the flow")
    ss.add_argument("--out", default="", help="write the scores (with onset and peak times) as JSON here")
    ss.set_defaults(func=cmd_sync_score)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "export" and not (args.run_dir or args.checkpoint):
        logging.error("export needs --run-dir or --checkpoint")
        return EXIT_ERROR
    try:
        return args.func(args)
    except (C2DError, ValueError, FileNotFoundError, FloatingPointError) as e:
        logging.error("%s", e)
        return EXIT_ERROR
    except KeyboardInterrupt:
        logging.error("interrupted")
        return EXIT_INTERRUPTED
