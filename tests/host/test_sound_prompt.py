"""CLAP Sound Prompt (C2DCLAPTextEncode) inside a real ComfyUI: words instead of a recording drive the adapter.

Graphs: SD1.5 stand-in → [CLAP loader → sound prompt → Apply Audio Adapter] → KSampler (64×64, 2 steps).
"""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from devtools.comfy_host import PromptExecutionError
from devtools.workflow_api import ui_to_api

REPO = Path(__file__).resolve().parents[2]
CLAP = "c2d-prompt-clap"
ADAPTER = "prompt_gate05.safetensors"


pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def ckpt(host_assets, host_models_dir, standins):
    clap = host_assets.clap(CLAP, seed=6)
    bare = host_models_dir / "clap" / "c2d-prompt-clap-no-tokenizer"  # audio works, text cannot
    bare.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        if not (bare / name).exists():
            (bare / name).symlink_to(clap / name)
    host_assets.adapter(ADAPTER, seed=5, gate_init=0.5, clap_model_id=CLAP)
    return standins["sd15"]


def graph(ckpt, text="thunderstorm with heavy rain", lines="average", batch=1, seed=3, clap=CLAP):
    """API prompt; node "12" is the sound prompt, "5" the sampler."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": batch}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": clap}},
        "12": {"class_type": "C2DCLAPTextEncode", "inputs": {"clap": ["11", 0], "text": text, "lines": lines}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": ADAPTER}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": seed,
            "steps": 2, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_prompt"}},
    }


def run(host, prompt, fresh=False):
    out = host.run(prompt, fresh=fresh)["outputs"]
    return out["5"][0]["samples"].clone(), out["12"][0]


def test_prompt_decides_the_image_and_is_reproducible(comfy_host, ckpt):
    storm, e_storm = run(comfy_host, graph(ckpt, "thunderstorm with heavy rain"))
    fire, e_fire = run(comfy_host, graph(ckpt, "crackling fire"))
    assert e_storm.embeds.shape == (1, 512) and e_storm.clap_model_id == CLAP
    torch.testing.assert_close(e_storm.embeds.norm(dim=-1), torch.ones(1))
    assert (e_storm.embeds - e_fire.embeds).abs().max() > 1e-3
    assert (storm - fire).abs().max() > 1e-3
    again, _ = run(comfy_host, graph(ckpt, "thunderstorm with heavy rain"), fresh=True)  # new executor, no cache
    assert torch.equal(again, storm)


def test_line_modes(comfy_host, ckpt):
    text = "thunderstorm with heavy rain\n\n  crackling fire  \n"
    _, avg = run(comfy_host, graph(ckpt, text, lines="average"))
    two, per = run(comfy_host, graph(ckpt, text, lines="one_per_image", batch=2))
    _, storm = run(comfy_host, graph(ckpt, "thunderstorm with heavy rain"))
    _, fire = run(comfy_host, graph(ckpt, "crackling fire"))
    assert avg.embeds.shape == (1, 512) and per.embeds.shape == (2, 512) and two.shape[0] == 2
    torch.testing.assert_close(per.embeds, torch.cat([storm.embeds, fire.embeds]))
    mix = torch.nn.functional.normalize(storm.embeds + fire.embeds, dim=-1)
    torch.testing.assert_close(avg.embeds, mix)
    assert (two[0] - two[1]).abs().max() > 1e-3  # each image got its own line
    with pytest.raises(PromptExecutionError, match="one per image"):  # 2 lines for a batch of 1
        run(comfy_host, graph(ckpt, text, lines="one_per_image", batch=1))


@pytest.mark.parametrize("kw, words", [
    (dict(text="  \n \n"), r"text is empty"),
    (dict(clap="c2d-prompt-clap-no-tokenizer"), r"no tokenizer files"),
], ids=["empty-text", "no-tokenizer"])
def test_bad_sound_prompts_get_clear_errors(comfy_host, ckpt, kw, words):
    with pytest.raises(PromptExecutionError, match=words):
        run(comfy_host, graph(ckpt, **kw))


def test_shipped_sound_prompt_workflow_runs(comfy_host, ckpt):
    workflow = json.loads((REPO / "workflows" / "sound_prompt.json").read_text())
    api = ui_to_api(workflow, comfy_host.nodes.NODE_CLASS_MAPPINGS)
    by_type = {n["class_type"]: n["inputs"] for n in api.values()}
    assert set(by_type) >= {"C2DCLAPLoader", "C2DCLAPTextEncode", "C2DAudioAdapterLoader", "C2DApplyAudioAdapter",
                            "KSampler", "SaveImage"}
    assert by_type["C2DCLAPTextEncode"]["text"].strip()
    by_type["CheckpointLoaderSimple"]["ckpt_name"] = ckpt
    by_type["C2DCLAPLoader"]["clap_name"] = CLAP
    by_type["C2DAudioAdapterLoader"]["adapter_name"] = ADAPTER
    by_type["EmptyLatentImage"].update(width=64, height=64)
    by_type["KSampler"]["steps"] = 2
    result = comfy_host.run(api, fresh=False)
    pngs = [f for f in result["files"] if f.suffix == ".png"]
    assert len(pngs) == 1 and Image.open(pngs[0]).size == (64, 64)
