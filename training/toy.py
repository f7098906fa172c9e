"""The shipped toy bundle: a tiny UNet, a random-weight CLAP and the adapter trained on the synthetic
task (benchmarks/train_synthetic.py), small enough to live in the repository (`training/toy_bundle/`).

    python -m training.toy [--out training/toy_bundle/grid.png] [--per-class 6]

regenerates the picture grid of the README: new (held-out) tones of each pitch → CLAP (the real
encoder code path) → adapter → tiny UNet, sampled with audio CFG and drawn with the task's
latent→RGB map; the last column is the base model without audio. It also prints the grid's accuracy.
Random-weight Stable Diffusion would only show noise; this shows what the trained adapter does.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

BUNDLE = Path(__file__).resolve().parent / "toy_bundle"
GRID_SEED = 2024   # held-out clips: neither the training (seed + 11) nor the test clips (seed + 12)


def write_bundle(results: dict, dest: Path = BUNDLE) -> Path:
    """Copy the full variant of a benchmark run (its output folder is results["out"]) into `dest`."""
    from . import synthetic as S

    src = Path(results["out"])
    full = results["rows"][0]
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(src / "runs" / S._slug(full["variant"]) / "adapter.safetensors", tmp / "adapter.safetensors")
    shutil.copy(src / "cache" / "base.safetensors", tmp / "unet.safetensors")
    shutil.copytree(src / "clap", tmp / "clap")
    accs = {k: v for k, v in full.items() if k.startswith("acc_cfg")}
    best = max(accs, key=accs.get)
    meta = {"task": results["task"], "tiny_unet": results["tiny_unet"], "clap_model_id": results["clap_model_id"],
            "audio_cfg": float(best[len("acc_cfg"):]), "sample_steps": results["budget"]["sample_steps"],
            "held_out_accuracy": accs[best], "variant": full["variant"], "freqs_hz": list(S.FREQS)}
    (tmp / "toy.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def load_bundle(path: Path = BUNDLE):
    """(base, adapter, clap folder, meta) of a bundle."""
    from c2d_core.adapter_file import load_adapter

    from . import synthetic as S
    from .config import ModelConfig, TinyUNetConfig
    from .model import build_tiny

    path = Path(path)
    if not (path / "toy.json").is_file():
        raise FileNotFoundError(f"no toy bundle in {path}: run `python benchmarks/train_synthetic.py --bundle {path}`")
    meta = json.loads((path / "toy.json").read_text())
    tiny = TinyUNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["tiny_unet"].items()})
    base = build_tiny(ModelConfig(tiny=True, tiny_weights=str(path / "unet.safetensors"), tiny_unet=tiny))
    adapter = load_adapter(path / "adapter.safetensors").adapter
    task = S.Task(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["task"].items()})
    return base, adapter, path / "clap", meta, task


@torch.no_grad()
def grid(out: Path, *, bundle: Path = BUNDLE, per_class: int = 6, seed: int = GRID_SEED) -> dict:
    """Draw the grid PNG; returns {"accuracy", "out", "seconds"}."""
    from PIL import Image, ImageDraw, ImageFont

    from . import synthetic as S
    from .sampling import sample

    t0 = time.perf_counter()
    base, adapter, clap_dir, meta, task = load_bundle(bundle)
    labels = [k for k in range(S.N_CLASSES) for _ in range(per_class)]
    embeds = S.clap_embed(S.clips(labels, seed, task.seconds), clap_dir)
    text, _ = S.caption(task)
    B, s = len(labels), task.latent_size
    x = sample(base.model, adapter, (B, task.channels, s, s), text.expand(B, -1, -1), embeds,
               steps=meta["sample_steps"], audio_cfg=meta["audio_cfg"], seed=seed)
    plain = sample(base.model, None, (S.N_CLASSES, task.channels, s, s), text.expand(S.N_CLASSES, -1, -1), None,
                   steps=meta["sample_steps"], seed=seed + 1)
    train_y = [k for k in range(S.N_CLASSES) for _ in range(task.train_per_class)]
    clf = S.CentroidClassifier(S.latents(train_y, task, task.seed + 1), train_y)
    pred = clf.predict(x)
    acc = float((pred == torch.tensor(labels)).float().mean())

    cell, pad, left, top = 64, 6, 92, 34
    imgs = S.latent_to_rgb(x, scale=cell // s)
    base_imgs = S.latent_to_rgb(plain, scale=cell // s)
    W = left + (per_class + 1) * (cell + pad) + pad
    H = top + S.N_CLASSES * (cell + pad) + 24
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=12)   # a scalable font (Pillow ≥ 10.1 with FreeType)
    except (TypeError, OSError):
        font = ImageFont.load_default()
    draw.text((left, 6), "held-out tones -> CLAP -> adapter -> tiny UNet", fill="black", font=font)
    draw.text((left + per_class * (cell + pad), 6), "no audio", fill="black", font=font)
    for k in range(S.N_CLASSES):
        y = top + k * (cell + pad)
        draw.text((6, y + cell // 2 - 6), f"{S.FREQS[k]:.0f} Hz tone", fill="black", font=font)
        for j in range(per_class):
            i = k * per_class + j
            tile = Image.fromarray((imgs[i].numpy() * 255).round().astype("uint8"))
            xpos = left + j * (cell + pad)
            canvas.paste(tile, (xpos, y))
            if int(pred[i]) != k:   # the classifier disagrees: outline the tile
                draw.rectangle([xpos - 2, y - 2, xpos + cell + 1, y + cell + 1], outline="black", width=2)
        tile = Image.fromarray((base_imgs[k].numpy() * 255).round().astype("uint8"))
        canvas.paste(tile, (left + per_class * (cell + pad), y))
    draw.text((6, H - 18), f"held-out accuracy {acc:.0%} (chance 25%); audio CFG {meta['audio_cfg']:g}, "
                           f"{meta['sample_steps']} Euler steps; outlined: misclassified", fill="black", font=font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return {"accuracy": acc, "out": str(out), "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.toy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(BUNDLE / "grid.png"), help="PNG to write")
    p.add_argument("--bundle", default=str(BUNDLE), help="toy bundle folder")
    p.add_argument("--per-class", type=int, default=6, help="held-out clips per pitch (grid columns)")
    p.add_argument("--seed", type=int, default=GRID_SEED, help="seed of the held-out clips and the sampling noise")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    from .host import import_comfy
    import_comfy(cpu=True)
    r = grid(Path(args.out), bundle=Path(args.bundle), per_class=args.per_class, seed=args.seed)
    log.info("wrote %s: held-out accuracy %.0f%% (chance 25%%) in %.1f s", r["out"], 100 * r["accuracy"], r["seconds"])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
