"""Run ComfyUI in-process as a library, for tests and demos (no server, no copying into ComfyUI).

    host = get_host(models_dir, workdir)          # once per process
    result = host.run(api_prompt)                 # validate + execute with a fresh executor
    latent = result["outputs"]["5"][0]            # what node "5" returned, slot 0 (a LATENT dict)
    pngs = result["files"]                        # files written by output nodes (SaveImage, ...)

ComfyUI is located by `comfy_locator.find()`; it is put on `sys.path`, told to run on the CPU, its model
folders point into `models_dir` and its input/output/temp/user folders into `workdir`. The core and
`comfy_extras` nodes are initialised as `main.py` does, then this repository is loaded as a custom
node pack with ComfyUI's own loader (`nodes.load_custom_node`), exactly as if it sat in
`ComfyUI/custom_nodes/`. `host.load_other_pack(folder)` loads another pack the same way (the interop tests:
VideoHelperSuite, AnimateDiff-Evolved, IPAdapter_plus; see devtools.other_packs).
"""
from __future__ import annotations

import asyncio
import copy
import ctypes
import gc
import inspect
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import comfy_locator

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
NOT_FOUND = comfy_locator.NOT_FOUND


class HostError(RuntimeError):
    """ComfyUI could not be set up (not found, failed to import, pack failed to load)."""


class PromptValidationError(RuntimeError):
    """ComfyUI rejected the prompt before running it. `.error` and `.node_errors` are ComfyUI's own."""

    def __init__(self, message: str, error: dict | None, node_errors: dict):
        super().__init__(message)
        self.error = error
        self.node_errors = node_errors


class PromptExecutionError(RuntimeError):
    """A node raised while the prompt ran. The message contains the node's own exception message."""

    def __init__(self, message: str, details: dict):
        super().__init__(message)
        self.details = details
        self.node_id = details.get("node_id")
        self.node_type = details.get("node_type")
        self.exception_type = details.get("exception_type")
        self.exception_message = details.get("exception_message")


def is_comfyui(path: Path) -> bool:
    return comfy_locator.is_comfyui(path)


def find_comfyui() -> Path | None:
    """The ComfyUI checkout to use (`comfy_locator.find`): $COMFYUI_PATH, the custom_nodes parent, /opt/ComfyUI,
    ~/ComfyUI or the fetched tested release; None when nothing is found."""
    return comfy_locator.find()


def import_comfyui(root: Path | None = None) -> Path:
    """ComfyUI as a library on the CPU (`comfy_locator.import_comfy(root, cpu=True)`); HostError when absent."""
    try:
        return comfy_locator.import_comfy(root, cpu=True)
    except comfy_locator.HostNotFoundError as e:
        raise HostError(str(e)) from None


def _share_core_modules(pack_dir: Path, pack_module: str) -> None:
    """Tests import `c2d_core` from the repository root; the pack, loaded by ComfyUI as `pack_module`, imports it as
    `pack_module.c2d_core`. Registering the already-imported modules under the pack's names too makes both one
    copy (one set of classes, so `pytest.raises(c2d_core.errors.X)` catches what the nodes raise)."""
    import importlib
    import pkgutil

    core = importlib.import_module("c2d_core")
    if Path(core.__file__).resolve().parent != Path(pack_dir).resolve() / "c2d_core":
        return  # another checkout's c2d_core: keep the pack's own
    for info in pkgutil.walk_packages(core.__path__, "c2d_core."):
        importlib.import_module(info.name)
    for name, module in list(sys.modules.items()):
        if name == "c2d_core" or name.startswith("c2d_core."):
            sys.modules.setdefault(f"{pack_module}.{name}", module)


class _QueueStub:
    """`server.PromptServer.instance.prompt_queue` as packs read it (nothing is queued in-process)."""

    def __init__(self):
        self.currently_running: dict = {}

    def put(self, item):
        raise HostError("the in-process host has no prompt queue; run the prompt with ComfyHost.run")


class _ServerStub:
    """What PromptExecutor and the progress handlers need from `server.PromptServer`."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata: dict = {}
        self.messages: list[tuple[str, Any]] = []
        # what other packs touch at import time (VideoHelperSuite: routes, prompt_queue; AnimateDiff: number)
        from aiohttp import web
        self.routes = web.RouteTableDef()
        self.prompt_queue = _QueueStub()
        self.number = 0
        self.node_replace_manager = _node_replace_manager()  # 0.33+: core extras register replacements

    def send_sync(self, event, data, sid=None):
        if event in ("executing", "executed", "execution_error", "execution_success"):
            self.messages.append((event, data))

    def send_progress_text(self, text, node_id, sid=None):
        pass

    def queue_updated(self):
        pass


def _node_replace_manager():
    """ComfyUI's own NodeReplaceManager where the host has one (0.33+), else None."""
    try:
        from app.node_replace_manager import NodeReplaceManager
    except ImportError:  # 0.3.64
        return None
    return NodeReplaceManager()


