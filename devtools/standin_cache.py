"""Stand-in model files built once per machine and named by a hash of their recipe.

    path = cached("c2d-standin-sdxl-seed0", recipe_key({"seed": 0}, standin_sdxl), build)
         → ~/.cache/clap2diffusion/standins/c2d-standin-sdxl-seed0-<12 hex>.safetensors

The key hashes the settings, the torch version (its random streams) and the code, without docstrings or comments,
of the stand-in modules that build the file (the modules given and every `devtools.standin_*` module they import).
Change any of them and the next run builds a new file and deletes the stale one of the same stem; an unchanged
recipe is reused, and nobody has to remember to bump a version. A build writes to a temporary name and renames it,
so an interrupted build never leaves a file that looks complete.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import logging
import os
import re
import resource
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

from toy.code_hash import code_of

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "clap2diffusion" / "standins"
KEY_HEX = 12
# names of the scheme before recipe hashes (a hand-bumped version): deleted on sight, they are 15 GB of disk
LEGACY_NAME = re.compile(r"c2d-standin-.*-v\d+(-seed\d+)?\.(safetensors|ckpt)|c2d-standin-msclap-2022-seed\d+\.pth")


def stand_in_modules(*modules: ModuleType) -> list[ModuleType]:
    """The modules given and, transitively, every `devtools.standin_*` module they import (sorted by name; this
    module is not a recipe: changing how files are cached rebuilds nothing)."""
    seen: dict[str, ModuleType] = {}
    todo = list(modules)
    while todo:
        mod = todo.pop()
        if mod.__name__ in seen:
            continue
        seen[mod.__name__] = mod
        for node in ast.walk(ast.parse(inspect.getsource(mod))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("devtools.standin_") \
                    and node.module != __name__:
                todo.append(importlib.import_module(node.module))
    return [seen[name] for name in sorted(seen)]


def recipe_key(settings: dict, *sources) -> str:
    """KEY_HEX hex digits of a hash of `settings`, the torch version and the code of `sources` (modules are
    followed into the stand-in modules they import; functions and classes are taken as they are)."""
    import torch

    h = hashlib.sha256(json.dumps([settings, torch.__version__.split("+")[0]], sort_keys=True, default=str).encode())
    modules = stand_in_modules(*[s for s in sources if isinstance(s, ModuleType)])
    for obj in modules + [s for s in sources if not isinstance(s, ModuleType)]:
        h.update(code_of(obj).encode())
    return h.hexdigest()[:KEY_HEX]


def cache_dir(folder=None) -> Path:
    """`folder`, else $C2D_STANDIN_CACHE, else ~/.cache/clap2diffusion/standins (created)."""
    path = Path(folder or os.environ.get("C2D_STANDIN_CACHE") or DEFAULT_CACHE)
    path.mkdir(parents=True, exist_ok=True)
    for f in path.iterdir():
        if LEGACY_NAME.fullmatch(f.name):
            log.warning("removing stand-in of an older naming scheme: %s", f)
            f.unlink()
    return path


def with_comfyui(make: Callable, *args, **kwargs) -> Callable[[Path], object]:
    """A build `make(path, *args, **kwargs)` that first imports ComfyUI (the stand-ins are built from its classes);
    a cached file needs neither."""
    def build(path: Path):
        from devtools.comfy_host import import_comfyui
        import_comfyui()
        return make(path, *args, **kwargs)
    return build


def cached(stem: str, key: str, build: Callable[[Path], object], *, suffix: str = ".safetensors", folder=None,
           built: list | None = None) -> Path:
    """The file `<stem>-<key><suffix>` in the stand-in cache, made by `build(temporary path)` when it is missing.
    Files of the same stem with another key (older recipes, and copies of them in another format) are deleted first.
    A build is logged with its time, size and the process's peak memory, and the line is appended to `built`
    (tests show it)."""
    folder = cache_dir(folder)
    path = folder / f"{stem}-{key}{suffix}"
    if path.exists():
        return path
    stale = re.compile(re.escape(stem) + f"-(?!{key})[0-9a-f]{{{KEY_HEX}}}\\.[a-z]+")  # with copies in other formats
    for f in folder.iterdir():
        if stale.fullmatch(f.name):
            log.warning("removing stand-in of another recipe: %s", f)
            f.unlink()
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    t0 = time.perf_counter()
    try:
        build(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    line = (f"built stand-in {path.name} in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e9:.2f} GB, "
            f"peak RSS so far {peak_mb:.0f} MB)")
    log.warning(line)
    if built is not None:
        built.append(line)
    return path


def write_torch_file(obj, path) -> Path:
    """`torch.save(obj)` to `path` through a temporary name (a killed build never leaves a half-written file)."""
    import torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path
