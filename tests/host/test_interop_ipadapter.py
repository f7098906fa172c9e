"""IPAdapter_plus's real code beside ours: IPAdapter Advanced (a random ip-adapter_sd15 stand-in built with its own
ImageProjModel, a random CLIP-ViT-H image encoder) and our audio adapter on one SD1.5 model; and our edit sampler
with IPAdapter's attn2 replacement present (random SD1.5 stand-in, 64² images).

The two patches do not touch each other: IPAdapter replaces the text cross-attention (`patches_replace["attn2"]`),
our adapter adds gated audio attention after self-attention (`middle_patch`). Either order of the two nodes gives
the same model (a test shows it); the workflows apply IPAdapter first, then the audio adapter.
"""
import pytest
import torch
from PIL import Image, ImageDraw

from devtools import standin_packs

CLAP = "c2d-interop-clap"
ADAPTER = "interop_gate05.safetensors"
STEPS = 4

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def names(comfy_host, other_pack, host_assets, standins):
    pack = other_pack("ipadapter")
    proj = comfy_host.pack_submodule(pack, "image_proj_models")
    ipa = standin_packs.ensure("ip_adapter", lambda p: standin_packs.ip_adapter_sd15(p, proj))
    vision = standin_packs.ensure("clip_vision", standin_packs.clip_vision_h)
    host_assets.link("ipadapter", standin_packs.NAMES["ip_adapter"], ipa)
    host_assets.link("clip_vision", standin_packs.NAMES["clip_vision"], vision)
    comfy_host.folder_paths.filename_list_cache.clear()
    host_assets.clap(CLAP, seed=2)
    host_assets.adapter(ADAPTER, seed=3, gate_init=0.5)
    host_assets.adapter("interop_gate1.safetensors", seed=9, gate_init=1.0)
    host_assets.audio("interop_rain.wav", "rain", 2.0, seed=3)
    img = Image.new("RGB", (64, 64), (30, 60, 120))
    d = ImageDraw.Draw(img)
    d.rectangle([8, 8, 30, 40], fill=(240, 200, 40))
    d.ellipse([34, 20, 60, 56], fill=(200, 30, 30))
    img.save(comfy_host.input_dir / "interop_ref.png")
    return {"ckpt": standins["sd15"], "ipa": standin_packs.NAMES["ip_adapter"],
            "vision": standin_packs.NAMES["clip_vision"]}


def base_nodes(names):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": names["ckpt"]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "interop_rain.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "20": {"class_type": "LoadImage", "inputs": {"image": "interop_ref.png"}},
        "30": {"class_type": "IPAdapterModelLoader", "inputs": {"ipadapter_file": names["ipa"]}},
        "31": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": names["vision"]}},
    }


def ipadapter_node(model):
    return {"class_type": "IPAdapterAdvanced", "inputs": {
        "model": model, "ipadapter": ["30", 0], "image": ["20", 0], "weight": 1.0, "weight_type": "linear",
        "combine_embeds": "concat", "start_at": 0.0, "end_at": 1.0, "embeds_scaling": "V only",
        "clip_vision": ["31", 0]}}


def audio_node(model, strength, adapter=ADAPTER):
    return {"class_type": "C2DApplyAudioAdapter", "inputs": {
        "model": model, "adapter": ["13", 0], "embeds": ["12", 0], "strength": strength, "start_percent": 0.0,
        "end_percent": 1.0}, "_adapter": adapter}


def txt2img(names, ipadapter=True, strength=None, ours_first=False):
    p = base_nodes(names)
    p["13"] = {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": ADAPTER}}
    chain = []
    if ipadapter:
        chain.append(("32", ipadapter_node))
    if strength is not None:
        chain.append(("14", lambda m: audio_node(m, strength)))
    if ours_first:
        chain.reverse()
    model = ["1", 0]
    for node_id, make in chain:
        node = make(model)
        node.pop("_adapter", None)
        p[node_id] = node
        model = [node_id, 0]
    p["4"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}}
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 1,
        "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_interop_ipa"}}
    return p


def latent(host, prompt, node="5"):
    return host.run(prompt, fresh=False)["outputs"][node][0]["samples"].clone()


def test_ipadapter_and_audio_adapter_on_one_model(comfy_host, names):
    ipa = latent(comfy_host, txt2img(names))
    plain = latent(comfy_host, txt2img(names, ipadapter=False))
    assert (ipa - plain).abs().max() > 1e-2, "the image prompt must act"
    zero = latent(comfy_host, txt2img(names, strength=0.0))
    assert torch.equal(zero, ipa)  # strength 0: our patch returns its input untouched → IPAdapter's output exactly
    both = latent(comfy_host, txt2img(names, strength=1.0))
    assert torch.isfinite(both).all() and (both - ipa).abs().max() > 1e-3, "the sound must act"
    swapped = latent(comfy_host, txt2img(names, strength=1.0, ours_first=True))
    torch.testing.assert_close(swapped, both, atol=1e-5, rtol=0)  # order of the two nodes does not matter


