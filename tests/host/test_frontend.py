"""Every workflow in workflows/ in the real ComfyUI front end, in headless Chromium.

A ComfyUI server (its own main.py, --cpu, 127.0.0.1) serves the pack and the comfyui-frontend-package;
each model and input file a workflow names exists under that exact name (random-weight stand-ins, a
synthetic rain clip, a 64×64 source photo with a transparent half as the inpainting mask). The browser
loads each workflow through the front end's own `app.loadGraphData`, which must find every node type
and raise no dialog, toast or error; queues it with `app.queuePrompt` (the front end's own graph →
prompt conversion), which the server must accept without node errors; and the run must end in the
history with an image that the front end also received. The DiT workflows' full-size text-encoder stand-ins (4–8 GB each) are
staged for their own run only, in the pinned front end, and deleted after it on a machine short of disk
(devtools.frontend.release_text_encoders). A screenshot of each loaded graph is written
(to $C2D_SCREENSHOT_DIR too when set: `C2D_SCREENSHOT_DIR=docs/screenshots`).

To keep CI short, an empty latent's width/height are set to 64 and every `steps` widget to 4 in the
browser before queueing (a warning lists each change; C2D_FRONTEND_FULL=1 keeps the shipped values:
audio_to_image at 512², 20 steps takes ~10 min on 2 CPU cores).
Skips loudly without Chromium (or playwright) or without a ComfyUI host.
"""
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devtools import dit_workflows
from devtools.comfy_host import find_comfyui
from devtools.frontend import (NO_CHROMIUM, PACK_LINK_NAME, SOURCE_IMAGE_SIZE, ComfyServer, extra_frontends,
                               find_chromium, launch_chromium, pinned_frontend_version, release_text_encoders,
                               stage_text_encoders, stage_workflow_files, text_encoder_files)
from devtools.frontend import _torch_format_copy

REPO = Path(__file__).resolve().parents[2]
ALL_WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
# workflows that need other node packs (devtools.other_packs keys): run with those packs linked into the served
# custom_nodes/ (their web extensions too), skipped loudly when a pack's source is absent
PACK_WORKFLOWS = {"audio_animatediff": ("animatediff", "vhs"), "audio_ipadapter": ("ipadapter",),
                  "sound_to_ipadapter": ("ipadapter",),
                  **{name: packs for name, (_graph, packs) in dit_workflows.PACK_GRAPHS.items()}}
VIDEO_WORKFLOWS = ("audio_animatediff", "audio_to_video_wan")   # Video Combine writes an mp4
WORKFLOWS = [p for p in ALL_WORKFLOWS if p.stem not in PACK_WORKFLOWS]
FULL = os.environ.get("C2D_FRONTEND_FULL") == "1"
CPU_LATENT_SIZE = 64
CPU_STEPS = 4
RUN_TIMEOUT_S = 3600 if FULL else 900
VIEWPORT = {"width": 1920, "height": 1080}
HOST_SKIP = ("ComfyUI host not found: set COMFYUI_PATH to a ComfyUI checkout (>= 0.3.64), or install ComfyUI "
             "at /opt/ComfyUI or ~/ComfyUI; host tests did NOT run")
BROWSER_SKIP = "front-end tests did NOT run"  # tests/conftest.py counts skips with this text

APP_READY = """() => window.app && window.app.graph && window.app.extensionManager && window.LiteGraph
                     && 'C2DLoadAudio' in window.LiteGraph.registered_node_types"""
LOAD = """async ([workflow, name]) => {
    const known = window.LiteGraph.registered_node_types;
    const missing = workflow.nodes.map(n => n.type).filter(t => !(t in known));
    await window.app.loadGraphData(workflow, true, true, name);
    return {missing, types: window.app.graph.nodes.map(n => n.type)};
}"""
SHRINK = """([size, steps]) => {
    const changed = [];
    const set = (node, w, value) => { changed.push(`${node.type} ${node.id} ${w.name} ${w.value}->${value}`);
                                      w.value = value; };
    for (const node of window.app.graph.nodes) for (const w of node.widgets ?? []) {
        if (['EmptyLatentImage', 'EmptySD3LatentImage', 'EmptyHunyuanLatentVideo'].includes(node.type)
            && (w.name === 'width' || w.name === 'height') && w.value > size)
            set(node, w, size);
        if (w.name === 'steps' && w.value > steps) set(node, w, steps);
    }
    return changed;
}"""
PACK_EXTENSIONS = "() => window.app.extensions.map(e => e.name).filter(n => n.startsWith('CLAP2Diffusion.'))"


