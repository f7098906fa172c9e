"""The shipped toy bundle (`toy/bundle/`): a tiny UNet, a random-weight CLAP and the adapter trained on the synthetic
task (benchmarks/train_synthetic.py), small enough to live in the repository."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import task as S
from .report import slug

BUNDLE = Path(__file__).resolve().parent / "bundle"


def write_bundle(results: dict, dest: Path = BUNDLE) -> Path:
    """Copy the full variant of a benchmark run (its output folder is results["out"]) into `dest`."""
    src = Path(results["out"])
    full = results["rows"][0]
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(src / "runs" / slug(full["variant"]) / "adapter.safetensors", tmp / "adapter.safetensors")
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
    path = Path(path)
    if not (path / "toy.json").is_file():
        raise FileNotFoundError(f"no toy bundle in {path}: run `python benchmarks/train_synthetic.py --bundle {path}`")
    meta = json.loads((path / "toy.json").read_text())
    return meta, S.Task(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["task"].items()})


def load_bundle(path: Path = BUNDLE):
    """(base, adapter, clap folder, meta, task) of a bundle."""
    from c2d_core.adapter_file import load_adapter

    from training.config import ModelConfig, TinyUNetConfig
    from training.model import build_tiny

    path = Path(path)
    meta, task = bundle_meta(path)
    tiny = TinyUNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["tiny_unet"].items()})
    base = build_tiny(ModelConfig(tiny=True, tiny_weights=str(path / "unet.safetensors"), tiny_unet=tiny))
    adapter = load_adapter(path / "adapter.safetensors").adapter
    return base, adapter, path / "clap", meta, task


def classifier(task):
    """The task's nearest-centroid colour classifier, fitted on the training latents (what accuracy is measured by)."""
    train_y = [k for k in range(S.N_CLASSES) for _ in range(task.train_per_class)]
    return S.CentroidClassifier(S.latents(train_y, task, task.seed + 1), train_y)
