"""The main job, headless: runs workflows/audio_to_image.json in ComfyUI and prints the image's path.

Models the workflow names are taken from the ComfyUI installation when they are there (a real SD1.5
checkpoint, a CLAP folder, a trained adapter); each missing one is replaced by a random-weight
stand-in built from configs under the same name (the image is then noise — it proves the graph runs).
The audio is a synthetic rain clip written to the input folder. On a CPU the size and step count are
reduced (printed) unless --full is given.

When any model is a stand-in, the shipped toy bundle (toy/bundle) also runs through the same
graph (devtools.toy_demo: tones of four pitches → the pack's nodes → KSampler) and a labelled grid is
written: there the sound visibly decides the picture. With --audio the user's clip goes through the toy
too, and the pitch class it lands in is printed.

Usage: python -m devtools.demo [--workflow F] [--audio FILE] [--full] [--out DIR] [--toy-only | --no-toy]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = Path.home() / ".cache" / "clap2diffusion" / "demo"
log = logging.getLogger("clap2diffusion.demo")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and dst.resolve() == src.resolve():
            return
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        else:
            dst.unlink()
    dst.symlink_to(src, target_is_directory=src.is_dir())


def model_spots(names: dict) -> dict[str, tuple[str, str]]:
    """{kind: (models/ subfolder, file name)} of the models the workflow names."""
    return {"checkpoint": ("checkpoints", names["ckpt"]), "clap": ("clap", names["clap"]),
            "adapter": ("audio_adapters", names["adapter"])}


def missing_models(comfy_root: Path, names: dict) -> list[str]:
    """The kinds the ComfyUI installation does not have (they run as stand-ins)."""
    return [kind for kind, (folder, name) in model_spots(names).items()
            if not (comfy_root / "models" / folder / name).exists()]


def prepare_models(comfy_root: Path, models: Path, names: dict) -> dict[str, str]:
    """Put each model the workflow names into `models` (real one from ComfyUI, else a stand-in).
    Returns {kind: "real <path>" | "stand-in"}."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_sd15 import ensure_standins

    real = comfy_root / "models"
    report = {}
    for kind, (folder, name) in model_spots(names).items():
        src = real / folder / name
        dst = models / folder / name
        if src.exists():
            _link(src, dst)
            report[kind] = f"real {src}"
            continue
        report[kind] = "random-weight stand-in"
        if kind == "checkpoint":
            _link(ensure_standins()["sd15"], dst)
        elif kind == "clap" and not (dst / "config.json").is_file():
            make_random_clap_folder(dst, seed=0)
        elif kind == "adapter" and not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            save_adapter(dst, new_adapter(AdapterConfig(gate_init=0.5, clap_model_id=names["clap"]), seed=0))
    return report