FRONTENDS = {"pinned": None, **extra_frontends()}   # the installed package, then each newer one checked


@pytest.fixture(scope="module", params=list(FRONTENDS), ids=lambda v: f"frontend-{v}")
def server(request, tmp_path_factory):
    """The ComfyUI server (with the front end of the param) and every file the workflows name; stopped after its
    tests. Newer front ends come from devtools/frontend_versions.txt, installed by scripts/setup_env.sh."""
    root = find_comfyui()
    if root is None:
        pytest.skip(HOST_SKIP)
    static = FRONTENDS[request.param]
    if static is not None and not (static / "index.html").is_file():
        pytest.skip(f"comfyui-frontend-package {request.param} is not installed at {static} (scripts/setup_env.sh "
                    f"installs it); {BROWSER_SKIP}")
    version = pinned_frontend_version() if static is None else request.param
    from devtools import other_packs
    present = [other_packs.pack_path(k) for k in other_packs.PACKS if other_packs.pack_path(k) is not None]
    with ComfyServer(root, tmp_path_factory.mktemp("frontend"), front_end_root=static,
                     other_packs=tuple(present)) as srv:
        srv.frontend_version = version
        if not hasattr(request.config, "c2d_host_description"):
            request.config.c2d_host_description = f"ComfyUI server from {root}"
        srv.object_info = srv.get("/api/object_info")
        staged = stage_workflow_files([json.loads(p.read_text()) for p in ALL_WORKFLOWS], srv.object_info,
                                      srv.models_dir, srv.input_dir, os.environ.get("C2D_STANDIN_CACHE"),
                                      defer_text_encoders=True)   # staged by the DiT workflows' own tests
        print("\n".join(staged))
        for key, value in {"Comfy.TutorialCompleted": True,  # no first-run templates dialog
                           "Comfy.Minimap.Visible": False, "LiteGraph.Canvas.MinFontSizeForLOD": 0}.items():
            srv.post(f"/api/settings/{key}", value)  # screenshots: no minimap, text drawn at any zoom
        yield srv


@pytest.fixture(scope="module")
def browser_page(request, server):
    """(page, problems): the front end loaded in headless Chromium; `problems` collects uncaught page
    errors and console errors (failed resource loads aside: the front end probes optional user files)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(f"{NO_CHROMIUM}; {BROWSER_SKIP}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"playwright is not installed (pip install -r requirements-dev.txt); {BROWSER_SKIP}")
    with sync_playwright() as pw:
        browser = launch_chromium(pw, chromium)
        seen = getattr(request.config, "c2d_frontends", [])
        request.config.c2d_frontends = seen + [server.frontend_version]
        request.config.c2d_browser_description = (f"{chromium} ({browser.version}), front end "
                                                  f"{', '.join(map(str, request.config.c2d_frontends))}")
        page = browser.new_page(viewport=VIEWPORT)
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}\n{getattr(e, 'stack', '') or ''}"))
        page.on("console", lambda m: problems.append(f"console error: {m.text}")
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.goto(server.url)
        page.wait_for_function(APP_READY, timeout=180_000)
        page.wait_for_timeout(1000)
        yield page, problems
        browser.close()


# A newer front end than the server asks for APIs ComfyUI 0.3.64 does not have (front end 1.58 polls the job list
# at /api/jobs, added to the server after 0.3.64): those console errors are about the two versions, not about
# the pack or its workflows, and are set aside for newer front ends only.
NEWER_FRONTEND_BACKEND_GAPS = ("[Jobs API] Error fetching jobs", "Failed to fetch queue: JobsApiError",
                               "Failed to fetch history: JobsApiError")


def _relevant(problems: list[str], server) -> list[str]:
    if server.front_end_root is None:
        return list(problems)
    return [p for p in problems if not any(gap in p for gap in NEWER_FRONTEND_BACKEND_GAPS)]


def _pack_problems(problems: list[str]) -> list[str]:
    return [p for p in problems if f"/extensions/{PACK_LINK_NAME}/" in p]


def test_front_end_loads_the_pack_extension(browser_page):
    page, problems = browser_page
    assert page.evaluate(PACK_EXTENSIONS) == ["CLAP2Diffusion.AudioPlayer"]
    assert not _pack_problems(problems), "\n".join(problems)


WIDGETS_OF = """(types) => types.map(t => {
    const node = (window.LiteGraph ?? window.comfyAPI?.litegraph?.LiteGraph).createNode(t);
    window.app.graph.add(node);
    const widgets = (node.widgets ?? []).map(w => `${w.name}:${w.type}`);
    window.app.graph.remove(node);
    return widgets;
})"""


def test_load_audio_node_has_the_core_audio_player(browser_page, server):
    """Each served front end draws Load Audio (C2D, checked) with the widgets of the core Load Audio node: the
    file list, the audio player (web/c2d_audio_player.js adds it) and the upload button, without errors."""
    page, problems = browser_page
    problems.clear()
    core, ours = page.evaluate(WIDGETS_OF, ["LoadAudio", "C2DLoadAudio"])
    assert any(w.startswith("audioUI:") for w in core), core
    assert ours == core, f"core Load Audio has {core}, Load Audio (C2D, checked) has {ours}"
    assert not _relevant(problems, server), "\n".join(problems)


def test_workflows_are_served_as_templates(server):
    """The front end lists a pack's example workflows from GET /api/workflow_templates."""
    templates = server.get("/api/workflow_templates")
    assert sorted(templates.get(PACK_LINK_NAME, [])) == [p.stem for p in ALL_WORKFLOWS], templates
    for path in ALL_WORKFLOWS:
        assert server.get(f"/api/workflow_templates/{PACK_LINK_NAME}/{path.name}") == json.loads(path.read_text())


