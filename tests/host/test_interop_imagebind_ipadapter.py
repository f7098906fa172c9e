"""Zero-shot sound → IP-Adapter with IPAdapter_plus's real code, no adapter of ours: ImageBind (random weights,
released layout) → CLAP Encode Audio → Audio → Image Embeds → IPAdapter Embeds (a random ip-adapter_sd15 stand-in
built with IPAdapter_plus's own ImageProjModel) on an SD1.5 stand-in. No CLIP vision model is loaded: the sound
takes the image's place, and our neg_embed (zeros) is what IPAdapter_plus's encoder gives ViT-H models."""
import pytest
import torch

from devtools import standin_packs

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def names(comfy_host, other_pack, host_assets, standins):
    pack = other_pack("ipadapter")
    proj = comfy_host.pack_submodule(pack, "image_proj_models")
    ipa = standin_packs.ensure("ip_adapter", lambda p: standin_packs.ip_adapter_sd15(p, proj))
    host_assets.link("ipadapter", standin_packs.NAMES["ip_adapter"], ipa)
    comfy_host.folder_paths.filename_list_cache.clear()
    host_assets.imagebind()
    host_assets.audio("ipa_rain.wav", "rain", 2.5, seed=3)
    host_assets.audio("ipa_chirp.wav", "chirp", 2.5, rate=22_050, seed=4)
    return {"ckpt": standins["sd15"], "ipa": standin_packs.NAMES["ip_adapter"]}


def graph(names, audio="ipa_rain.wav", weight=1.0, ipadapter=True):
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": names["ckpt"]}},
         "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
         "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
         "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    model = ["1", 0]
    if ipadapter:
        p.update({
            "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
            "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": "imagebind_huge.pth"}},
            "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
            "13": {"class_type": "C2DAudioImageEmbeds", "inputs": {"embeds": ["12", 0], "scale": 20.0}},
            "30": {"class_type": "IPAdapterModelLoader", "inputs": {"ipadapter_file": names["ipa"]}},
            "32": {"class_type": "IPAdapterEmbeds", "inputs": {
                "model": model, "ipadapter": ["30", 0], "pos_embed": ["13", 1], "neg_embed": ["13", 2],
                "weight": weight, "weight_type": "linear", "start_at": 0.0, "end_at": 1.0,
                "embeds_scaling": "V only"}}})
        model = ["32", 0]
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 2,
        "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_ib_ipa"}}
    return p


def latent(host, prompt):
    return host.run(prompt, fresh=False)["outputs"]["5"][0]["samples"].clone()


def test_sound_drives_ip_adapter_embeds(comfy_host, names):
    plain = latent(comfy_host, graph(names, ipadapter=False))
    off = latent(comfy_host, graph(names, weight=0.0))
    rain = latent(comfy_host, graph(names))
    chirp = latent(comfy_host, graph(names, audio="ipa_chirp.wav"))
    assert torch.equal(off, plain)  # IP-Adapter weight 0: the plain model, bit for bit
    assert (rain - plain).abs().max() > 1e-3 and (rain - chirp).abs().max() > 1e-3  # the sound decides
