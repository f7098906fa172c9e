"""Zero-shot sound → SD 2.1 unCLIP-H in a real ComfyUI, no adapter: ImageBind (random weights, released layout, in
ComfyUI's models/audio_encoders/) → CLAP Encode Audio → Audio → Image Embeds → the stock unCLIPConditioning → KSampler
on an SD 2.1 unCLIP-H stand-in (ComfyUI's own classes, detected as SD21UnclipH)."""
import pytest
import torch

from devtools.comfy_host import PromptExecutionError

SEED = 5
CLAP = "c2d-zero-shot-clap"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def assets(comfy_host, host_assets, unclip_standin):
    host_assets.imagebind()
    host_assets.clap(CLAP, seed=4)
    host_assets.audio("ib_rain.wav", "rain", 3.0, rate=44_100, channels=2, seed=1)
    host_assets.audio("ib_chirp.wav", "chirp", 3.0, rate=48_000, seed=2)
    return unclip_standin


def graph(ckpt, audio="ib_rain.wav", strength=1.0, unclip=True, encoder="imagebind_huge.pth", scale=20.0):
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
         "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a painting", "clip": ["1", 1]}},
         "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
         "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    positive = ["2", 0]
    if unclip:
        p.update({
            "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
            "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": encoder}},
            "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
            "13": {"class_type": "C2DAudioImageEmbeds", "inputs": {"embeds": ["12", 0], "scale": scale}},
            "14": {"class_type": "unCLIPConditioning", "inputs": {
                "conditioning": positive, "clip_vision_output": ["13", 0], "strength": strength,
                "noise_augmentation": 0.0}}})
        positive = ["14", 0]
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "positive": positive, "negative": ["3", 0], "latent_image": ["4", 0], "seed": SEED,
        "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_unclip"}}
    return p


def latent(host, prompt):
    return host.run(prompt, fresh=False)["outputs"]["5"][0]["samples"].clone()


def test_sound_drives_sd21_unclip_through_the_stock_node(comfy_host, assets):
    plain = latent(comfy_host, graph(assets, unclip=False))
    off = latent(comfy_host, graph(assets, strength=0.0))
    rain = latent(comfy_host, graph(assets))
    chirp = latent(comfy_host, graph(assets, audio="ib_chirp.wav"))
    assert torch.equal(off, plain)  # strength 0: the plain model, bit for bit
    assert (rain - plain).abs().max() > 1e-3 and (rain - chirp).abs().max() > 1e-3  # the sound decides
    out = comfy_host.run(graph(assets), fresh=False)["outputs"]  # from the executor's cache
    vision = out["13"][0]
    assert vision.image_embeds.shape == (1, 1024)
    torch.testing.assert_close(vision.image_embeds.norm(dim=-1), torch.tensor([20.0]))
    torch.testing.assert_close(out["13"][1], vision.image_embeds)
    assert torch.count_nonzero(out["13"][2]) == 0
    with pytest.raises(AttributeError, match="holds image_embeds only, not penultimate_hidden_states.*cannot take a sound"):
        vision.penultimate_hidden_states


def test_clap_embeddings_are_refused_with_the_fix(comfy_host, assets):
    with pytest.raises(PromptExecutionError, match=rf"made by '{CLAP}' \(512-d\), which does not live in a CLIP image "
                                                   r"space.*load ImageBind"):
        comfy_host.run(graph(assets, encoder=CLAP))
