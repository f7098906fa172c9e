"""Serve ComfyUI with this pack and its real front end, and drive that front end in headless Chromium.

    server = ComfyServer(comfy_root, base_dir)       # main.py --cpu on 127.0.0.1:<free port>,
    server.start()                                   # this repository linked into base_dir/custom_nodes
    server.get("/api/object_info/C2DLoadAudio")      # the server's JSON API
    stage_workflow_files(workflows, base_dir / "models", base_dir / "input")  # stand-ins under shipped names
    ...                                              # playwright + launch_chromium(): see tests/host/test_frontend.py
    server.stop()

The browser is the system's Chromium (Debian's `chromium`), driven with playwright's
`executable_path`: no browser is ever downloaded. Everything here only reads the repository.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PACK_LINK_NAME = "clap2diffusion"  # folder name of the pack inside the served custom_nodes/
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = ("Chromium not found: install Debian's `chromium` (`apt-get install chromium`; .ci/run does) or set "
               "C2D_CHROMIUM to a Chromium executable")

# Widgets of the shipped workflows that name a model file: (node type, widget) → models/ sub-folder.
MODEL_WIDGETS = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
                 ("C2DCLAPLoader", "clap_name"): "clap",
                 ("C2DAudioAdapterLoader", "adapter_name"): "audio_adapters",
                 ("C2DAudioTokenLoader", "embedder_name"): "audiotoken",
                 ("C2DGlueGenLoader", "gluegen_name"): "gluegen",
                 ("UNETLoader", "unet_name"): "diffusion_models", ("CLIPLoader", "clip_name"): "text_encoders",
                 ("DualCLIPLoader", "clip_name1"): "text_encoders", ("DualCLIPLoader", "clip_name2"): "text_encoders",
                 ("VAELoader", "vae_name"): "vae", ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
                 # core's LTX-2.3 template (benchmarks/bench_sync_routes.py): one loader reads two folders
                 ("LTXAVTextEncoderLoader", "text_encoder"): "text_encoders",
                 ("LTXAVTextEncoderLoader", "ckpt_name"): "checkpoints",
                 ("LTXVAudioVAELoader", "ckpt_name"): "checkpoints",
                 ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
                 ("LoraLoaderModelOnly", "lora_name"): "loras"}
# Widgets that name a file in ComfyUI's input folder: (node type, widget) → what to write there.
INPUT_WIDGETS = {("C2DLoadAudio", "audio"): "audio", ("LoadImage", "image"): "image"}
SOURCE_IMAGE_SIZE = 64  # edit / inpaint source photos: the workflows work at the image's own size
KEEP_FREE_GB = 40.0     # below this much free disk, the DiT text-encoder stand-ins are deleted after each use
FRONTEND_VERSIONS_FILE = Path(__file__).resolve().parent / "frontend_versions.txt"  # newer front ends also checked


def pinned_frontend_version() -> str | None:
    """The comfyui-frontend-package installed with the environment (the main ComfyUI host's requirements.txt pins
    it; scripts/setup_env.sh installs them)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("comfyui-frontend-package")
    except PackageNotFoundError:
        return None


def extra_frontends() -> dict[str, Path]:
    """version → its static folder (for --front-end-root), for each version in frontend_versions.txt; the folder
    is where scripts/setup_env.sh installs it ($VENV/frontends/<version>), present or not."""
    versions = [v.strip() for v in FRONTEND_VERSIONS_FILE.read_text().splitlines() if v.strip() and v[0] != "#"]
    return {v: Path(sys.prefix) / "frontends" / v / "comfyui_frontend_package" / "static" for v in versions}


def find_chromium() -> Path | None:
    """$C2D_CHROMIUM, else `chromium` / `chromium-browser` on PATH; None when there is none."""
    env = os.environ.get("C2D_CHROMIUM")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return Path(env)
        log.warning("C2D_CHROMIUM=%s is not an executable file; looking on PATH", env)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def launch_chromium(playwright, executable: Path):
    """A headless Chromium from playwright's `sync_playwright()`, using the system's executable."""
    return playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    """The ComfyUI server did not start, died, or answered an API call with an error."""


