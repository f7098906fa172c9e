"""Finds ComfyUI checkouts and imports one as a library — the one locator the trainer, the demo and the tests
share (the nodes themselves run inside ComfyUI and never need it).

Where it looks: $COMFYUI_PATH (an explicit choice: used first), the parent of the `custom_nodes/` folder this
repository sits in (used next), the folders in $COMFYUI_PATHS (os.pathsep-separated), then the conventional places
/opt/ComfyUI*, ~/ComfyUI* (or the folders in $C2D_COMFYUI_PLACES instead) and the releases `scripts/setup_env.sh`
fetches into ~/.cache/clap2diffusion/ComfyUI-<version>. Otherwise the newest version found is used; the test command
also runs a smoke subset on the oldest other version found (`test_hosts`).
"""
from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
OLDEST_VERSION = "0.3.64"   # the oldest ComfyUI release the suite runs against (its smoke subset)
NEWEST_VERSION = "0.33.0"   # the newest ComfyUI release the suite runs against (the default host; fetched when none)
TESTED_VERSION = NEWEST_VERSION  # what the set-up fetches (git tag v<version>) when nothing is found
FETCH_ROOT = Path.home() / ".cache" / "clap2diffusion"
FETCHED = FETCH_ROOT / f"ComfyUI-{TESTED_VERSION}"
DEFAULT_PLACES = (Path("/opt/ComfyUI"), Path.home() / "ComfyUI")
NOT_FOUND = (f"ComfyUI not found: set COMFYUI_PATH to a ComfyUI checkout ({OLDEST_VERSION} to {NEWEST_VERSION} are "
             "tested), install this repository in ComfyUI/custom_nodes/, or unpack ComfyUI at /opt/ComfyUI or "
             "~/ComfyUI")


@dataclass(frozen=True)
class FoundHost:
    """A ComfyUI checkout: its folder, its version (comfyui_version.py; "" when unknown) and where it was found."""
    path: Path
    version: str
    origin: str


class HostNotFoundError(ValueError):
    """No usable ComfyUI checkout."""


class HostDependencyError(HostNotFoundError):
    """A ComfyUI checkout was found but a package its requirements.txt names is not installed here."""


def missing_dependency_message(root: Path, module: str) -> str:
    """One line naming the missing package and the fix."""
    version = comfyui_version(root) or "(version unknown)"
    return (f"ComfyUI {version} at {root} needs the Python module '{module}', which this Python environment lacks: "
            f"install that ComfyUI's requirements here ({sys.executable} -m pip install -r {root / 'requirements.txt'};"
            " scripts/setup_env.sh does it for every ComfyUI it finds)")


def is_comfyui(path: Path) -> bool:
    return (Path(path) / "nodes.py").is_file() and (Path(path) / "comfy").is_dir()


def comfyui_version(path: Path) -> str:
    """The version a ComfyUI checkout declares in comfyui_version.py (read, not imported), or ""."""
    try:
        text = (Path(path) / "comfyui_version.py").read_text()
    except OSError:
        return ""
    match = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", text)
    return match.group(1) if match else ""


def version_key(version: str) -> tuple[int, ...]:
    """"0.3.64" → (0, 3, 64); unknown parts count as 0 (so an unknown version sorts oldest)."""
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", version or "0"))


def _conventional_places() -> list[Path]:
    places = os.environ.get("C2D_COMFYUI_PLACES")
    found = []
    if places is not None:
        found = [Path(p).expanduser() for p in places.split(os.pathsep) if p]
    else:
        for place in DEFAULT_PLACES:  # /opt/ComfyUI, /opt/ComfyUI-0.33.0, ~/ComfyUI, ...
            found += [place, *sorted(place.parent.glob(place.name + "-*"))]
    fetched = [p for p in sorted(FETCH_ROOT.glob("ComfyUI-*")) if p.suffix != ".part"]  # .part: a fetch under way
    return found + fetched