def new_executor(execution, server):
    """A PromptExecutor with ComfyUI's classic cache, built the way this host's executor wants it: 0.33+ takes
    `cache_args` and reads its "ram" and "ram_inactive" keys on every prompt; 0.3.64 takes no cache arguments."""
    params = inspect.signature(execution.PromptExecutor.__init__).parameters
    if "cache_args" in params:
        return execution.PromptExecutor(server, cache_type=execution.CacheType.CLASSIC,
                                        cache_args={"lru": 0, "ram": 0, "ram_inactive": 0})
    return execution.PromptExecutor(server, cache_type=execution.CacheType.CLASSIC)


def cached_outputs(executor, node_id: str):
    """What the executor's output cache holds for a node: ComfyUI's per-slot lists, or None. 0.33+ stores a
    CacheEntry(ui, outputs) and reads it without awaiting through `get_local`; 0.3.64 stores the lists."""
    cache = executor.caches.outputs
    value = cache.get_local(node_id) if hasattr(cache, "get_local") else _run_coro(cache.get(node_id))
    return getattr(value, "outputs", value)


class _LogCapture(logging.Handler):
    def __init__(self, level=logging.WARNING):
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)

    def __enter__(self):
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)


def release_memory() -> None:
    """Free what earlier runs left behind: models sit in reference cycles (gc), and glibc keeps freed
    multi-GB weight buffers in its heap unless trimmed (without this, RSS grows ~1.5 GB per fresh run
    of an SD1.5 checkpoint on the CPU)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _run_coro(value):
    """ComfyUI turned several functions async over time: accept either."""
    return asyncio.run(value) if inspect.isawaitable(value) else value


class ComfyHost:
    """ComfyUI running in this process. Make it with `get_host()` (one per process)."""

    def __init__(self, comfy_root: Path, models_dir: Path, workdir: Path):
        self.root = Path(comfy_root).resolve()
        self.models_dir = Path(models_dir).resolve()
        self.workdir = Path(workdir).resolve()
        self.pack_module = None
        self.pack_nodes: list[str] = []
        self.import_failed: list[str] = []
        self._pack_error: HostError | None = None
        self._other_packs: dict = {}
        self._executor = None
        self._import_comfy()
        self._configure_folders()
        self._init_nodes()

    # ---- set-up -------------------------------------------------------------------------------
    def _import_comfy(self) -> None:
        import_comfyui(self.root)
        import comfyui_version
        import folder_paths
        self.version = comfyui_version.__version__
        self.folder_paths = folder_paths

    def _configure_folders(self) -> None:
        fp = self.folder_paths
        old_base = os.path.normpath(fp.models_dir)
        new_base = str(self.models_dir)
        fp.models_dir = new_base
        for name, (paths, exts) in list(fp.folder_names_and_paths.items()):
            if name == "custom_nodes":
                continue
            moved = []
            for p in paths:
                rel = os.path.relpath(os.path.normpath(p), old_base)
                # a default folder of the stock models dir moves into ours; other paths are kept
                moved.append(os.path.join(new_base, rel) if not rel.startswith("..") else p)
            fp.folder_names_and_paths[name] = (list(dict.fromkeys(moved)), exts)
        for sub in ("checkpoints", "loras", "vae", "clap", "audio_adapters", "embeddings"):
            (self.models_dir / sub).mkdir(parents=True, exist_ok=True)
        dirs = {"input": self.workdir / "input", "output": self.workdir / "output",
                "temp": self.workdir / "temp", "user": self.workdir / "user"}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        fp.set_input_directory(str(dirs["input"]))
        fp.set_output_directory(str(dirs["output"]))
        fp.set_temp_directory(str(dirs["temp"]))
        fp.set_user_directory(str(dirs["user"]))
        fp.filename_list_cache.clear()

    def _init_nodes(self) -> None:
        import execution
        import hook_breaker_ac10a0
        import nodes
        import server
        self.nodes = nodes
        self.execution = execution
        self.server = _ServerStub()
        if getattr(server.PromptServer, "instance", None) is None:
            server.PromptServer.instance = self.server  # a few nodes talk to it directly
        hook_breaker_ac10a0.save_functions()
        try:
            with _LogCapture() as cap:
                _run_coro(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
        finally:
            hook_breaker_ac10a0.restore_functions()
        self.import_failed = [r.getMessage().split("IMPORT FAILED:", 1)[1].strip()
                              for r in cap.records if "IMPORT FAILED:" in r.getMessage()]
        if self.import_failed:
            log.warning("ComfyUI extras that failed to import: %s", ", ".join(self.import_failed))

    def load_pack(self, pack_dir: Path = REPO_ROOT) -> list[str]:
        """Load a custom node pack (default: this repository) with ComfyUI's own loader; returns the
        node ids it registered. Raises HostError with ComfyUI's log when the loader refuses it."""
        if self.pack_module is not None:
            return self.pack_nodes
        if self._pack_error is not None:  # a module half-imported once is not retried
            raise self._pack_error
        _share_core_modules(pack_dir, str(pack_dir).replace(".", "_x_"))
        added, failure = self._load_custom_node(pack_dir)
        if failure is not None:
            self._pack_error = HostError(f"ComfyUI could not load the custom node pack {pack_dir}:\n{failure}")
            raise self._pack_error
        self.pack_nodes = added
        self.pack_module = sys.modules.get(str(pack_dir).replace(".", "_x_"))
        # the pack registered clap/, audio_adapters/ and sound_vocabularies/ under models_dir; make sure ours come first
        for name in ("clap", "audio_adapters", "sound_vocabularies"):
            if name in self.folder_paths.folder_names_and_paths:
                self.folder_paths.add_model_folder_path(name, str(self.models_dir / name), is_default=True)
        log.info("loaded pack %s: %s", pack_dir, ", ".join(self.pack_nodes))
        return self.pack_nodes

    def _load_custom_node(self, pack_dir: Path) -> tuple[list[str], str | None]:
        """ComfyUI's own loader on one pack folder (as if in custom_nodes/, its hook breaker around it) →
        (node ids it registered, None) or ([], ComfyUI's log) when the loader refuses it."""
        import hook_breaker_ac10a0
        nodes = self.nodes
        before = set(nodes.NODE_CLASS_MAPPINGS)
        hook_breaker_ac10a0.save_functions()
        try:
            with _LogCapture() as cap:
                ok = _run_coro(nodes.load_custom_node(str(pack_dir), ignore=before, module_parent="custom_nodes"))
        finally:
            hook_breaker_ac10a0.restore_functions()
        if not ok:
            return [], cap.text()
        return sorted(set(nodes.NODE_CLASS_MAPPINGS) - before), None

    def load_other_pack(self, pack_dir: Path) -> list[str]:
        """Load another custom node pack (e.g. VideoHelperSuite) from its folder with ComfyUI's own loader, as
        if it sat in custom_nodes/; returns the node ids it registered (once per folder). HostError with
        ComfyUI's log when the loader refuses it."""
        pack_dir = Path(pack_dir).resolve()
        done = self._other_packs.get(pack_dir)
        if isinstance(done, HostError):
            raise done
        if done is not None:
            return done
        added, failure = self._load_custom_node(pack_dir)
        if failure is not None:
            self._other_packs[pack_dir] = HostError(f"ComfyUI could not load the pack {pack_dir}:\n{failure}")
            raise self._other_packs[pack_dir]
        self._other_packs[pack_dir] = added
        log.info("loaded other pack %s: %d nodes", pack_dir, len(self._other_packs[pack_dir]))
        return self._other_packs[pack_dir]

    def pack_submodule(self, pack_dir: Path, name: str):
        """A module of a loaded pack, e.g. ("…/ComfyUI-AnimateDiff-Evolved", "animatediff.motion_module_ad")."""
        import importlib
        return importlib.import_module(f"{str(Path(pack_dir).resolve()).replace('.', '_x_')}.{name}")

    # ---- running prompts ----------------------------------------------------------------------
    def validate(self, prompt: dict) -> list[str]:
        """ComfyUI's validation; returns the output node ids to execute or raises PromptValidationError."""
        params = list(inspect.signature(self.execution.validate_prompt).parameters)
        args = {"prompt_id": str(uuid.uuid4()), "prompt": prompt, "partial_execution_list": None}
        ok, error, outputs, node_errors = _run_coro(  # (prompt_id, prompt, partial_execution_list) in 0.3.64
            self.execution.validate_prompt(*[args[p] for p in params if p in args]))
        if ok and not node_errors:
            return outputs
        lines = []
        if error:
            lines.append(f"{error.get('message', '')}: {error.get('details', '')}".rstrip(": "))
        for node_id, info in node_errors.items():
            for reason in info.get("errors", []):
                lines.append(f"node {node_id} ({info.get('class_type')}): {reason.get('message')}: "
                             f"{reason.get('details')}")
        raise PromptValidationError("ComfyUI rejected the prompt:\n" + "\n".join(lines), error, node_errors)

    def run(self, prompt: dict, fresh: bool = True, extra_data: dict | None = None) -> dict:
        """Validate and execute an API-format prompt.

        fresh=True runs it in a new PromptExecutor (empty caches); fresh=False reuses this host's
        executor, so unchanged nodes come from ComfyUI's cache as in the app.

        Returns {"prompt_id", "outputs": {node_id: tuple of returned values, one per output slot},
        "raw_outputs": {node_id: ComfyUI's per-slot lists}, "ui": {node_id: ui dict},
        "files": [Path of every file an output node reported], "cached": [node ids served from cache]}.
        The outputs are the nodes' own objects (a checkpoint loader's models: ~4 GB for SD1.5 on the
        CPU), so keep only what a test needs. Raises PromptValidationError / PromptExecutionError.
        """
        prompt = copy.deepcopy(prompt)
        to_execute = self.validate(prompt)
        release_memory()
        self.server.messages.clear()
        execution = self.execution
        if fresh or self._executor is None:
            executor = new_executor(execution, self.server)
            if not fresh:
                self._executor = executor
        else:
            executor = self._executor
        prompt_id = str(uuid.uuid4())
        executor.execute(prompt, prompt_id, extra_data or {}, to_execute)
        messages = dict(executor.status_messages)
        if not executor.success or "execution_error" in messages:
            err = messages.get("execution_error", {})
            message = (f"node {err.get('node_id')} ({err.get('node_type')}) failed: "
                       f"{err.get('exception_type')}: {str(err.get('exception_message', '')).strip()}")
            raise PromptExecutionError(message, err)
        if "execution_interrupted" in messages:
            raise PromptExecutionError("execution was interrupted", messages["execution_interrupted"])
        raw = {}
        outputs = {}
        for node_id, node in prompt.items():
            value = cached_outputs(executor, node_id)
            if value is None:
                continue
            raw[node_id] = value
            outputs[node_id] = self._unwrap(node["class_type"], value)
        ui = executor.history_result.get("outputs", {})
        return {
            "prompt_id": prompt_id,
            "outputs": outputs,
            "raw_outputs": raw,
            "ui": ui,
            "files": self._files(ui),
            "cached": messages.get("execution_cached", {}).get("nodes", []),
        }

    def clear_cache(self) -> None:
        """Drop the executor that fresh=False runs share (and the models its cache holds)."""
        self._executor = None
        release_memory()

    def _unwrap(self, class_type: str, value: list) -> tuple:
        """ComfyUI keeps each output slot as a list (one item per call when a node is mapped over a
        list). A slot with a single item, not declared OUTPUT_IS_LIST, becomes that item."""
        cls = self.nodes.NODE_CLASS_MAPPINGS[class_type]
        is_list = getattr(cls, "OUTPUT_IS_LIST", None) or [False] * len(value)
        return tuple(v[0] if (not lst and isinstance(v, list) and len(v) == 1) else v
                     for v, lst in zip(value, list(is_list) + [False] * (len(value) - len(is_list))))

    def _files(self, ui: dict) -> list[Path]:
        files = []
        for node_ui in ui.values():
            for items in node_ui.values():
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and "filename" in item:
                        base = self.folder_paths.get_directory_by_type(item.get("type", "output"))
                        if base is not None:
                            files.append(Path(base) / item.get("subfolder", "") / item["filename"])
        return files

    # ---- helpers --------------------------------------------------------------------------------
    def node_class(self, class_type: str):
        return self.nodes.NODE_CLASS_MAPPINGS[class_type]

    @property
    def input_dir(self) -> Path:
        return Path(self.folder_paths.get_input_directory())

    @property
    def output_dir(self) -> Path:
        return Path(self.folder_paths.get_output_directory())

    def describe(self) -> str:
        return f"ComfyUI at {self.root} (version {self.version})"


_HOST: ComfyHost | None = None


def current_host() -> ComfyHost | None:
    """The host this process already set up with `get_host`, or None."""
    return _HOST


def get_host(models_dir: Path, workdir: Path, load_pack: bool = True, comfy_root: Path | None = None) -> ComfyHost:
    """The process-wide host, created on first call; with load_pack the pack is loaded too (once).
    Raises HostError when no ComfyUI is found, the pack fails to load, or a later call asks for
    other folders than the first."""
    global _HOST
    if _HOST is None:
        root = comfy_root or find_comfyui()
        if root is None:
            raise HostError(NOT_FOUND)
        _HOST = ComfyHost(root, models_dir, workdir)
    elif (Path(models_dir).resolve(), Path(workdir).resolve()) != (_HOST.models_dir, _HOST.workdir):
        raise HostError(f"the ComfyUI host is already set up with models_dir={_HOST.models_dir} and "
                        f"workdir={_HOST.workdir}; one host per process")
    if load_pack:
        _HOST.load_pack()
    return _HOST