class ComfyServer:
    """ComfyUI's own `main.py` in a child process: CPU only, 127.0.0.1, every folder under `base_dir`
    (models/, custom_nodes/, input/, output/, user/), an in-memory database, this repository linked in
    as `custom_nodes/clap2diffusion`. Use as a context manager or call start() / stop()."""

    def __init__(self, comfy_root: Path, base_dir: Path, python: str = sys.executable, port: int | None = None,
                 pack_dir: Path = REPO_ROOT, front_end_root: Path | None = None, other_packs: tuple[Path, ...] = ()):
        self.root = Path(comfy_root).resolve()
        self.base = Path(base_dir).resolve()
        self.python = python
        self.port = port or free_port()
        self.pack_dir = Path(pack_dir).resolve()
        self.front_end_root = Path(front_end_root).resolve() if front_end_root is not None else None
        self.other_packs = [Path(p).resolve() for p in other_packs]  # linked in under their own folder names
        self.log_path = self.base / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def input_dir(self) -> Path:
        return self.base / "input"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def models_dir(self) -> Path:
        return self.base / "models"

    def start(self, timeout: float = 300.0) -> "ComfyServer":
        link = self.base / "custom_nodes" / PACK_LINK_NAME
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(self.pack_dir, target_is_directory=True)
        for other in self.other_packs:
            other_link = self.base / "custom_nodes" / other.name
            if not other_link.exists():
                other_link.symlink_to(other, target_is_directory=True)
        for sub in ("input", "output", "user", "models"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        cmd = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base), "--disable-auto-launch", "--disable-api-nodes",
               "--database-url", "sqlite:///:memory:", "--preview-method", "none"]
        if self.front_end_root is not None:  # another front end than the installed package's
            cmd += ["--front-end-root", str(self.front_end_root)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        log.info("starting ComfyUI server: %s (log %s)", " ".join(cmd), self.log_path)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise ServerError(f"ComfyUI exited with code {self.proc.returncode} while starting:\n"
                                  f"{self.log_tail()}")
            try:
                self.get("/api/system_stats")
                log.info("ComfyUI server up at %s in %.1f s", self.url, time.monotonic() - t0)
                return self
            except (OSError, ServerError):
                time.sleep(0.5)
        self.stop()
        raise ServerError(f"ComfyUI did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ends the server (its own process group, which start() created)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def _request(self, path: str, data: bytes | None = None, timeout: float = 30.0):
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise ServerError(f"{path}: HTTP {e.code}: {e.read()[:2000]!r}") from e
        return json.loads(body) if body else None

    def get(self, path: str, timeout: float = 30.0):
        return self._request(path, timeout=timeout)

    def post(self, path: str, payload, timeout: float = 30.0):
        return self._request(path, json.dumps(payload).encode(), timeout=timeout)

    def wait_for_history(self, prompt_id: str, timeout: float) -> dict:
        """The /api/history entry of a prompt once it has finished (success or error)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(f"ComfyUI died while running prompt {prompt_id}:\n{self.log_tail()}")
            entry = (self.get(f"/api/history/{prompt_id}") or {}).get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and (
                    entry["status"]["completed"] or entry["status"].get("status_str") == "error"):
                return entry
            time.sleep(1.0)
        raise ServerError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")


# ---- what the workflows need on disk -------------------------------------------------------------
def widget_files(workflow: dict, object_info: dict) -> list[tuple[str, str, str]]:
    """(node type, widget name, value) of every model / input-file widget in a UI-format workflow,
    read by widget name through the server's node definitions."""
    from devtools.workflow_api import _widget_values
    found = []
    for node in workflow["nodes"]:
        kind = node["type"]
        wanted = {w for (t, w) in {**MODEL_WIDGETS, **INPUT_WIDGETS} if t == kind}
        if not wanted or kind not in object_info or node.get("mode") in (2, 4):
            continue
        for name, value in _widget_values(node, object_info[kind]["input"]).items():
            if name in wanted:
                found.append((kind, name, value))
    return found


def stage_workflow_files(workflows: list[dict], object_info: dict, models_dir: Path, input_dir: Path,
                         standin_cache: str | None = None, defer_text_encoders: bool = False) -> list[str]:
    """Write a random-weight stand-in under every model name and a synthetic file under every input
    name the workflows use. Returns one line per file, for the log. defer_text_encoders: leave out the DiT
    workflows' full-size text encoders (4–8 GB each; `stage_text_encoders` stages one workflow's when it runs)."""
    from devtools.build_workflows import SD35_CKPT, SDXL_CKPT, UNCLIP_CKPT
    from devtools.dit_workflows import MODEL_FILES

    report = []
    for workflow in workflows:
        files = widget_files(workflow, object_info)
        clap_id = next((v for k, _, v in files if k == "C2DCLAPLoader"), "")  # what the adapter was "trained" on
        # the workflow's model family decides its checkpoint and adapter stand-ins (SDXL_CKPT: the SDXL workflow's)
        ckpts = {v for k, _, v in files if k == "CheckpointLoaderSimple"}
        family = ("sdxl" if SDXL_CKPT in ckpts else "sd21_unclip" if UNCLIP_CKPT in ckpts
                  else "sd35" if SD35_CKPT in ckpts else "sd15")
        dits = [v for k, _, v in files if k == "UNETLoader" and MODEL_FILES.get(v, ("",))[0] == "dit"]
        if dits:   # a DiT workflow: its adapter is sized from the diffusion-model stand-in, as `training init` does
            family = "dit:" + str(dit_standin(dits[0], standin_cache))
        for kind, widget, value in files:
            if defer_text_encoders and MODEL_FILES.get(value, ("",))[0] == "te":
                report.append(f"deferred {value}")
                continue
            if (kind, widget) in MODEL_WIDGETS:
                dst = Path(models_dir) / MODEL_WIDGETS[kind, widget] / value
                if not dst.exists():
                    _make_model(kind, dst, standin_cache, clap_id, family)
                    report.append(f"stand-in {dst}")
            else:
                dst = Path(input_dir) / value
                if not dst.exists():
                    _make_input(INPUT_WIDGETS[kind, widget], dst)
                    report.append(f"input {dst}")
    return report


def _make_model(kind: str, dst: Path, standin_cache: str | None, clap_id: str, family: str = "sd15") -> None:
    """family "sd21_unclip": the SD 2.1 unCLIP-H stand-in (devtools.standin_sd21_unclip); "sd35": the reduced SD3.5
    stand-in (devtools.standin_sd3) and an SD3 adapter sized for its joint blocks.
    family "sdxl": the SDXL base stand-in (devtools.standin_sdxl, built once per machine) and an SDXL adapter
    with the `light` placement (11 blocks, 87 M parameters: the served ComfyUI already holds the 14 GB fp32 SDXL).
    family "dit:<path>": a DiT workflow whose diffusion-model stand-in is at <path>; its adapter has every block of
    that model (training.checkpoint_layout, as `training init --checkpoint`)."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_msclap import ensure_msclap_standin
    from devtools.standin_sd15 import ensure_standins
    from devtools.standin_sonic import make_random_sonic_folder

    dst.parent.mkdir(parents=True, exist_ok=True)
    if kind in ("UNETLoader", "CLIPLoader", "DualCLIPLoader", "VAELoader"):
        dst.symlink_to(dit_standin(dst.name, standin_cache))
    elif kind == "C2DAudioAdapterLoader" and family.startswith("dit:"):
        write_dit_adapter(dst, family[4:], clap_id)
    elif kind == "CheckpointLoaderSimple" and family == "sdxl":
        from devtools.standin_sdxl import ensure_sdxl_standins
        dst.symlink_to(ensure_sdxl_standins(standin_cache)["sdxl"])
    elif kind == "CheckpointLoaderSimple" and family == "sd35":
        from devtools.standin_sd3 import ensure_sd3_standin
        dst.symlink_to(ensure_sd3_standin(standin_cache))
    elif kind == "CheckpointLoaderSimple" and family == "sd21_unclip":
        from devtools.standin_sd21_unclip import ensure_sd21_unclip_standin
        dst.symlink_to(ensure_sd21_unclip_standin(standin_cache))
    elif kind == "CheckpointLoaderSimple":
        src = ensure_standins(standin_cache)["sd15_inpaint" if "inpaint" in dst.name.lower() else "sd15"]
        if dst.suffix.lower() not in (".safetensors", ".sft"):
            src = _torch_format_copy(src)  # ComfyUI picks the reader by extension: a .ckpt must be a torch file
        dst.symlink_to(src)
    elif kind == "C2DCLAPLoader" and "imagebind" in dst.name.lower():  # imagebind_huge.pth as released
        from devtools.standin_imagebind import ensure_imagebind_standin
        dst.symlink_to(ensure_imagebind_standin(standin_cache))
    elif kind == "C2DCLAPLoader" and "beats" in dst.name.lower():  # BEATs as Microsoft releases it (AudioToken)
        from devtools.standin_audiotoken import ensure_beats_standin
        dst.symlink_to(ensure_beats_standin(standin_cache))
    elif kind == "C2DCLAPLoader" and "audioclip" in dst.name.lower():  # AudioCLIP-Full-Training.pt (GlueGen)
        from devtools.standin_gluegen import ensure_audioclip_standin
        dst.symlink_to(ensure_audioclip_standin(standin_cache))
    elif kind == "C2DGlueGenLoader":  # GlueGen's gluenet_sound2img_audioclip_us8k.ckpt
        from devtools.standin_gluegen import ensure_gluenet_standin
        dst.symlink_to(ensure_gluenet_standin(standin_cache))
    elif kind == "C2DAudioTokenLoader":  # AudioToken's embedder_learned_embeds.bin
        from devtools.standin_audiotoken import ensure_embedder_standin
        dst.symlink_to(ensure_embedder_standin(standin_cache))
    elif kind == "C2DCLAPLoader" and dst.suffix.lower() == ".pth":  # Microsoft CLAP as released (CLAP_weights_2022.pth)
        dst.symlink_to(ensure_msclap_standin(standin_cache))
    elif kind == "C2DCLAPLoader":
        make_random_clap_folder(dst, seed=0)
    elif kind == "C2DAudioAdapterLoader" and not dst.suffix:  # a folder: SonicDiffusion's released pair
        make_random_sonic_folder(dst, seed=0)
    elif kind == "C2DAudioAdapterLoader" and family == "sd35":   # sized for the stand-in's joint blocks
        from c2d_core.families import DiTLayout
        from devtools.standin_sd3 import DEPTH
        layout = DiTLayout(name="SD3.5 stand-in", hidden_size=64 * DEPTH, num_heads=DEPTH, double_blocks=DEPTH,
                           double_attr="joint_blocks")
        save_adapter(dst, new_adapter(AdapterConfig(gate_init=0.5, clap_model_id=clap_id, base_family="sd3",
                                                    context_dim=layout.context_dim, blocks=layout.blocks()), seed=0))
    elif kind == "C2DAudioAdapterLoader" and family == "sdxl":
        save_adapter(dst, new_adapter(AdapterConfig(gate_init=0.5, clap_model_id=clap_id, base_family="sdxl",
                                                    placement="light", hidden_dim=256), seed=0))
    elif kind == "C2DAudioAdapterLoader":
        save_adapter(dst, new_adapter(AdapterConfig(gate_init=0.5, clap_model_id=clap_id), seed=0))


def text_encoder_files(workflow: dict, object_info: dict) -> list[str]:
    """The DiT text-encoder file names a workflow loads (devtools.dit_workflows.MODEL_FILES)."""
    from devtools.dit_workflows import MODEL_FILES
    return [v for _k, _w, v in widget_files(workflow, object_info) if MODEL_FILES.get(v, ("",))[0] == "te"]


def stage_text_encoders(workflow: dict, object_info: dict, models_dir: Path, standin_cache: str | None) -> list[Path]:
    """Link the stand-ins of the workflow's DiT text encoders into models/text_encoders (built when missing);
    returns the links, for `release_text_encoders`."""
    links = []
    for name in text_encoder_files(workflow, object_info):
        dst = Path(models_dir) / "text_encoders" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.is_symlink():
            dst.symlink_to(dit_standin(name, standin_cache))
        links.append(dst)
    return links


def release_text_encoders(links: list[Path], keep_free_gb: float = KEEP_FREE_GB) -> list[str]:
    """Unlink the staged text encoders; also delete their cached stand-ins while the disk holds less than
    keep_free_gb free (a CI machine short of disk rebuilds them, 5–15 s each, instead of holding 22 GB).
    Returns what was deleted."""
    import shutil

    deleted = []
    for link in links:
        target = link.resolve()
        link.unlink(missing_ok=True)
        if target.is_file() and shutil.disk_usage(target.parent).free < keep_free_gb * 1e9:
            target.unlink()
            deleted.append(target.name)
    return deleted


def dit_standin(name: str, standin_cache: str | None = None) -> Path:
    """The stand-in of a DiT workflow's diffusion-model, text-encoder, VAE or audio-encoder file
    (devtools.dit_workflows.MODEL_FILES)."""
    from devtools.dit_workflows import MODEL_FILES
    from devtools.standin_dit_files import ensure_audio_encoder_file, ensure_dit_file, ensure_vae_file
    from devtools.standin_text_encoders import ensure_text_encoder

    if name not in MODEL_FILES:
        raise KeyError(f"{name}: no stand-in is declared for it in devtools.dit_workflows.MODEL_FILES")
    builder, arg = MODEL_FILES[name]
    if builder == "audio":
        return ensure_audio_encoder_file(standin_cache)
    if builder == "ltx2":
        from devtools.standin_ltx2 import ensure_empty_lora, ensure_ltx2_checkpoint, ensure_ltx2_upscaler
        return {"checkpoint": ensure_ltx2_checkpoint, "upscaler": ensure_ltx2_upscaler,
                "lora": ensure_empty_lora}[arg](standin_cache)
    ensure = {"dit": ensure_dit_file, "te": ensure_text_encoder, "vae": ensure_vae_file}[builder]
    return ensure(arg, standin_cache)


def write_dit_adapter(dst: Path, dit_file: Path, clap_id: str) -> Path:
    """An untrained adapter (gates 0.5) with every block of the diffusion model in `dit_file`, sized from the file as
    `training init --checkpoint` does (training.checkpoint_layout)."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from c2d_core.placement import select_blocks
    from training.checkpoint_layout import checkpoint_blocks

    base, blocks, width = checkpoint_blocks(dit_file)
    blocks = select_blocks(blocks, "all", family_layout(base).placements)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_adapter(dst, new_adapter(AdapterConfig(gate_init=0.5, clap_model_id=clap_id, base_family=base,
                                                context_dim=width, blocks=blocks), seed=0))
    return Path(dst)


def _torch_format_copy(src: Path) -> Path:
    """A `.ckpt` (torch zip, {"state_dict": ...}) beside a safetensors stand-in, written once."""
    dst = src.with_suffix(".ckpt")
    if not dst.exists():
        import torch
        from safetensors.torch import load_file
        tmp = dst.with_suffix(".ckpt.tmp")
        torch.save({"state_dict": load_file(str(src))}, tmp)
        os.replace(tmp, dst)
        log.info("wrote torch-format copy of %s: %s", src.name, dst)
    return dst


def _make_input(what: str, dst: Path) -> None:
    from devtools.demo_audio import synth, write_wav
    dst.parent.mkdir(parents=True, exist_ok=True)
    if what == "audio":
        write_wav(dst, synth("rain", 3.0, 44_100, 2, seed=0), 44_100)
    else:
        from PIL import Image
        import numpy as np
        s = SOURCE_IMAGE_SIZE
        yy, xx = np.mgrid[0:s, 0:s]
        rgba = np.stack([xx * 255 // s, yy * 255 // s, np.full((s, s), 128), np.full((s, s), 255)], -1)
        rgba[:, s // 2:, 3] = 0  # transparent right half: LoadImage's mask (what the inpaint workflow fills)
        Image.fromarray(rgba.astype("uint8"), "RGBA").save(dst)