def _visible_texts(page, selector: str) -> list[str]:
    loc = page.locator(f"{selector}:visible")
    return [loc.nth(i).inner_text().strip() for i in range(loc.count())]


def _screenshot(page, name: str, tmp_path: Path) -> Path:
    page.evaluate("() => window.app.extensionManager.command.execute('Comfy.Canvas.FitView')")
    page.wait_for_timeout(500)
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot))
    if os.environ.get("C2D_SCREENSHOT_DIR") and not name.endswith("@newer"):  # for the docs: a 256-colour PNG, a third of the size
        dst = Path(os.environ["C2D_SCREENSHOT_DIR"])
        dst.mkdir(parents=True, exist_ok=True)
        with Image.open(shot) as image:
            image.convert("RGB").quantize(256).save(dst / shot.name, optimize=True)
    return shot


def _with_text_encoders(request, page, server, workflow) -> None:
    """A DiT workflow's full-size text-encoder stand-ins (4–8 GB each), staged for its run only and released after
    (devtools.frontend.release_text_encoders), and the page reloaded so the front end lists them."""
    links = stage_text_encoders(workflow, server.object_info, server.models_dir, os.environ.get("C2D_STANDIN_CACHE"))
    request.addfinalizer(lambda: print("released", release_text_encoders(links)))
    page.reload()
    page.wait_for_function(APP_READY, timeout=180_000)
    page.wait_for_timeout(1000)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_loads_queues_and_makes_an_image(request, browser_page, server, path, tmp_path):
    page, problems = browser_page
    workflow = json.loads(path.read_text())
    if text_encoder_files(workflow, server.object_info):
        if server.front_end_root is not None:
            pytest.skip("the DiT workflows load full-size text-encoder stand-ins (4–8 GB each): they run in the "
                        "pinned front end only")
        _with_text_encoders(request, page, server, workflow)
    problems.clear()

    loaded = page.evaluate(LOAD, [workflow, path.stem])
    assert loaded["missing"] == [], f"{path.name}: node types the front end does not know: {loaded['missing']}"
    assert sorted(loaded["types"]) == sorted(n["type"] for n in workflow["nodes"])
    page.wait_for_timeout(1500)  # dialogs and toasts open asynchronously
    dialogs, toasts = _visible_texts(page, ".p-dialog"), _visible_texts(page, ".p-toast-message")
    errors = _relevant(problems, server)
    assert not (dialogs or toasts or errors), (f"loading {path.name} in the front end gave dialogs {dialogs}, "
                                               f"toasts {toasts}, errors:\n" + "\n".join(errors))
    shot_name = path.stem if server.front_end_root is None else f"{path.stem}@newer"
    with Image.open(_screenshot(page, shot_name, tmp_path)) as shot:
        assert shot.size == (VIEWPORT["width"], VIEWPORT["height"])
        assert np.asarray(shot.convert("L"), dtype=np.float32).std() > 10  # a drawn graph, not a blank page

    latents = [n["widgets_values"][:2] for n in workflow["nodes"] if n["type"] == "EmptyLatentImage"]
    expected = (SOURCE_IMAGE_SIZE, SOURCE_IMAGE_SIZE)  # edit / inpaint work at the source photo's size
    if latents:
        expected = tuple(latents[0]) if FULL else tuple(min(v, CPU_LATENT_SIZE) for v in latents[0])
    if not FULL:
        changed = page.evaluate(SHRINK, [CPU_LATENT_SIZE, CPU_STEPS])
        if changed:
            warnings.warn(f"{path.name}: reduced for the CPU in the browser ({'; '.join(changed)}); "
                          f"C2D_FRONTEND_FULL=1 keeps the shipped sizes and steps")

    t0 = time.perf_counter()
    with page.expect_response(lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST",
                              timeout=120_000) as response:
        page.evaluate("() => window.app.queuePrompt(0, 1)")
    answer = response.value.json()
    assert response.value.status == 200 and answer.get("node_errors") == {}, \
        f"{path.name}: the server rejected the front end's prompt: {json.dumps(answer, indent=1)[:4000]}"
    if server.front_end_root is not None:
        # A newer front end: what it can change is loading and the graph → prompt conversion, checked above (the
        # server validated its prompt). The host's own front end runs every workflow to an image, so this one stops
        # the run instead of paying for it twice (the suite's budget).
        _stop_queued(server)
        return
    entry = server.wait_for_history(answer["prompt_id"], RUN_TIMEOUT_S)
    print(f"{path.name}: ran in {time.perf_counter() - t0:.1f} s")
    assert entry["status"]["status_str"] == "success", \
        f"{path.name} failed: {json.dumps(entry['status']['messages'])[:4000]}\n{server.log_tail()}"

    images = {node_id: [i for i in out.get("images", []) if i.get("type") == "output"]
              for node_id, out in entry["outputs"].items()}
    images = {k: v for k, v in images.items() if v}
    assert images, f"{path.name}: no image in the history outputs {entry['outputs']}"
    for node_id, items in images.items():
        for item in items:
            with Image.open(server.output_dir / item["subfolder"] / item["filename"]) as image:
                assert image.size == expected
        page.wait_for_function("(id) => (window.app.nodeOutputs?.[id]?.images?.length ?? 0) > 0", arg=node_id,
                               timeout=30_000)  # the front end got the "executed" message over its websocket
    errors = _relevant(problems, server)
    assert not errors, f"{path.name} raised in the front end while running:\n" + "\n".join(errors)
    server.post("/api/free", {"unload_models": True, "free_memory": True})


