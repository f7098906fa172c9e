"""A stock SD1.5 ControlNet (random stand-in in the control_model.* layout, loaded by ControlNetLoader) with Apply
ControlNet (Advanced), our audio adapter and our audio guider on one model (random SD1.5 stand-in, 64² images)."""
import pytest
import torch
from PIL import Image, ImageDraw

from devtools import standin_packs

CLAP = "c2d-interop-clap"
ADAPTER = "interop_gate1.safetensors"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def names(comfy_host, host_assets, standins):
    path = standin_packs.ensure("controlnet", standin_packs.controlnet_sd15)
    host_assets.link("controlnet", standin_packs.NAMES["controlnet"], path)
    comfy_host.folder_paths.filename_list_cache.clear()
    host_assets.clap(CLAP, seed=2)
    host_assets.adapter(ADAPTER, seed=9, gate_init=1.0)
    host_assets.audio("interop_rain.wav", "rain", 2.0, seed=3)
    img = Image.new("RGB", (64, 64), (0, 0, 0))
    ImageDraw.Draw(img).ellipse([12, 12, 52, 52], outline=(255, 255, 255), width=3)
    img.save(comfy_host.input_dir / "interop_hint.png")
    return {"ckpt": standins["sd15"], "cn": standin_packs.NAMES["controlnet"]}


def graph(names, control=True, strength=None, guider=False, audio_cfg=3.0):
    """[Apply ControlNet (Advanced)] on the prompts, [Apply Audio Adapter] on the model, CFGGuider or our
    Audio Guider, SamplerCustomAdvanced (2 steps). Output "34"."""
    p = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": names["ckpt"]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "interop_rain.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": ADAPTER}},
        "31": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "32": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 2,
                                                          "denoise": 1.0}},
        "33": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
    }
    pos, neg, model = ["2", 0], ["3", 0], ["1", 0]
    if control:
        p["40"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": names["cn"]}}
        p["41"] = {"class_type": "LoadImage", "inputs": {"image": "interop_hint.png"}}
        p["42"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": pos, "negative": neg, "control_net": ["40", 0], "image": ["41", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}}
        pos, neg = ["42", 0], ["42", 1]
    if strength is not None:
        p["14"] = {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": model, "adapter": ["13", 0], "embeds": ["12", 0], "strength": strength, "start_percent": 0.0,
            "end_percent": 1.0}}
        model = ["14", 0]
    if guider:
        p["30"] = {"class_type": "C2DAudioGuider", "inputs": {"model": model, "positive": pos, "negative": neg,
                                                              "text_cfg": 7.0, "audio_cfg": audio_cfg}}
    else:
        p["30"] = {"class_type": "CFGGuider", "inputs": {"model": model, "positive": pos, "negative": neg,
                                                         "cfg": 7.0}}
    p["34"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["33", 0], "guider": ["30", 0], "sampler": ["31", 0], "sigmas": ["32", 0], "latent_image": ["4", 0]}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["34", 0], "filename_prefix": "c2d_interop_cn"}}
    return p


def latent(host, prompt):
    return host.run(prompt, fresh=False)["outputs"]["34"][0]["samples"].clone()


def test_controlnet_audio_adapter_and_audio_guider_together(comfy_host, names):
    cn = latent(comfy_host, graph(names))
    plain = latent(comfy_host, graph(names, control=False))
    assert (cn - plain).abs().max() > 1e-2, "the ControlNet must act"
    zero = latent(comfy_host, graph(names, strength=0.0))
    assert torch.equal(zero, cn)  # strength 0 with a ControlNet: exactly the ControlNet's output
    zero_guided = latent(comfy_host, graph(names, strength=0.0, guider=True))
    # the guider batches a third row (cond without audio) beside cond and uncond: same maths as CFGGuider when the
    # adapter is off, within float round-off of a 3-row against a 2-row batch (as test_guidance measures it)
    torch.testing.assert_close(zero_guided, cn, atol=1e-4 * cn.abs().max().item(), rtol=0)
    guided = latent(comfy_host, graph(names, strength=1.0, guider=True))
    unguided = latent(comfy_host, graph(names, strength=1.0))
    assert torch.isfinite(guided).all() and (guided - cn).abs().max() > 1e-3, "the sound must act"
    assert (guided - unguided).abs().max() > 1e-3, "audio_cfg must act with the ControlNet present"
