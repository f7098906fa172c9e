"""The main job, headless: runs workflows/audio_to_image.json in ComfyUI and prints the image's path.

Models the workflow names are taken from the ComfyUI installation when they are there (a real SD1.5
checkpoint, a CLAP folder, a trained adapter); each missing one is replaced by a random-weight
stand-in built from configs under the same name (the image is then noise — it proves the graph runs).
The audio is a synthetic rain clip written to the input folder. On a CPU the size and step count are
reduced (printed) unless --full is given.

Usage: python -m devtools.demo [--workflow F] [--audio FILE] [--full] [--out DIR]
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


def prepare_models(comfy_root: Path, models: Path, names: dict) -> dict[str, str]:
    """Put each model the workflow names into `models` (real one from ComfyUI, else a stand-in).
    Returns {kind: "real <path>" | "stand-in"}."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_sd15 import ensure_standins

    real = comfy_root / "models"
    spots = {"checkpoint": ("checkpoints", names["ckpt"]), "clap": ("clap", names["clap"]),
             "adapter": ("audio_adapters", names["adapter"])}
    report = {}
    for kind, (folder, name) in spots.items():
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workflow", default=str(REPO / "workflows" / "audio_to_image.json"))
    ap.add_argument("--audio", help="an audio file to use instead of the synthetic rain clip")
    ap.add_argument("--full", action="store_true", help="keep the workflow's size and steps even on a CPU")
    ap.add_argument("--out", default=str(DEMO_DIR), help="folder for ComfyUI's input/output (default %(default)s)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[demo] %(message)s")

    from devtools.comfy_host import NOT_FOUND, find_comfyui, get_host
    from devtools.demo_audio import synth, write_wav
    from devtools.workflow_api import ui_to_api

    comfy_root = find_comfyui()
    if comfy_root is None:
        print(f"[demo] {NOT_FOUND}", file=sys.stderr)
        return 2
    workflow = json.loads(Path(args.workflow).read_text())
    out = Path(args.out)
    host = get_host(out / "models", out, load_pack=True, comfy_root=comfy_root)
    api = ui_to_api(workflow, host.nodes.NODE_CLASS_MAPPINGS)
    nodes = {n["class_type"]: n["inputs"] for n in api.values()}
    names = {"ckpt": nodes["CheckpointLoaderSimple"]["ckpt_name"], "clap": nodes["C2DCLAPLoader"]["clap_name"],
             "adapter": nodes["C2DAudioAdapterLoader"]["adapter_name"]}
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
    for f in images:
        print(f"[demo] image written: {f}")
    return 0 if images else 1


if __name__ == "__main__":
    sys.exit(main())