def _stop_queued(server, timeout: float = 300.0) -> None:
    """Drop what is pending, interrupt what runs, and wait until the server's queue is empty."""
    server.post("/api/queue", {"clear": True})
    server.post("/api/interrupt", {})
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        queue = server.get("/api/queue") or {}
        if not queue.get("queue_running") and not queue.get("queue_pending"):
            return
        time.sleep(0.5)
    raise AssertionError(f"the server's queue did not empty within {timeout:.0f} s after an interrupt")


# the other packs' model widgets in PACK_WORKFLOWS → (models/ sub-folder, devtools.standin_packs kind)
PACK_MODEL_WIDGETS = {("ADE_AnimateDiffLoaderGen1", "model_name"): ("animatediff_models", "motion"),
                      ("IPAdapterModelLoader", "ipadapter_file"): ("ipadapter", "ip_adapter"),
                      ("CLIPVisionLoader", "clip_name"): ("clip_vision", "clip_vision")}
PACK_EXTENSION_PREFIX = {"vhs": "VideoHelperSuite", "animatediff": "AnimateDiff"}


def _stage_pack_models(workflow, server, models_dir, workdir, keys):
    """Random stand-ins (devtools.standin_packs, built with the packs' own classes in the in-process test host)
    under every model name the workflow's pack nodes use. Runs in a worker thread: ComfyUI's set-up calls
    asyncio.run, which cannot run inside Playwright's event loop."""
    from concurrent.futures import ThreadPoolExecutor

    from devtools import other_packs, standin_packs
    from devtools.comfy_host import get_host
    from devtools.workflow_api import _widget_values
    object_info = server.get("/api/object_info")

    def work():
        host = get_host(models_dir, workdir, load_pack=True)
        for key in keys:
            host.load_other_pack(other_packs.pack_path(key))
        sub = lambda key, name: host.pack_submodule(other_packs.pack_path(key), name)
        builders = {"motion": lambda p: standin_packs.motion_module(p, sub("animatediff", "animatediff.motion_module_ad")),
                    "ip_adapter": lambda p: standin_packs.ip_adapter_sd15(p, sub("ipadapter", "image_proj_models")),
                    "clip_vision": standin_packs.clip_vision_h}
        for node in (n for n in workflow["nodes"] if n["type"] in object_info):  # not the front end's notes
            for name, value in _widget_values(node, object_info[node["type"]]["input"]).items():
                if (node["type"], name) in PACK_MODEL_WIDGETS:
                    folder, kind = PACK_MODEL_WIDGETS[node["type"], name]
                    dst = server.models_dir / folder / value
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    if not dst.exists():
                        src = standin_packs.ensure(kind, builders[kind])
                        if dst.suffix.lower() not in (".safetensors", ".sft"):  # e.g. mm_sd_v15_v2.ckpt: a torch file
                            src = _torch_format_copy(src)
                        dst.symlink_to(src)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(work).result()


