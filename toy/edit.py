"""Before/after pictures of audio-driven editing on the shipped toy bundle (toy/bundle).

    python -m toy.edit [--out docs/editing_toy.png] [--clips 8] [--cfg 8]

A picture of the synthetic task (a square in the colour of tone class A = 300 Hz, red) is inverted
and edited with held-out tones of the other classes (600 / 1200 / 2400 Hz: green, blue, yellow)
through the pack's own nodes in an in-process ComfyUI (devtools.comfy_host): Load Audio Adapter →
Apply Audio Adapter on the toy UNet, Invert Latent (DDIM), and stock SamplerCustom with the Audio
Edit Sampler: with preservation (Plug-and-Play feature + self-attention injection at the default
fractions 0.8 / 0.5), without it (fractions 0), and with a mask (only the right half may change).
The tiny UNet cannot be loaded by ComfyUI's checkpoint loader, so it is wrapped in a ModelPatcher
directly; everything after that is the code a workflow runs. The PnP blocks are SD1.5's (decoder
block 4 of 12) at the same relative depth of the toy UNet's decoder, asked from the model.

Writes the picture (rows = target sounds; columns = source | with preservation | without | masked)
and prints the figures: toy classifier accuracy for the target class, structure distance to the
source with and without preservation, and the largest change outside the mask.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import task as S
from .bundle import BUNDLE, classifier, load_bundle
from .drawing import font, to_image

log = logging.getLogger(__name__)

EDIT_SEED = 2025    # held-out clips and source picture: not the training (seed + 11), test (+ 12) or grid (2024) ones
ADAPTER_NAME = "c2d_toy_edit.safetensors"
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "editing_toy.png"


@dataclass(frozen=True)
class EditSettings:
    steps: int = 20                   # Euler steps (inversion and edit share the schedule)
    refine_steps: int = 8             # fixed-point iterations per inversion step
    cfg: float = 8.0                  # audio CFG of the edit (the null tokens are the negative)
    feature_fraction: float = 0.8     # Plug-and-Play defaults of the node
    attention_fraction: float = 0.5
    clips: int = 8                    # held-out clips per target class for the figures (the picture shows the first)
    source_class: int = 0
    seed: int = EDIT_SEED


def pnp_blocks(unet) -> tuple[int, int]:
    """(feature_block, attention_block) for this UNet: SD1.5's Plug-and-Play choice (features after decoder
    block 4, self-attention q/k from decoder block 4, of 12 decoder blocks) at the same relative depth."""
    n = len(unet.output_blocks)
    depth = round(4 * n / 12)
    return min(depth, n - 2), min(depth, n - 1)


def structure_distance(x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """x: (N, C, H, W), source: (1, C, H, W) → (N,): relative L2 distance of the per-pixel latent magnitude maps.
    The class colours are orthogonal latent directions of equal length, so recolouring the square leaves this
    map unchanged: it measures layout (the square's shape and brightness, the background), not colour."""
    e, e0 = x.float().norm(dim=1), source.float().norm(dim=1)
    return (e - e0).flatten(1).norm(dim=1) / e0.flatten(1).norm(dim=1)


def right_half_mask(latent_size: int) -> torch.Tensor:
    """(H, W) image-space mask (8 pixels per latent cell): 1 on the right half (may change), 0 elsewhere."""
    m = torch.zeros(latent_size * 8, latent_size * 8)
    m[:, latent_size * 4:] = 1.0
    return m


def toy_host(workdir: Path):
    """The process-wide in-process ComfyUI with this pack loaded (reused when one exists, e.g. in tests)."""
    import devtools.comfy_host as ch

    host = ch.current_host() or ch.get_host(Path(workdir) / "models", Path(workdir) / "work", load_pack=False)
    host.load_pack()
    return host


class ToyEditor:
    """The toy bundle inside ComfyUI: every step below runs the pack's nodes (or stock ComfyUI nodes)."""

    def __init__(self, host, bundle: Path = BUNDLE):
        import comfy.model_patcher

        self.host = host
        self.base, _, self.clap_dir, self.meta, self.task = load_bundle(bundle)
        cpu = torch.device("cpu")
        self.model = comfy.model_patcher.ModelPatcher(self.base.model, load_device=cpu, offload_device=cpu)
        folder = host.models_dir / "audio_adapters"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(bundle) / "adapter.safetensors", folder / ADAPTER_NAME)
        host.folder_paths.filename_list_cache.clear()
        self.adapter = host.node_class("C2DAudioAdapterLoader")().execute(ADAPTER_NAME).result[0]
        text, _ = S.caption(self.task)
        self.cond = [[text[None], {}]]    # the toy's fixed caption; CFG's negative is the same caption + null audio
        self.feature_block, self.attention_block = pnp_blocks(self.base.unet)
        self.classifier = classifier(self.task)

    # ---- latent spaces: the toy's pictures live in model space; ComfyUI's LATENT is the VAE's -------------
    def to_latent(self, x: torch.Tensor) -> dict:
        return {"samples": self.model.model.process_latent_out(x)}

    def from_latent(self, latent: dict) -> torch.Tensor:
        return self.model.model.process_latent_in(latent["samples"])

    def sigmas(self, steps: int) -> torch.Tensor:
        return self.host.node_class("BasicScheduler")().get_sigmas(self.model, "normal", steps, 1.0)[0]

    def embed(self, labels: list[int], seed: int) -> torch.Tensor:
        """(N, clap_dim) CLAP embeddings of new tones (the encoder the CLAP Encode node runs)."""
        return S.clap_embed(S.clips(labels, seed, self.task.seconds), self.clap_dir)

    def invert(self, source: torch.Tensor, sigmas: torch.Tensor, refine_steps: int) -> dict:
        """source: (1, C, H, W) model-space picture → Invert Latent's LATENT (noise + kept trajectory)."""
        node = self.host.node_class("C2DInvertLatent")()
        return node.execute(self.model, self.cond, self.to_latent(source), sigmas, refine_steps).result[0]

    def reconstruct(self, inverted: dict, sigmas: torch.Tensor) -> torch.Tensor:
        """Stock euler sampling of the inverted noise with the base model: (1, C, H, W)."""
        import comfy.samplers

        out = self.host.node_class("SamplerCustom")().sample(
            self.model, False, 0, 1.0, self.cond, self.cond, comfy.samplers.sampler_object("euler"), sigmas, inverted)
        return self.from_latent(out[0])

    def edit(self, inverted: dict, embeds: torch.Tensor, sigmas: torch.Tensor, s: EditSettings, *,
             preserve: bool, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One edit per embedding (N, D) in one batch → (N, C, H, W) model-space latents. Apply Audio Adapter
        (one clip per image) → SamplerCustom (add_noise off, cfg) with the Audio Edit Sampler."""
        from c2d_core.embeds import AudioEmbeds

        N = embeds.shape[0]
        model = self.host.node_class("C2DApplyAudioAdapter")().execute(
            self.model, self.adapter, AudioEmbeds(embeds, self.meta["clap_model_id"], embeds.shape[1]),
            1.0, 0.0, 1.0).result[0]
        ff, af = (s.feature_fraction, s.attention_fraction) if preserve else (0.0, 0.0)
        sampler = self.host.node_class("C2DAudioEditSampler")().execute(
            inverted, ff, af, feature_block=self.feature_block, mask=mask,
            attention_block=self.attention_block).result[0]
        batch = dict(inverted, samples=inverted["samples"].repeat(N, 1, 1, 1))
        out = self.host.node_class("SamplerCustom")().sample(
            model, False, 0, s.cfg, self.cond, self.cond, sampler, sigmas, batch)
        return self.from_latent(out[0])


@torch.no_grad()
def run(settings: EditSettings = EditSettings(), *, bundle: Path = BUNDLE, host=None,
        workdir: Path | None = None) -> dict:
    """Invert the source, edit it with every target class's held-out clips three ways; returns the figures
    and the latents (model space) under "latents"."""
    t0 = time.perf_counter()
    if host is None:
        host = toy_host(workdir or Path(tempfile.mkdtemp(prefix="c2d_toy_edit_")))
    ed = ToyEditor(host, bundle)
    s = settings
    targets = [k for k in range(S.N_CLASSES) if k != s.source_class]
    labels = [k for k in targets for _ in range(s.clips)]
    source = S.latents([s.source_class], ed.task, s.seed)                        # (1, C, H, W), a dataset picture
    embeds = ed.embed(labels, s.seed)
    sigmas = ed.sigmas(s.steps)
    inverted = ed.invert(source, sigmas, s.refine_steps)
    recon = ed.reconstruct(inverted, sigmas)
    mask = right_half_mask(ed.task.latent_size)
    on = ed.edit(inverted, embeds, sigmas, s, preserve=True)
    off = ed.edit(inverted, embeds, sigmas, s, preserve=False)
    masked = ed.edit(inverted, embeds, sigmas, s, preserve=True, mask=mask)

    y = torch.tensor(labels)
    half = ed.task.latent_size // 2
    clf = ed.classifier

    def acc(x: torch.Tensor) -> float:   # share of the edits the toy classifier reads as their target class
        return float((clf.predict(x) == y).float().mean())

    outside = (masked - source)[..., :half]
    figures = {
        "settings": asdict(s), "feature_block": ed.feature_block, "attention_block": ed.attention_block,
        "decoder_blocks": len(ed.base.unet.output_blocks), "edits_per_mode": len(labels),
        "source_class": int(clf.predict(source)),
        "reconstruction_error": float((recon - source).norm() / source.norm()),
        "accuracy_preserved": acc(on), "accuracy_unpreserved": acc(off),
        "accuracy_masked_inside": acc(masked[..., half:]), "accuracy_masked_outside_source": float(
            (clf.predict(masked[..., :half]) == s.source_class).float().mean()),
        "structure_preserved": float(structure_distance(on, source).mean()),
        "structure_unpreserved": float(structure_distance(off, source).mean()),
        "max_change_outside_mask": float(outside.abs().max()),
        "max_change_inside_mask": float((masked - source)[..., half:].abs().max()),
        "seconds": time.perf_counter() - t0,
    }
    figures["latents"] = {"source": source, "preserved": on, "unpreserved": off, "masked": masked, "labels": labels}
    return figures


def draw(result: dict, out: Path) -> Path:
    """The README picture: one row per target sound (its first clip); columns source | with preservation |
    without | masked; the measured figures in the footer."""
    from PIL import Image, ImageDraw

    lat, labels, s, f = result["latents"], result["latents"]["labels"], result["settings"], result
    rows = [labels.index(k) for k in dict.fromkeys(labels)]
    cell, pad, left, top = 72, 16, 96, 48
    cols = [("source", None), ("preserved", "preserved"), ("not preserved", "unpreserved"),
            ("masked (right half)", "masked")]
    title = (f"audio edit of a toy picture ({S.FREQS[s['source_class']]:.0f} Hz class): DDIM inversion -> edit with a "
             "held-out tone")
    lines = [f"target-class accuracy ({f['edits_per_mode']} held-out clips): preserved {f['accuracy_preserved']:.0%}, "
             f"not preserved {f['accuracy_unpreserved']:.0%}, "
             f"masked (inside the mask) {f['accuracy_masked_inside']:.0%}",
             f"structure distance to the source: preserved {f['structure_preserved']:.2f}, not preserved "
             f"{f['structure_unpreserved']:.2f}; max change outside the mask {f['max_change_outside_mask']:.0e}",
             f"tiny UNet + trained adapter, {s['steps']} Euler steps, audio CFG {s['cfg']:g}, PnP fractions "
             f"{s['feature_fraction']:g} / {s['attention_fraction']:g}, features after decoder block "
             f"{f['feature_block']}, q/k from block {f['attention_block']} (of {f['decoder_blocks']})"]
    font_ = font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    W = max(left + len(cols) * (cell + pad), *(int(probe.textlength(t, font=font_)) + 16 for t in [title] + lines))
    H = top + len(rows) * (cell + pad) + 18 * len(lines) + 4
    canvas = Image.new("RGB", (W, H), "white")
    draw_ = ImageDraw.Draw(canvas)
    draw_.text((6, 6), title, fill="black", font=font_)
    for j, (name, _) in enumerate(cols):
        draw_.text((left + j * (cell + pad), top - 18), name, fill="black", font=font_)

    def tile(x: torch.Tensor) -> Image.Image:   # (C, h, w) model-space latent → cell × cell RGB
        return to_image(S.latent_to_rgb(x[None], scale=cell // x.shape[-1])[0])

    for r, i in enumerate(rows):
        y = top + r * (cell + pad)
        draw_.text((6, y + cell // 2 - 7), f"{S.FREQS[labels[i]]:.0f} Hz tone", fill="black", font=font_)
        for j, (_, key) in enumerate(cols):
            x = lat["source"][0] if key is None else lat[key][i]
            canvas.paste(tile(x), (left + j * (cell + pad), y))
        xm = left + 3 * (cell + pad) + cell // 2
        draw_.line([(xm, y - 3), (xm, y + cell + 2)], fill="black", width=1)   # the mask's edge
    for n, line in enumerate(lines):
        draw_.text((6, H - 18 * len(lines) - 2 + 18 * n), line, fill="black", font=font_)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    d = EditSettings()
    p = argparse.ArgumentParser(prog="python -m toy.edit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DOCS_PNG), help="PNG to write")
    p.add_argument("--bundle", default=str(BUNDLE), help="toy bundle folder")
    p.add_argument("--clips", type=int, default=d.clips, help="held-out clips per target class for the figures")
    p.add_argument("--steps", type=int, default=d.steps, help="Euler steps of the inversion and the edit")
    p.add_argument("--refine-steps", type=int, default=d.refine_steps, help="fixed-point iterations per inversion step")
    p.add_argument("--cfg", type=float, default=d.cfg, help="audio CFG of the edit")
    p.add_argument("--feature-fraction", type=float, default=d.feature_fraction, help="PnP feature injection fraction")
    p.add_argument("--attention-fraction", type=float, default=d.attention_fraction,
                   help="PnP self-attention injection fraction")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the source picture and the held-out clips")
    p.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    s = EditSettings(steps=args.steps, refine_steps=args.refine_steps, cfg=args.cfg, clips=args.clips,
                     feature_fraction=args.feature_fraction, attention_fraction=args.attention_fraction, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="c2d_toy_edit_") as work:
        r = run(s, bundle=Path(args.bundle), workdir=Path(work))
    out = draw(r, Path(args.out))
    figures = {k: v for k, v in r.items() if k != "latents"}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    log.info("wrote %s in %.1f s", out, r["seconds"])
    log.info("PnP blocks asked from the toy UNet (%d decoder blocks): features after block %d, attention from block %d",
             r["decoder_blocks"], r["feature_block"], r["attention_block"])
    log.info("inversion → reconstruction error %.1e (relative)", r["reconstruction_error"])
    log.info("target-class accuracy over %d edits: preserved %.0f%%, not preserved %.0f%%, masked (inside the mask) "
             "%.0f%%", r["edits_per_mode"], 100 * r["accuracy_preserved"], 100 * r["accuracy_unpreserved"],
             100 * r["accuracy_masked_inside"])
    log.info("structure distance to the source (per-pixel latent magnitude, relative L2): preserved %.3f, "
             "not preserved %.3f", r["structure_preserved"], r["structure_unpreserved"])
    log.info("masked edit: max |change| outside the mask %.2e, inside %.2f", r["max_change_outside_mask"],
             r["max_change_inside_mask"])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
