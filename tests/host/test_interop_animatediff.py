"""AnimateDiff-Evolved's real code beside ours: its motion model (a random mm_sd_v15_v2 stand-in built from its own
classes) and our audio adapter on the same SD1.5 model, per-frame embeddings and the loudness schedule from Audio
Timeline (random SD1.5 stand-in, 64² images, 2 steps).

Both act on one model: AnimateDiff injects motion modules and wraps sampling; our adapter is a `middle_patch` in
the transformer options. The order of the two nodes does not matter (a test shows it). With context windows
(AnimateDiff's context options) each UNet call sees a window of frames, named in `ad_params["sub_idxs"]`; each
frame still hears its own embedding (c2d_core.rows).
"""
import pytest
import torch

from devtools import standin_packs

CLAP = "c2d-interop-clap"
ADAPTER = "interop_gate05.safetensors"
FPS = 8.0

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def names(comfy_host, other_pack, host_assets, standins):
    pack = other_pack("animatediff")
    mm = comfy_host.pack_submodule(pack, "animatediff.motion_module_ad")
    path = standin_packs.ensure("motion", lambda p: standin_packs.motion_module(p, mm))
    host_assets.link("animatediff_models", standin_packs.NAMES["motion"], path)
    comfy_host.folder_paths.filename_list_cache.clear()
    host_assets.clap(CLAP, seed=2)
    host_assets.adapter(ADAPTER, seed=3, gate_init=0.5)
    host_assets.audio("interop_chirp_3s.wav", "chirp", 3.0, rate=22_050, seed=1)
    return {"ckpt": standins["sd15"], "motion": standin_packs.NAMES["motion"]}


def ad_graph(names, strength=1.0, frames=16, motion=True, ours_first=False, context=None, audio=True, cfg=5.0):
    """Checkpoint → [AnimateDiff Loader (gen1)] and [Apply Audio Adapter] in either order → KSampler over
    `frames` latents. Output: node "5" (KSampler)."""
    p = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": names["ckpt"]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "interop_chirp_3s.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DAudioTimeline", "inputs": {"clap": ["11", 0], "audio": ["10", 0], "fps": FPS,
                                                             "window_seconds": 0.5, "frame_count": frames,
                                                             "snap": "none"}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": ADAPTER}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": ["12", 1]}},
    }
    ad = {"class_type": "ADE_AnimateDiffLoaderGen1", "inputs": {"model_name": names["motion"],
                                                                "beta_schedule": "autoselect"}}
    if context:
        p["21"] = {"class_type": "ADE_StandardStaticContextOptions", "inputs": {
            "context_length": context, "context_overlap": 4, "fuse_method": "pyramid", "use_on_equal_length": False,
            "start_percent": 0.0, "guarantee_steps": 1}}
        ad["inputs"]["context_options"] = ["21", 0]
    ours = {"class_type": "C2DApplyAudioAdapter", "inputs": {
        "adapter": ["13", 0], "embeds": ["12", 0], "strength": strength, "start_percent": 0.0, "end_percent": 1.0,
        "strength_schedule": ["12", 3]}}
    chain = ([("14", ours)] if audio else []) + ([("20", ad)] if motion else [])
    if not ours_first:
        chain.reverse()
    model = ["1", 0]
    for node_id, node in chain:
        node["inputs"]["model"] = model
        p[node_id] = node
        model = [node_id, 0]
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 1,
        "steps": 2, "cfg": cfg, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_interop_ad"}}
    return p


def sample(host, prompt):
    out = host.run(prompt, fresh=False)["outputs"]
    return out["5"][0]["samples"].clone(), out["12"]


def test_motion_model_and_audio_adapter_on_one_model(comfy_host, names):
    motion_only, timeline = sample(comfy_host, ad_graph(names, audio=False))
    assert motion_only.shape == (16, 4, 8, 8) and timeline[1] == 16 and len(timeline[3]) == 16
    plain, _ = sample(comfy_host, ad_graph(names, audio=False, motion=False))
    assert (motion_only - plain).abs().max() > 1e-2, "the motion modules must act"
    zero, _ = sample(comfy_host, ad_graph(names, strength=0.0))
    # strength 0: our patch returns its input unchanged (no arithmetic), so AnimateDiff's output is bit-identical
    assert torch.equal(zero, motion_only)
    both, _ = sample(comfy_host, ad_graph(names, strength=1.0))
    assert torch.isfinite(both).all() and (both - motion_only).abs().max() > 1e-3, "the sound must act"
    swapped, _ = sample(comfy_host, ad_graph(names, strength=1.0, ours_first=True))
    torch.testing.assert_close(swapped, both, atol=1e-5, rtol=0)  # the order of the two nodes does not matter


def test_context_windows_give_each_frame_its_own_sound(comfy_host, names):
    """24 frames in windows of 16: every UNet call sees 16 frames, each with its own embedding and schedule."""
    kw = dict(frames=24, context=16, cfg=1.0)  # cond rows only: half the UNet work
    motion_only, _ = sample(comfy_host, ad_graph(names, audio=False, **kw))
    zero, _ = sample(comfy_host, ad_graph(names, strength=0.0, **kw))
    assert torch.equal(zero, motion_only)
    both, timeline = sample(comfy_host, ad_graph(names, **kw))
    assert both.shape[0] == 24 == timeline[0].embeds.shape[0]
    assert (both - motion_only).abs().amax(dim=(1, 2, 3)).min() > 1e-4, "every frame must hear the sound"


def test_shipped_animatediff_workflow_runs(comfy_host, names, other_pack):
    """workflows/audio_animatediff.json (with VideoHelperSuite's Video Combine), shrunk: 64² images, 2 steps."""
    import json
    from pathlib import Path

    import av

    from devtools.workflow_api import ui_to_api
    other_pack("vhs")
    workflow = json.loads((Path(__file__).resolve().parents[2] / "workflows" / "audio_animatediff.json").read_text())
    api = ui_to_api(workflow, comfy_host.nodes.NODE_CLASS_MAPPINGS)
    for node in api.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = names["ckpt"]
        elif kind == "ADE_AnimateDiffLoaderGen1":
            inputs["model_name"] = names["motion"]
        elif kind == "C2DCLAPLoader":
            inputs["clap_name"] = CLAP
        elif kind == "C2DAudioAdapterLoader":
            inputs["adapter_name"] = ADAPTER
        elif kind == "C2DLoadAudio":
            inputs["audio"] = "interop_chirp_3s.wav"
        elif kind == "KSampler":
            inputs["steps"] = 2
        elif kind == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        elif kind == "C2DAudioTimeline":
            assert inputs["snap"] == "multiple_of_16"
            inputs["fps"] = 4.0                       # 3 s at 4 fps = 12 → snapped to 16 frames
    result = comfy_host.run(api, fresh=False)
    mp4s = [f for f in result["files"] if f.suffix == ".mp4"]
    assert len(mp4s) == 1, result["files"]
    with av.open(str(mp4s[0])) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 16
        assert float(clip.streams.video[0].average_rate) == pytest.approx(4.0, rel=1e-3)
        assert len(clip.streams.audio) == 1