@pytest.mark.slow  # AnimateDiff's: 140 s on a busy 2-core CPU, 47 s alone
@pytest.mark.parametrize("name", sorted(PACK_WORKFLOWS))
def test_pack_workflow_loads_queues_and_runs_with_the_other_packs(request, browser_page, server, host_models_dir,
                                                                  host_workdir, name, tmp_path):
    from devtools import other_packs
    if server.front_end_root is not None:
        pytest.skip("the other packs' workflows are checked in the pinned front end only (each takes minutes on a CPU)")
    for key in PACK_WORKFLOWS[name]:
        if other_packs.pack_path(key) is None:
            pytest.skip(other_packs.skip_reason(key))
    ran = getattr(request.config, "c2d_other_packs", {})
    ran.update({k: f"{other_packs.PACKS[k][1]}@{other_packs.commit(k)[:12]}" for k in PACK_WORKFLOWS[name]})
    request.config.c2d_other_packs = ran
    page, problems = browser_page
    path = REPO / "workflows" / f"{name}.json"
    workflow = json.loads(path.read_text())
    _stage_pack_models(workflow, server, host_models_dir, host_workdir, PACK_WORKFLOWS[name])
    server.post("/api/free", {"unload_models": True, "free_memory": True})
    # the model lists the front end shows were read before the stand-ins existed
    _with_text_encoders(request, page, server, workflow)
    extensions = page.evaluate("() => window.app.extensions.map(e => e.name)")
    for key in PACK_WORKFLOWS[name]:
        if key in PACK_EXTENSION_PREFIX:  # the pack's web extension loaded in the served front end
            assert any(PACK_EXTENSION_PREFIX[key] in e for e in extensions), extensions
    problems.clear()
    loaded = page.evaluate(LOAD, [workflow, name])
    assert loaded["missing"] == [], f"{name}: node types the front end does not know: {loaded['missing']}"
    page.wait_for_timeout(1500)
    dialogs, toasts = _visible_texts(page, ".p-dialog"), _visible_texts(page, ".p-toast-message")
    assert not (dialogs or toasts or problems), (f"loading {name} gave dialogs {dialogs}, toasts {toasts}, errors:\n"
                                                 + "\n".join(problems))
    _screenshot(page, name, tmp_path)
    page.evaluate(SHRINK, [CPU_LATENT_SIZE, 2])
    with page.expect_response(lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST",
                              timeout=120_000) as response:
        page.evaluate("() => window.app.queuePrompt(0, 1)")
    answer = response.value.json()
    assert response.value.status == 200 and answer.get("node_errors") == {}, json.dumps(answer, indent=1)[:4000]
    entry = server.wait_for_history(answer["prompt_id"], RUN_TIMEOUT_S)
    assert entry["status"]["status_str"] == "success", \
        f"{name} failed: {json.dumps(entry['status']['messages'])[:4000]}\n{server.log_tail()}"
    files = [i for out in entry["outputs"].values() for key in ("images", "gifs") for i in out.get(key, [])
             if i.get("type") == "output"]
    suffixes = {Path(i["filename"]).suffix for i in files}
    assert suffixes == ({".mp4"} if name in VIDEO_WORKFLOWS else {".png"}), entry["outputs"]
    for item in files:
        assert (server.output_dir / item["subfolder"] / item["filename"]).stat().st_size > 0
    assert not problems, f"{name} raised in the front end while running:\n" + "\n".join(problems)
    server.post("/api/free", {"unload_models": True, "free_memory": True})
