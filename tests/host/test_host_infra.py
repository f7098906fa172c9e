"""The host test infrastructure itself, proven with stock ComfyUI nodes only: the in-process host runs
API prompts, the random SD1.5 stand-ins load and sample, LoRA and inpainting paths work, and UI-format
workflows convert like the front end converts them."""
import copy
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from devtools.comfy_host import PromptExecutionError, PromptValidationError
from devtools.workflow_api import MissingNodeTypeError, ui_to_api, widget_layout

SEED = 1234


def txt2img(ckpt: str, seed: int = SEED, lora: str | None = None, strength: float = 1.0, prefix: str = "infra"):
    """CheckpointLoaderSimple → (LoraLoader) → CLIPTextEncode ×2 → EmptyLatentImage 64² → KSampler 2 steps
    → VAEDecode → SaveImage. Node "5" is the sampler."""
    model, clip = ["1", 0], ["1", 1]
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": clip}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": clip}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": seed,
            "steps": 2, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }
    if lora is not None:
        prompt["8"] = {"class_type": "LoraLoader", "inputs": {
            "model": ["1", 0], "clip": ["1", 1], "lora_name": lora, "strength_model": strength,
            "strength_clip": strength}}
        prompt["5"]["inputs"]["model"] = ["8", 0]
        for node in ("2", "3"):
            prompt[node]["inputs"]["clip"] = ["8", 1]
    return prompt


def latent_of(result, node="5") -> torch.Tensor:
    return result["outputs"][node][0]["samples"]


@pytest.fixture(scope="module", autouse=True)
def _drop_shared_cache(stock_host):
    """Runs with fresh=False share the host's executor (the stand-in stays loaded between them, which
    saves a 2 GB checkpoint load per run); give its memory back when this module is done."""
    yield
    stock_host.clear_cache()


@pytest.fixture(scope="module")
def base_run(stock_host, standins) -> dict:
    """What the base graph produced. Only tensors and facts are kept: a run's outputs hold the loaded
    models (~4 GB on the CPU), so tests drop results as soon as they have read them."""
    result = stock_host.run(txt2img(standins["sd15"]), fresh=True)
    return {"latent": latent_of(result), "image": result["outputs"]["6"][0], "files": result["files"],
            "model_config": type(result["outputs"]["1"][0].model.model_config).__name__,
            "cached": result["cached"]}


def test_txt2img_writes_png_and_is_deterministic(stock_host, standins, base_run):
    assert base_run["model_config"] == "SD15", "the stand-in must be detected as SD1.5"
    latent = base_run["latent"]
    assert latent.shape == (1, 4, 8, 8) and torch.isfinite(latent).all()
    image = base_run["image"]
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()
    pngs = [f for f in base_run["files"] if f.suffix == ".png"]
    assert len(pngs) == 1 and pngs[0].is_file() and pngs[0].parent == stock_host.output_dir
    assert Image.open(pngs[0]).size == (64, 64)
    pixels = np.asarray(Image.open(pngs[0]))
    assert pixels.std() > 1, "a random model still gives a non-constant image"
    assert base_run["cached"] == []

    again = latent_of(stock_host.run(txt2img(standins["sd15"]), fresh=True))  # a new executor: nothing cached
    assert torch.equal(again, latent)
    other_seed = stock_host.run(txt2img(standins["sd15"], seed=SEED + 1), fresh=False)
    assert not torch.equal(latent_of(other_seed), latent)
    del other_seed