def edit_graph(names, ipadapter=True):
    """Source image → Invert (plain model) → SamplerCustom with our edit sampler on IPAdapter + audio adapter, a
    mask on the right half. Output "25"; the source latent "21"."""
    p = base_nodes(names)
    p["13"] = {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": "interop_gate1.safetensors"}}
    p.update({
        "40": {"class_type": "LoadImage", "inputs": {"image": "interop_ref.png"}},
        "21": {"class_type": "VAEEncode", "inputs": {"pixels": ["40", 0], "vae": ["1", 2]}},
        "22": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal",
                                                          "steps": STEPS, "denoise": 1.0}},
        "23": {"class_type": "C2DInvertLatent", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                           "latent": ["21", 0], "sigmas": ["22", 0],
                                                           "refine_steps": 2}},
        "41": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 64, "height": 64}},
        "42": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 32, "height": 64}},
        "43": {"class_type": "MaskComposite", "inputs": {"destination": ["41", 0], "source": ["42", 0], "x": 32,
                                                         "y": 0, "operation": "add"}},
        "24": {"class_type": "C2DAudioEditSampler", "inputs": {"inverted": ["23", 0], "feature_fraction": 0.8,
                                                               "attention_fraction": 0.5, "mask": ["43", 0]}},
    })
    model = ["1", 0]
    if ipadapter:
        p["32"] = ipadapter_node(model)
        model = ["32", 0]
    node = audio_node(model, 1.0)
    node.pop("_adapter")
    p["14"] = node
    p["25"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["14", 0], "add_noise": False, "noise_seed": 0, "cfg": 3.0, "positive": ["2", 0],
        "negative": ["3", 0], "sampler": ["24", 0], "sigmas": ["22", 0], "latent_image": ["23", 0]}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["25", 0], "filename_prefix": "c2d_interop_edit"}}
    return p


def test_edit_sampler_keeps_the_source_outside_the_mask_with_ipadapter_present(comfy_host, names):
    out = comfy_host.run(edit_graph(names), fresh=False)["outputs"]
    edited, source = out["25"][0]["samples"].clone(), out["21"][0]["samples"].clone()
    torch.testing.assert_close(edited[..., :4], source[..., :4], atol=1e-4, rtol=0)  # left half: the source
    assert (edited[..., 5:] - source[..., 5:]).abs().max() > 1e-2                    # right half: edited
    without = latent(comfy_host, edit_graph(names, ipadapter=False), node="25")
    assert (edited[..., 5:] - without[..., 5:]).abs().max() > 1e-3, "IPAdapter must act inside the mask"


def test_shipped_ipadapter_workflow_runs(comfy_host, names):
    """workflows/audio_ipadapter.json, shrunk: 64² image, 2 steps."""
    import json
    from pathlib import Path

    from devtools.workflow_api import ui_to_api
    workflow = json.loads((Path(__file__).resolve().parents[2] / "workflows" / "audio_ipadapter.json").read_text())
    api = ui_to_api(workflow, comfy_host.nodes.NODE_CLASS_MAPPINGS)
    kinds = {n["class_type"] for n in api.values()}
    assert {"IPAdapterAdvanced", "C2DApplyAudioAdapter", "CLIPVisionLoader"} <= kinds
    for node in api.values():
        inputs, kind = node["inputs"], node["class_type"]
        swap = {"CheckpointLoaderSimple": ("ckpt_name", names["ckpt"]), "IPAdapterModelLoader": ("ipadapter_file", names["ipa"]),
                "CLIPVisionLoader": ("clip_name", names["vision"]), "C2DCLAPLoader": ("clap_name", CLAP),
                "C2DAudioAdapterLoader": ("adapter_name", ADAPTER), "C2DLoadAudio": ("audio", "interop_rain.wav"),
                "LoadImage": ("image", "interop_ref.png"), "KSampler": ("steps", 2)}
        if kind in swap:
            inputs[swap[kind][0]] = swap[kind][1]
        elif kind == "EmptyLatentImage":
            inputs.update(width=64, height=64)
    result = comfy_host.run(api, fresh=False)
    pngs = [f for f in result["files"] if f.suffix == ".png"]
    assert len(pngs) == 1 and Image.open(pngs[0]).size == (64, 64)
