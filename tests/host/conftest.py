"""Fixtures for tests that run inside a real ComfyUI (found by devtools.comfy_host.find_comfyui).

- `stock_host`: ComfyUI with its core and extra nodes (the pack need not load).
- `comfy_host`: the same host with this repository loaded as a custom node pack (a pack that fails to
  import fails these tests with ComfyUI's own log).
- `standins`: random-weight SD1.5 models linked into the session models folder; a dict
  {"sd15", "sd15_inpaint", "sd15_lora"} → the names to use in prompts, plus "paths".
- `unclip_standin`: a random-weight SD 2.1 unCLIP-H checkpoint (2.6 GB fp16, built once per machine), its name.
- `sdxl_standins`: the random-weight SDXL base checkpoint (6.9 GB fp16, built once per machine, a warning says so
  with its build time) and an SDXL LoRA, linked in the same way: {"sdxl", "sdxl_lora"} → names, plus "paths".
- `host_models_dir`, `host_workdir`: the session's model folder and ComfyUI input/output root.
- `host_assets`: writes random CLAP folders, ImageBind files, adapters and synthetic clips under the names prompts
  use.
- `drop_cache_after_module`: a module's loaded models leave the host's cache when it ends.
- `other_pack(key)`: loads another pack ("vhs", "animatediff", "ipadapter"; devtools.other_packs) into the host
  with ComfyUI's loader and returns its folder; skips loudly (OTHER PACK NOT FOUND) when its source is absent.

There is one host per process: all of these share it. Nothing is built at import time.
"""
import logging
import os
import time
from pathlib import Path

import pytest

from devtools.comfy_host import find_comfyui, get_host

log = logging.getLogger(__name__)

SKIP_REASON = ("ComfyUI host not found: set COMFYUI_PATH to a ComfyUI checkout (0.3.64 to 0.33.0 are tested), or "
               "install ComfyUI at /opt/ComfyUI or ~/ComfyUI; host tests did NOT run")
STANDIN_NAMES = {"sd15": ("checkpoints", "c2d_standin_sd15.safetensors"),
                 "sd15_inpaint": ("checkpoints", "c2d_standin_sd15_inpainting.safetensors"),
                 "sd15_lora": ("loras", "c2d_standin_sd15_lora.safetensors")}


@pytest.fixture(scope="session")
def host_models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def host_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("comfy_work")


@pytest.fixture(scope="session")
def stock_host(request, host_models_dir, host_workdir):
    root = find_comfyui()
    if root is None:
        pytest.skip(SKIP_REASON)
    t0 = time.perf_counter()
    host = get_host(host_models_dir, host_workdir, load_pack=False, comfy_root=root)
    request.config.c2d_host_description = host.describe()
    log.info("ComfyUI host ready in %.1f s: %s", time.perf_counter() - t0, host.describe())
    return host


@pytest.fixture(scope="session")
def comfy_host(stock_host):
    stock_host.load_pack()
    return stock_host


@pytest.fixture(scope="session")
def standins(stock_host, host_models_dir) -> dict:
    from devtools.standin_sd15 import ensure_standins

    cache = os.environ.get("C2D_STANDIN_CACHE")  # default: ~/.cache/clap2diffusion/standins
    paths = ensure_standins(cache)
    return _link_standins(host_models_dir, STANDIN_NAMES, paths)


def link_model(host_models_dir: Path, folder: str, name: str, src: Path) -> Path:
    """`models/<folder>/<name>` → the cached file `src` (a symlink, made once per session)."""
    link = host_models_dir / folder / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(src)
    return link


def _link_standins(host_models_dir: Path, table: dict, paths: dict) -> dict:
    """Symlink each cached stand-in into the host's models folder: {key: file name, ..., "paths": paths}."""
    for key, (folder, name) in table.items():
        link_model(host_models_dir, folder, name, paths[key])
    return {**{key: name for key, (_, name) in table.items()}, "paths": paths}


SDXL_STANDIN_NAMES = {"sdxl": ("checkpoints", "c2d_standin_sdxl.safetensors"),
                      "sdxl_lora": ("loras", "c2d_standin_sdxl_lora.safetensors")}


@pytest.fixture(scope="session")
def sdxl_standins(stock_host, host_models_dir) -> dict:
    import warnings

    from devtools.standin_sdxl import ensure_sdxl_standins

    built = []
    paths = ensure_sdxl_standins(os.environ.get("C2D_STANDIN_CACHE"), built=built)
    for line in built:
        warnings.warn(line)  # shown in the run's warnings summary: this run paid for the build
    return _link_standins(host_models_dir, SDXL_STANDIN_NAMES, paths)