def run_toy(host, workflow: dict, audio: str | None) -> dict:
    """The toy bundle through the workflow's graph; logs what it shows and returns devtools.toy_demo.run's dict."""
    from devtools import toy_demo
    from toy import task as S

    r = toy_demo.run(host, workflow, host.output_dir / "c2d_toy_grid.png", audio=Path(audio) if audio else None)
    log.info("ran the toy bundle through the workflow's nodes in %.1f s", r["seconds"])
    r["user_line"] = None
    if r["user_class"] is not None:
        k, classes = r["user_class"], r["rows"][-1].classes
        r["user_line"] = (f"  your clip {Path(audio).name} lands in the {S.FREQS[k]:.0f} Hz class "
                          f"({toy_demo.COLOUR_NAMES[k]} square) on the toy: {classes.count(k)} of {len(classes)} "
                          "pictures (the last row of the grid)")
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workflow", default=str(REPO / "workflows" / "audio_to_image.json"))
    ap.add_argument("--audio", help="an audio file to use instead of the synthetic rain clip (also run through the "
                                    "toy)")
    ap.add_argument("--full", action="store_true", help="keep the workflow's size and steps even on a CPU")
    ap.add_argument("--out", default=str(DEMO_DIR), help="folder for ComfyUI's input/output (default %(default)s)")
    toy = ap.add_mutually_exclusive_group()
    toy.add_argument("--toy-only", action="store_true", help="run only the toy bundle's grid (seconds)")
    toy.add_argument("--no-toy", action="store_true", help="skip the toy bundle's grid")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[demo] %(message)s")   # ComfyUI's own INFO lines stay quiet
    for name in ("clap2diffusion", "devtools"):
        logging.getLogger(name).setLevel(logging.INFO)

    from devtools.comfy_host import (NOT_FOUND, HostError, PromptExecutionError, PromptValidationError, find_comfyui,
                                     get_host)
    from devtools.workflow_api import ui_to_api

    comfy_root = find_comfyui()
    if comfy_root is None:
        print(f"[demo] {NOT_FOUND}", file=sys.stderr)
        return 2
    if args.audio and not Path(args.audio).is_file():
        print(f"[demo] --audio {args.audio}: no such file", file=sys.stderr)
        return 2
    workflow = json.loads(Path(args.workflow).read_text())
    out = Path(args.out)
    try:
        host = get_host(out / "models", out, load_pack=True, comfy_root=comfy_root)
    except HostError as e:  # e.g. a package the found ComfyUI needs is not installed: one line with the fix
        print(f"[demo] {e}", file=sys.stderr)
        return 2
    api = ui_to_api(workflow, host.nodes.NODE_CLASS_MAPPINGS)
    nodes = {n["class_type"]: n["inputs"] for n in api.values()}
    names = {"ckpt": nodes["CheckpointLoaderSimple"]["ckpt_name"], "clap": nodes["C2DCLAPLoader"]["clap_name"],
             "adapter": nodes["C2DAudioAdapterLoader"]["adapter_name"]}
    missing = missing_models(comfy_root, names)
    if not missing and not args.toy_only:
        log.info("real models installed for the whole workflow: running them (the toy grid is drawn only while a "
                 "model is a stand-in; --toy-only draws it)")
    summary = []
    try:
        if args.toy_only or (missing and not args.no_toy):
            r = run_toy(host, workflow, args.audio)
            summary += [f"toy grid written: {r['png']}",
                        f"  toy grid: the sound decides the image; each tone's pitch picked the square's colour in "
                        f"{r['correct']} of {r['total']} pictures (chance 25%), through the same nodes"]
            summary += [r["user_line"]] if r["user_line"] else []
        if not args.toy_only:
            image = run_workflow(host, comfy_root, api, nodes, names, args)
            if image is None:
                return 1
            proof = (f"  stand-in run: every real step of the pipeline ran (Load Audio, CLAP, adapter, SD1.5 "
                     f"sampler, VAE) on random-weight stand-ins for the {', '.join(missing)}, so the picture is noise"
                     if missing else "  real models: the workflow ran on your checkpoint, CLAP and adapter; the picture "
                     "is what they make of the sound")
            summary[:0] = [f"image written: {image}", proof]
    except (PromptExecutionError, PromptValidationError) as e:
        print(f"[demo] {e}", file=sys.stderr)
        return 1
    for line in summary:
        print(f"[demo] {line}")
    return 0


def run_workflow(host, comfy_root: Path, api: dict, nodes: dict, names: dict, args) -> Path | None:
    """The shipped workflow on the installed models (stand-ins for missing ones); returns the image written."""
    from devtools.demo_audio import synth, write_wav

    out = Path(args.out)
    for kind, what in prepare_models(comfy_root, out / "models", names).items():
        log.info("%-10s %s", kind, what)
    audio_name = nodes["C2DLoadAudio"]["audio"]
    if args.audio:
        shutil.copy(args.audio, host.input_dir / audio_name)
        log.info("audio      %s", args.audio)
    else:
        write_wav(host.input_dir / audio_name, synth("rain", 5.0, 44_100, 2, seed=0), 44_100)
        log.info("audio      synthetic rain, 5 s → %s", host.input_dir / audio_name)

    import comfy.model_management as mm
    if mm.get_torch_device().type == "cpu" and not args.full:
        latent, sampler = nodes["EmptyLatentImage"], nodes["KSampler"]
        log.info("no GPU: %d×%d, %d steps reduced to 256×256, 4 steps (--full keeps them)",
                 latent["width"], latent["height"], sampler["steps"])
        latent.update(width=256, height=256)
        sampler["steps"] = 4
    t0 = time.perf_counter()
    result = host.run(api)
    images = [f for f in result["files"] if f.suffix == ".png"]
    log.info("ran the workflow in %.1f s", time.perf_counter() - t0)
    return images[0] if images else None


if __name__ == "__main__":
    sys.exit(main())