def find_all() -> list[FoundHost]:
    """Every ComfyUI checkout the module docstring's places hold, in that order, each folder once. Only a folder
    holding `nodes.py` and `comfy/` counts; a COMFYUI_PATH or COMFYUI_PATHS entry that is not one is reported."""
    candidates: list[tuple[str, Path]] = []
    env = os.environ.get("COMFYUI_PATH")
    if env:
        candidates.append(("COMFYUI_PATH", Path(env).expanduser()))
    if REPO_ROOT.parent.name == "custom_nodes":
        candidates.append(("custom_nodes parent", REPO_ROOT.parent.parent))
    candidates += [("COMFYUI_PATHS", Path(p).expanduser())
                   for p in os.environ.get("COMFYUI_PATHS", "").split(os.pathsep) if p]
    candidates += [("conventional place", p) for p in _conventional_places()]
    hosts, seen = [], set()
    for origin, path in candidates:
        if not is_comfyui(path):
            if origin in ("COMFYUI_PATH", "COMFYUI_PATHS"):
                log.warning("%s=%s is not a ComfyUI checkout (no nodes.py and comfy/); looking elsewhere", origin, path)
            continue
        path = path.resolve()
        if path not in seen:
            seen.add(path)
            hosts.append(FoundHost(path, comfyui_version(path), origin))
    return hosts


def find_host() -> FoundHost | None:
    """The ComfyUI to use: COMFYUI_PATH when it is a checkout, else the ComfyUI whose custom_nodes/ holds this
    repository, else the newest version found; None when none is."""
    hosts = find_all()
    if not hosts:
        return None
    if hosts[0].origin in ("COMFYUI_PATH", "custom_nodes parent"):
        return hosts[0]
    return max(hosts, key=lambda h: version_key(h.version))  # max keeps the first of equal versions


def find() -> Path | None:
    """The folder of `find_host()`, or None."""
    host = find_host()
    return host.path if host is not None else None


def test_hosts() -> tuple[FoundHost | None, FoundHost | None]:
    """(the host the whole suite runs on, the host its smoke subset also runs on): `find_host()` and the oldest
    other version found (None when every checkout found has the main host's version)."""
    main = find_host()
    others = [h for h in find_all() if main is not None and h.version != main.version]
    return main, (min(others, key=lambda h: version_key(h.version)) if others else None)


def import_comfy(root: str | os.PathLike | None = None, *, cpu: bool | None = None) -> Path:
    """Put ComfyUI first on sys.path and import `comfy.model_management` (idempotent); returns the folder.

    root: the ComfyUI folder (None or "": `find()`). cpu: force ComfyUI onto the CPU (None: only when no CUDA
    device is visible); only the first import decides, a later different wish is logged.
    """
    if root:
        root = Path(root).expanduser().resolve()
        if not is_comfyui(root):
            raise HostNotFoundError(f"{root} is not a ComfyUI checkout (no nodes.py and comfy/); point it at the "
                                    "folder that holds ComfyUI's main.py")
    else:
        root = find()
        if root is None:
            raise HostNotFoundError(NOT_FOUND)
    loaded = sys.modules.get("nodes")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != root / "nodes.py":
        raise HostNotFoundError(
            f"a module named 'nodes' is already imported from {getattr(loaded, '__file__', '?')}, so ComfyUI's "
            "nodes.py cannot be imported; do not import this pack's `nodes` package as a top-level module in the "
            "same process as ComfyUI")
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))  # before the repository root: our `nodes/` package must not shadow ComfyUI's
    import comfy.cli_args  # parses no argv unless comfy.options.enable_args_parsing() was called

    if "comfy.model_management" not in sys.modules:
        if cpu is None:
            import torch
            cpu = not torch.cuda.is_available()
        comfy.cli_args.args.cpu = cpu
        try:
            import utils.extra_config  # noqa: F401  (first, as ComfyUI's main.py does; else comfy/utils.py shadows it)
            import comfy.model_management  # noqa: F401
        except ModuleNotFoundError as e:  # a host dependency (0.33: comfy_aimdo, comfy_kitchen, ...) is missing
            if e.name and (root / e.name.split(".")[0]).exists():
                raise
            raise HostDependencyError(missing_dependency_message(root, e.name or str(e))) from None
        log.debug("ComfyUI imported from %s (cpu=%s)", root, cpu)
    elif cpu is not None and bool(comfy.cli_args.args.cpu) != cpu:
        log.warning("ComfyUI was already imported with cpu=%s; it keeps its device", comfy.cli_args.args.cpu)
    return root
