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
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

BUNDLE = Path(__file__).resolve().parent / "toy_bundle"
GRID_SEED = 2024   # held-out clips: neither the training (seed + 11) nor the test clips (seed + 12)


# ---- pictures --------------------------------------------------------------------------------
def font(size: int = 12):
    """Pillow's default font, scalable where Pillow >= 10.1 has FreeType."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def to_image(rgb: torch.Tensor):
    """(H, W, 3) in [0, 1] (ComfyUI IMAGE layout, one image) → PIL RGB image."""
    from PIL import Image

    return Image.fromarray((rgb.float().clamp(0, 1).cpu().numpy() * 255).round().astype("uint8"))


@dataclass(frozen=True)
class GridLayout:
    """Geometry of a labelled picture grid: `cell`-pixel tiles, `pad` apart, after a `left` label margin and a
    `top` header band."""

    cell: int = 64
    pad: int = 6
    left: int = 92
    top: int = 34
    footer_line: int = 18

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of tile (row, col), x1/y1 exclusive."""
        x, y = self.left + col * (self.cell + self.pad), self.top + row * (self.cell + self.pad)
        return x, y, x + self.cell, y + self.cell


def draw_grid(tiles: list[list[torch.Tensor]], row_labels: list[str], headers: dict[int, str], footer: list[str],
              layout: GridLayout = GridLayout(), outlined: set = frozenset()):
    """A white canvas with tiles[r][c] ((cell, cell, 3) RGB in [0, 1]) at layout.box(r, c), a label left of each
    row, header texts above the columns they are keyed by, footer lines below, and a black outline around the
    (r, c) tiles in `outlined`. Returns the PIL image."""
    from PIL import Image, ImageDraw

    f = font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cols = max(len(r) for r in tiles)
    W = max(layout.left + cols * (layout.cell + layout.pad) + layout.pad,
            *(int(probe.textlength(t, font=f)) + 12 for t in footer),
            *(layout.box(0, c)[0] + int(probe.textlength(t, font=f)) + 6 for c, t in headers.items()))
    H = layout.top + len(tiles) * (layout.cell + layout.pad) + layout.footer_line * len(footer) + 6
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    for c, text in headers.items():
        draw.text((layout.box(0, c)[0], 6), text, fill="black", font=f)
    for r, row in enumerate(tiles):
        y = layout.box(r, 0)[1]
        draw.text((6, y + layout.cell // 2 - 6), row_labels[r], fill="black", font=f)
        for c, rgb in enumerate(row):
            x0, y0, x1, y1 = layout.box(r, c)
            canvas.paste(to_image(rgb), (x0, y0))
            if (r, c) in outlined:
                draw.rectangle([x0 - 2, y0 - 2, x1 + 1, y1 + 1], outline="black", width=2)
    for n, line in enumerate(footer):
        draw.text((6, H - layout.footer_line * (len(footer) - n) - 2), line, fill="black", font=f)
    return canvas


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


def bundle_meta(path: Path = BUNDLE):
    """(meta, task) of a bundle: its toy.json and the synthetic task it was trained on."""
    from . import synthetic as S

    path = Path(path)
    if not (path / "toy.json").is_file():
        raise FileNotFoundError(f"no toy bundle in {path}: run `python benchmarks/train_synthetic.py --bundle {path}`")
    meta = json.loads((path / "toy.json").read_text())
    return meta, S.Task(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["task"].items()})


def load_bundle(path: Path = BUNDLE):
    """(base, adapter, clap folder, meta, task) of a bundle."""
    from c2d_core.adapter_file import load_adapter

    from .config import ModelConfig, TinyUNetConfig
    from .model import build_tiny

    path = Path(path)
    meta, task = bundle_meta(path)
    tiny = TinyUNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["tiny_unet"].items()})
    base = build_tiny(ModelConfig(tiny=True, tiny_weights=str(path / "unet.safetensors"), tiny_unet=tiny))
    adapter = load_adapter(path / "adapter.safetensors").adapter
    return base, adapter, path / "clap", meta, task


def classifier(task):
    """The task's nearest-centroid colour classifier, fitted on the training latents (what accuracy is measured by)."""
    from . import synthetic as S

    train_y = [k for k in range(S.N_CLASSES) for _ in range(task.train_per_class)]
    return S.CentroidClassifier(S.latents(train_y, task, task.seed + 1), train_y)


@torch.no_grad()
def grid(out: Path, *, bundle: Path = BUNDLE, per_class: int = 6, seed: int = GRID_SEED) -> dict:
    """Draw the grid PNG; returns {"accuracy", "out", "seconds"}."""
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
    pred = classifier(task).predict(x)
    acc = float((pred == torch.tensor(labels)).float().mean())

    layout = GridLayout(cell=64, pad=6, left=92, top=34)
    imgs = S.latent_to_rgb(x, scale=layout.cell // s)
    base_imgs = S.latent_to_rgb(plain, scale=layout.cell // s)
    tiles = [[imgs[k * per_class + j] for j in range(per_class)] + [base_imgs[k]] for k in range(S.N_CLASSES)]
    outlined = {(k, j) for k in range(S.N_CLASSES) for j in range(per_class) if int(pred[k * per_class + j]) != k}
    canvas = draw_grid(tiles, [f"{S.FREQS[k]:.0f} Hz tone" for k in range(S.N_CLASSES)],
                       {0: "held-out tones -> CLAP -> adapter -> tiny UNet", per_class: "no audio"},
                       [f"held-out accuracy {acc:.0%} (chance 25%); audio CFG {meta['audio_cfg']:g}, "
                        f"{meta['sample_steps']} Euler steps; outlined: misclassified"], layout, outlined)
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