@pytest.fixture(scope="session")
def unclip_standin(stock_host, host_models_dir) -> str:
    """The random-weight SD 2.1 unCLIP-H checkpoint (2.6 GB fp16, built once per machine), linked into the session's
    models/checkpoints; returns its name."""
    from devtools.standin_sd21_unclip import ensure_sd21_unclip_standin

    path = ensure_sd21_unclip_standin(os.environ.get("C2D_STANDIN_CACHE"))
    return _link_standins(host_models_dir, {"unclip": ("checkpoints", "c2d_standin_sd21_unclip_h.safetensors")},
                          {"unclip": path})["unclip"]


@pytest.fixture(scope="session")
def sd35_standin(stock_host, host_models_dir) -> str:
    """The reduced random-weight SD3.5 checkpoint (depth 2, full-size CLIP-L + CLIP-G, 1.8 GB fp16, built once per
    machine; the front-end tests use it too), linked into the session's models/checkpoints; returns its name."""
    from devtools.standin_sd3 import ensure_sd3_standin

    path = ensure_sd3_standin(os.environ.get("C2D_STANDIN_CACHE"))
    return _link_standins(host_models_dir, {"sd35": ("checkpoints", "c2d_standin_sd35.safetensors")},
                          {"sd35": path})["sd35"]


@pytest.fixture(scope="module")
def drop_cache_after_module(comfy_host):
    """Use with `pytestmark = pytest.mark.usefixtures("drop_cache_after_module")`: the models a module loaded
    leave the shared host's cache when it ends (one 4 GB SD1.5 set at a time)."""
    yield
    comfy_host.clear_cache()


class HostAssets:
    """Writes the files prompts refer to by name: CLAP folders and adapters in the session's models folder,
    audio in ComfyUI's input folder. Each returns the path it wrote."""

    def __init__(self, models_dir: Path, input_dir: Path):
        self.models_dir, self.input_dir = models_dir, input_dir

    def clap(self, name: str, seed: int) -> Path:
        """A random-weight CLAP folder `models/clap/<name>` (with tokenizer), built once per session."""
        from devtools.standin_clap import make_random_clap_folder
        path = self.models_dir / "clap" / name
        return path if (path / "config.json").exists() else make_random_clap_folder(path, seed=seed)

    def adapter(self, name: str, seed: int, **config) -> Path:
        """A fresh adapter `models/audio_adapters/<name>`; `config` overrides AdapterConfig (hidden_dim 256:
        the same code path as the default width, less disk)."""
        from c2d_core.adapter_file import save_adapter
        from c2d_core.config import AdapterConfig
        from c2d_core.factory import new_adapter
        path = self.models_dir / "audio_adapters" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_adapter(path, new_adapter(AdapterConfig(**{"hidden_dim": 256, **config}), seed=seed))
        return path

    def imagebind(self, name: str = "imagebind_huge.pth", seed: int = 0) -> Path:
        """A random-weight ImageBind file in the released layout, `models/audio_encoders/<name>` (ComfyUI's own
        folder, which Load CLAP Model lists), built once per machine (devtools.standin_cache) and linked."""
        from devtools.standin_imagebind import ensure_imagebind_standin
        src = ensure_imagebind_standin(os.environ.get("C2D_STANDIN_CACHE"), seed=seed)
        return self.link("audio_encoders", name, src)

    def link(self, folder: str, name: str, src: Path) -> Path:
        """A cached stand-in (another pack's model, ImageBind) as `models/<folder>/<name>` (a symlink)."""
        return link_model(self.models_dir, folder, name, src)

    def audio(self, name: str, kind: str, seconds: float, rate: int = 44_100, channels: int = 1,
              seed: int = 0) -> Path:
        """A synthetic clip (devtools.demo_audio.synth kinds: rain, tone, chirp, noise) as input/<name>."""
        from devtools.demo_audio import synth, write_wav
        return write_wav(self.input_dir / name, synth(kind, seconds, rate, channels, seed=seed), rate)


@pytest.fixture(scope="session")
def host_assets(comfy_host, host_models_dir) -> HostAssets:
    return HostAssets(host_models_dir, Path(comfy_host.input_dir))


@pytest.fixture(scope="session")
def other_pack(request, comfy_host):
    from devtools import other_packs

    def load(key: str) -> Path:
        path = other_packs.pack_path(key)
        if path is None:
            pytest.skip(other_packs.skip_reason(key))
        comfy_host.load_other_pack(path)
        ran = getattr(request.config, "c2d_other_packs", {})
        ran[key] = f"{other_packs.PACKS[key][1]}@{other_packs.commit(key)[:12]}"
        request.config.c2d_other_packs = ran
        return path
    return load