def test_lora_keys_all_map_and_lora_changes_the_latent(stock_host, standins, base_run, caplog):
    import comfy.lora
    import comfy.utils

    with caplog.at_level(logging.WARNING):
        on = stock_host.run(txt2img(standins["sd15"], lora=standins["sd15_lora"], strength=1.0), fresh=False)
    assert "lora key not loaded" not in caplog.text
    assert torch.isfinite(latent_of(on)).all()
    assert not torch.equal(latent_of(on), base_run["latent"])

    model, clip = on["outputs"]["1"][:2]  # the checkpoint's own model and CLIP, before the LoRA
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    del on, model, clip
    lora = comfy.utils.load_torch_file(str(standins["paths"]["sd15_lora"]), safe_load=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        patches = comfy.lora.load_lora(lora, key_map)
    assert "lora key not loaded" not in caplog.text
    assert len(patches) == 18  # 4 UNet attention layers × q, k, v, out + 2 text-encoder projections

    off = latent_of(stock_host.run(txt2img(standins["sd15"], lora=standins["sd15_lora"], strength=0.0),
                                   fresh=False))
    assert torch.equal(off, base_run["latent"])


# ---- UI-format workflows -------------------------------------------------------------------------
def _node(node_id, type_, inputs=(), outputs=(), widgets=None, mode=0, title=None):
    node = {"id": node_id, "type": type_, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": node_id,
            "mode": mode, "inputs": [dict(i) for i in inputs], "outputs": [dict(o) for o in outputs],
            "properties": {}}
    if widgets is not None:
        node["widgets_values"] = widgets
    if title:
        node["title"] = title
    return node


def _in(name, type_, link=None, widget=False):
    entry = {"name": name, "type": type_, "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def _out(name, type_, links=()):
    return {"name": name, "type": type_, "links": list(links)}


def ui_workflow(ckpt: str) -> dict:
    """The base txt2img graph as the front end saves it, plus a Reroute for CLIP, a Note, a bypassed
    LatentUpscaleBy between the empty latent and the sampler, a PrimitiveNode driving `steps`, a
    muted PreviewImage and a commented prompt (front-end dynamic-prompt processing strips it)."""
    nodes = [
        _node(1, "CheckpointLoaderSimple", inputs=[_in("ckpt_name", "COMBO", widget=True)],
              outputs=[_out("MODEL", "MODEL", [1]), _out("CLIP", "CLIP", [2]), _out("VAE", "VAE", [9])],
              widgets=[ckpt]),
        _node(20, "Reroute", inputs=[_in("", "*", 2)], outputs=[_out("", "CLIP", [3, 4])], widgets=None),
        _node(2, "CLIPTextEncode", inputs=[_in("clip", "CLIP", 3), _in("text", "STRING", widget=True)],
              outputs=[_out("CONDITIONING", "CONDITIONING", [5])], widgets=["a cat/* a comment */"]),
        _node(3, "CLIPTextEncode", inputs=[_in("clip", "CLIP", 4), _in("text", "STRING", widget=True)],
              outputs=[_out("CONDITIONING", "CONDITIONING", [6])], widgets=["// nothing"]),
        _node(4, "EmptyLatentImage", inputs=[_in(n, "INT", widget=True) for n in ("width", "height", "batch_size")],
              outputs=[_out("LATENT", "LATENT", [7])], widgets=[64, 64, 1]),
        _node(21, "LatentUpscaleBy", mode=4,
              inputs=[_in("samples", "LATENT", 7), _in("upscale_method", "COMBO", widget=True),
                      _in("scale_by", "FLOAT", widget=True)],
              outputs=[_out("LATENT", "LATENT", [8])], widgets=["nearest-exact", 2.0]),
        _node(22, "PrimitiveNode", outputs=[_out("INT", "INT", [12])], widgets=[2, "fixed"],
              title="steps"),
        _node(5, "KSampler",
              inputs=[_in("model", "MODEL", 1), _in("positive", "CONDITIONING", 5),
                      _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 8),
                      _in("seed", "INT", widget=True), _in("steps", "INT", 12, widget=True),
                      _in("cfg", "FLOAT", widget=True), _in("sampler_name", "COMBO", widget=True),
                      _in("scheduler", "COMBO", widget=True), _in("denoise", "FLOAT", widget=True)],
              outputs=[_out("LATENT", "LATENT", [10])],
              widgets=[SEED, "randomize", 20, 7.0, "euler", "normal", 1.0]),
        _node(6, "VAEDecode", inputs=[_in("samples", "LATENT", 10), _in("vae", "VAE", 9)],
              outputs=[_out("IMAGE", "IMAGE", [11, 13])]),
        _node(7, "SaveImage", inputs=[_in("images", "IMAGE", 11), _in("filename_prefix", "STRING", widget=True)],
              widgets=["ui_workflow"]),
        _node(23, "PreviewImage", mode=2, inputs=[_in("images", "IMAGE", 13)], widgets=[]),
        _node(24, "Note", widgets=["this graph is for the tests"]),
    ]
    links = [[1, 1, 0, 5, 0, "MODEL"], [2, 1, 1, 20, 0, "CLIP"], [3, 20, 0, 2, 0, "CLIP"], [4, 20, 0, 3, 0, "CLIP"],
             [5, 2, 0, 5, 1, "CONDITIONING"], [6, 3, 0, 5, 2, "CONDITIONING"], [7, 4, 0, 21, 0, "LATENT"],
             [8, 21, 0, 5, 3, "LATENT"], [9, 1, 2, 6, 1, "VAE"], [10, 5, 0, 6, 0, "LATENT"],
             [11, 6, 0, 7, 0, "IMAGE"], [12, 22, 0, 5, 5, "INT"], [13, 6, 0, 23, 0, "IMAGE"]]
    return {"last_node_id": 24, "last_link_id": 13, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def test_ui_workflow_converts_like_the_front_end_and_runs(stock_host, standins, base_run):
    api = ui_to_api(ui_workflow(standins["sd15"]), stock_host.nodes.NODE_CLASS_MAPPINGS)
    assert sorted(api, key=int) == ["1", "2", "3", "4", "5", "6", "7"]  # no reroute, note, primitive, bypassed, muted
    sampler = api["5"]["inputs"]
    assert sampler == {"seed": SEED, "steps": 2, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                       "denoise": 1.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                       "latent_image": ["4", 0]}  # control_after_generate skipped; primitive's steps
    assert api["2"]["inputs"] == {"text": "a cat", "clip": ["1", 1]}  # through the reroute, comment stripped
    assert api["3"]["inputs"]["text"] == ""
    result = stock_host.run(api, fresh=False)  # cached loader and text encodings from the tests above
    assert torch.equal(latent_of(result), base_run["latent"]), "the converted graph is the base graph"
    assert any(f.name.startswith("ui_workflow") for f in result["files"])


def test_widget_layouts_of_upload_and_seed_nodes(stock_host):
    defs = stock_host.nodes.NODE_CLASS_MAPPINGS
    layout = lambda t: [(name, kind) for name, kind, _ in widget_layout(t, defs[t].INPUT_TYPES())]  # noqa: E731
    assert layout("LoadAudio") == [("audio", "input"), ("audioUI", "ui"), ("upload", "ui")]
    assert layout("LoadImage") == [("image", "input"), ("upload", "ui")]
    assert layout("KSamplerAdvanced")[:3] == [("add_noise", "input"), ("noise_seed", "input"),
                                              ("control_after_generate", "control")]
    workflow = {"nodes": [_node(1, "LoadImage", widgets=["photo.png", "image"],
                                outputs=[_out("IMAGE", "IMAGE"), _out("MASK", "MASK")])], "links": []}
    assert ui_to_api(workflow, defs)["1"]["inputs"] == {"image": "photo.png"}


def test_unknown_node_type_is_a_clear_error(stock_host, standins):
    workflow = ui_workflow(standins["sd15"])
    workflow["nodes"].append(_node(30, "C2DNoSuchNode", widgets=[1]))
    with pytest.raises(MissingNodeTypeError, match=r"node 30 \('C2DNoSuchNode'\)"):
        ui_to_api(workflow, stock_host.nodes.NODE_CLASS_MAPPINGS)
    # 0.3.64: "Cannot execute because node C2DNoSuchNode does not exist."; 0.33: "Node 'C2DNoSuchNode' not found."
    with pytest.raises(PromptValidationError, match=r"C2DNoSuchNode('? does not exist|' not found)"):
        stock_host.run({"1": {"class_type": "C2DNoSuchNode", "inputs": {}}})


def test_validation_and_execution_errors_carry_comfyui_messages(stock_host, standins):
    bad = copy.deepcopy(txt2img(standins["sd15"]))
    bad["1"]["inputs"]["ckpt_name"] = "missing.safetensors"
    with pytest.raises(PromptValidationError, match="missing.safetensors"):
        stock_host.run(bad)
    (stock_host.input_dir / "broken.png").write_bytes(b"this is not a png")
    broken = {"1": {"class_type": "LoadImage", "inputs": {"image": "broken.png"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    with pytest.raises(PromptExecutionError, match="cannot identify image file") as err:
        stock_host.run(broken)
    assert err.value.node_id == "1" and err.value.node_type == "LoadImage"


def test_fresh_false_reuses_cached_outputs(stock_host):
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
              "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "cache"}}}
    stock_host.clear_cache()
    first = stock_host.run(prompt, fresh=False)
    second = stock_host.run(prompt, fresh=False)
    assert "1" not in first["cached"] and "1" in second["cached"]
    assert second["outputs"]["1"][0]["samples"] is first["outputs"]["1"][0]["samples"]
    assert stock_host.run(prompt)["cached"] == []


def test_inpainting_checkpoint_samples_through_inpaint_conditioning(stock_host, standins):
    prompt = txt2img(standins["sd15_inpaint"], prefix="inpaint")
    prompt["9"] = {"class_type": "EmptyImage",
                   "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x808080}}
    prompt["10"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}}
    prompt["11"] = {"class_type": "InpaintModelConditioning", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "vae": ["1", 2], "pixels": ["9", 0], "mask": ["10", 0],
        "noise_mask": True}}
    prompt["5"]["inputs"].update(positive=["11", 0], negative=["11", 1], latent_image=["11", 2])
    stock_host.clear_cache()  # the shared SD1.5 models go first: one 4 GB model set at a time
    result = stock_host.run(prompt, fresh=True)
    unet = result["outputs"]["1"][0].model
    assert type(unet.model_config).__name__ == "SD15" and unet.model_config.inpaint_model()
    assert unet.diffusion_model.in_channels == 9
    assert "concat_latent_image" in result["outputs"]["11"][0][0][1]
    assert torch.isfinite(latent_of(result)).all()
    assert any(f.name.startswith("inpaint") for f in result["files"])


def test_the_pack_and_the_tests_share_one_c2d_core(comfy_host):
    """The nodes' `c2d_core` (imported relatively inside the loaded pack) is the tests' `c2d_core`."""
    import sys

    import c2d_core.errors
    import c2d_core.patch

    pack = comfy_host.pack_module.__name__
    assert sys.modules[f"{pack}.c2d_core.errors"] is c2d_core.errors
    assert comfy_host.pack_module.nodes.apply_adapter.AudioAttentionPatch is c2d_core.patch.AudioAttentionPatch


def test_executor_matches_the_hosts_api(stock_host):
    """The harness builds its executor and reads its cache the way this host's ComfyUI does: 0.33+ takes cache_args
    (read as "ram" / "ram_inactive" on every prompt) and caches CacheEntry(ui, outputs); 0.3.64 takes no cache
    arguments and caches the per-slot lists. The smoke run proves the 0.3.64 path, the main run the 0.33 path."""
    import inspect

    from comfy_locator import version_key
    from devtools.comfy_host import cached_outputs, new_executor

    takes_cache_args = "cache_args" in inspect.signature(stock_host.execution.PromptExecutor.__init__).parameters
    assert takes_cache_args == (version_key(stock_host.version) >= (0, 33)), stock_host.version
    executor = new_executor(stock_host.execution, stock_host.server)
    if takes_cache_args:
        assert {"ram", "ram_inactive"} <= set(executor.cache_args)
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 40, "batch_size": 2}},
              "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "api"}}}
    executor.execute(prompt, "api-check", {}, ["2"])
    assert executor.success
    slots = cached_outputs(executor, "1")
    assert isinstance(slots, list) and len(slots) == 1 and isinstance(slots[0], list), type(slots)
    assert slots[0][0]["samples"].shape == (2, 4, 5, 8) and not slots[0][0]["samples"].any()
    result = stock_host.run(prompt)
    assert result["outputs"]["1"][0]["samples"].shape == (2, 4, 5, 8)
    assert [f.suffix for f in result["files"]] == [".latent"] and result["files"][0].is_file()
