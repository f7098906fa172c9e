"""Timeline workflow, progress bars and the embeddings preview inside a real ComfyUI (random-weight stand-ins)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from devtools.demo_audio import synth, write_wav
from devtools.workflow_api import ui_to_api

REPO = Path(__file__).resolve().parents[2]
CLAP = "c2d-timeline-clap"
ADAPTER = "timeline_gate05.safetensors"


pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def assets(comfy_host, host_assets, standins):
    host_assets.clap(CLAP, seed=2)
    host_assets.adapter(ADAPTER, seed=3, gate_init=0.5)
    inp = comfy_host.input_dir
    host_assets.audio("tl_rain_90s.wav", "rain", 90.0, rate=16_000, seed=1)
    halves = np.concatenate([synth("rain", 4.0, 44_100, 2, seed=2), synth("tone", 4.0, 44_100, 2)], axis=1)
    write_wav(inp / "tl_rain_then_tone.wav", halves, 44_100)
    return {"ckpt": standins["sd15"]}


def audio_nodes(audio, fps=4.0):
    return {
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DAudioTimeline", "inputs": {"clap": ["11", 0], "audio": ["10", 0], "fps": fps,
                                                             "window_seconds": 1.0, "frame_count": 0, "snap": "none"}},
    }


def test_shipped_timeline_workflow_writes_one_animation_frame_per_audio_frame(comfy_host, assets):
    workflow = json.loads((REPO / "workflows" / "audio_timeline.json").read_text())
    api = ui_to_api(workflow, comfy_host.nodes.NODE_CLASS_MAPPINGS)
    kinds = {n["class_type"] for n in api.values()}
    assert {"C2DAudioTimeline", "EmptyLatentImage", "C2DApplyAudioAdapter", "KSampler", "SaveAnimatedWEBP",
            "C2DAudioEmbedsPreview"} <= kinds
    for node in api.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = assets["ckpt"]
        elif kind == "C2DCLAPLoader":
            inputs["clap_name"] = CLAP
        elif kind == "C2DAudioAdapterLoader":
            inputs["adapter_name"] = ADAPTER
        elif kind == "C2DLoadAudio":
            clip = synth("chirp", 1.5, 22_050, 2, seed=0)
            clip[:, :5_000] = 0                               # a quiet start: the schedule varies
            write_wav(comfy_host.input_dir / inputs["audio"], clip, 22_050)
        elif kind == "KSampler":
            inputs["steps"] = 2
        elif kind == "EmptyLatentImage":
            assert isinstance(inputs["batch_size"], list)     # fed by the timeline's frame_count
            inputs.update(width=64, height=64)                # (shipped at 256²; 64² keeps the test fast)
    timeline_id = next(i for i, n in api.items() if n["class_type"] == "C2DAudioTimeline")
    result = comfy_host.run(api, fresh=False)
    frames, fps = result["outputs"][timeline_id][1], result["outputs"][timeline_id][2]
    assert frames == round(1.5 * fps) == 6
    webps = [f for f in result["files"] if f.suffix == ".webp"]
    assert len(webps) == 1
    with Image.open(webps[0]) as anim:
        assert anim.n_frames == frames and anim.size == (64, 64)
        anim.seek(1)
        anim.load()  # WEBP frame timing is read when the frame is decoded
        assert anim.info.get("duration") == round(1000 / fps)  # the saver got the timeline's fps
    previews = [f for f in result["files"] if f.suffix == ".png"]
    assert len(previews) == 1 and Image.open(previews[0]).size == (512, 512 + round(512 * 0.2))


@pytest.fixture()
def progress_events(comfy_host):
    """(node_id, value, total) of every host progress-bar update while a prompt runs."""
    import comfy.utils
    from comfy_execution.utils import get_executing_context

    events = []

    def hook(value, total, preview, node_id=None):
        ctx = get_executing_context()
        events.append((node_id or (ctx.node_id if ctx else None), value, total))
    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(hook)
    yield events
    comfy.utils.set_progress_bar_global_hook(old)


def _values(events, node):
    seen = [(v, t) for n, v, t in events if n == node]
    assert seen, f"node {node} reported no progress; events: {events}"
    values, totals = [v for v, _ in seen], {t for _, t in seen}
    return values, totals


def test_progress_bars_for_clap_encoding_timeline_and_inversion(comfy_host, assets, progress_events):
    p = audio_nodes("tl_rain_90s.wav", fps=0.5)            # 90 s: 9 CLAP windows of 10 s; 45 timeline frames
    p["13"] = {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}}
    p.update({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": assets["ckpt"]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "22": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 3,
                                                          "denoise": 1.0}},
        "23": {"class_type": "C2DInvertLatent", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                           "latent": ["4", 0], "sigmas": ["22", 0],
                                                           "refine_steps": 0}},
        "30": {"class_type": "SaveLatent", "inputs": {"samples": ["23", 0], "filename_prefix": "tl_inv"}},
        "31": {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["13", 0], "size": 64}},
        "32": {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "size": 64}},
    })
    result = comfy_host.run(p, fresh=True)
    assert result["outputs"]["12"][1] == 45
    for node, total, updates in (("13", 9, 2), ("12", 45, 2), ("23", 3, 3)):
        values, totals = _values(progress_events, node)
        assert totals == {total}, (node, totals)
        assert values == sorted(values) and len(set(values)) >= updates and values[-1] == total, (node, values)
        assert values[0] < total, (node, values)               # it moved before the end, not only at the end


def test_preview_shows_a_block_per_sound(comfy_host, assets):
    p = audio_nodes("tl_rain_then_tone.wav", fps=2.0)       # 8 s: 4 s rain, then 4 s tone → 16 frames
    p["15"] = {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "loudness": ["12", 3],
                                                                 "size": 256}}
    result = comfy_host.run(p, fresh=False)
    image = result["outputs"]["15"][0]
    assert image.shape == (1, 256 + round(256 * 0.2), 256, 3) and image.min() >= 0 and image.max() <= 1
    n, cell = result["outputs"]["12"][1], 256 // 16
    assert n == 16
    level = image[0, :256, :, 0] + image[0, :256, :, 1]       # R + G rises monotonically along the colour map
    frame = torch.arange(256) // cell                          # frame of each pixel row / column
    off_diag = frame[:, None] != frame[None, :]
    first = frame < n // 2
    within = (first[:, None] == first[None, :]) & off_diag
    across = first[:, None] != first[None, :]
    assert level[within].mean() > level[across].mean() + 0.2, (level[within].mean(), level[across].mean())
    strip = image[0, 256:, :, 0]                                # loudness strip: light bars on dark
    assert strip.max() > 0.9 and strip.min() < 0.2
