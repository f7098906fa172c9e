"""The audio guider: separate text/audio scales, audio scale 0 = plain CFG, one UNet pass (3 rows) per step."""
import pytest
import torch


CLAP = "c2d-guide-clap"


pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def ckpt(host_assets, standins):
    host_assets.clap(CLAP, seed=6)
    host_assets.adapter("guide.safetensors", seed=2, gate_init=0.7)
    host_assets.audio("guide.wav", "chirp", 2.0)
    return standins["sd15"]


def graph(ckpt, audio_cfg=None, steps=2, hook=None):
    """audio_cfg None: stock CFGGuider on the unpatched model; else the audio guider on the patched one.
    hook: a stock model node (class_type, inputs) put between the model and the guider (a CFG hook)."""
    p = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "guide.wav"}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": "guide.safetensors"}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
        "31": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "32": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": steps,
                                                          "denoise": 1.0}},
        "33": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
        "34": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["33", 0], "guider": ["30", 0], "sampler": ["31", 0], "sigmas": ["32", 0],
            "latent_image": ["4", 0]}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["34", 0], "filename_prefix": "guide"}},
    }
    model = ["1", 0] if audio_cfg is None else ["14", 0]
    if hook is not None:
        p["20"] = {"class_type": hook[0], "inputs": {"model": model, **hook[1]}}
        model = ["20", 0]
    if audio_cfg is None:
        p["30"] = {"class_type": "CFGGuider", "inputs": {"model": model, "positive": ["2", 0],
                                                         "negative": ["3", 0], "cfg": 7.0}}
    else:
        p["30"] = {"class_type": "C2DAudioGuider", "inputs": {"model": model, "positive": ["2", 0],
                                                              "negative": ["3", 0], "text_cfg": 7.0,
                                                              "audio_cfg": audio_cfg}}
    return p


def latent(host, prompt):
    return host.run(prompt, fresh=False)["outputs"]["34"][0]["samples"].clone()


def test_audio_scale_0_is_plain_cfg_and_audio_scale_steers(comfy_host, ckpt):
    plain = latent(comfy_host, graph(ckpt))
    zero = latent(comfy_host, graph(ckpt, audio_cfg=0.0))
    torch.testing.assert_close(zero, plain, atol=1e-4 * plain.abs().max().item(), rtol=0)
    some = latent(comfy_host, graph(ckpt, audio_cfg=3.0))
    more = latent(comfy_host, graph(ckpt, audio_cfg=6.0))
    assert (some - plain).abs().max() > 1e-3
    assert (more - plain).norm() > (some - plain).norm()


def test_one_unet_pass_of_three_rows_per_step(comfy_host, ckpt):
    import comfy.samplers
    result = comfy_host.run(graph(ckpt, audio_cfg=3.0, steps=3), fresh=False)
    out = result["outputs"]
    model = out["14"][0].clone()
    calls = []

    def count(apply_model, args):
        calls.append(args["input"].shape[0])
        return apply_model(args["input"], args["timestep"], **args["c"])
    model.set_model_unet_function_wrapper(count)
    guider = comfy_host.pack_module.nodes.audio_guider.AudioGuider(model)
    guider.set_conds(out["2"][0], out["3"][0])
    guider.set_scales(7.0, 3.0)
    x = torch.zeros(1, 4, 8, 8)
    sample = guider.sample(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), x,
                           comfy.samplers.sampler_object("euler"), out["32"][0], seed=5, disable_pbar=True)
    del result, out, model, guider
    assert calls == [3, 3, 3]
    assert torch.isfinite(sample).all()


@pytest.mark.parametrize("hook", [("RescaleCFG", {"multiplier": 0.7}), ("CFGNorm", {"strength": 0.8})],
                         ids=["sampler_cfg_function", "post_cfg_function"])
def test_stock_cfg_hooks_act_on_the_audio_guider(comfy_host, ckpt, hook):
    """RescaleCFG replaces the CFG formula, CFGNorm rescales its result: both act through the audio guider as
    through stock CFG (audio_cfg 0 = the stock guider with the same hook), and on the sound's guidance too."""
    plain = latent(comfy_host, graph(ckpt))
    hooked = latent(comfy_host, graph(ckpt, hook=hook))
    assert (hooked - plain).abs().max() > 1e-3                      # the hook changes stock CFG
    zero = latent(comfy_host, graph(ckpt, audio_cfg=0.0, hook=hook))
    torch.testing.assert_close(zero, hooked, atol=1e-4 * hooked.abs().max().item(), rtol=0)
    some = latent(comfy_host, graph(ckpt, audio_cfg=3.0))
    some_hooked = latent(comfy_host, graph(ckpt, audio_cfg=3.0, hook=hook))
    assert (some_hooked - some).abs().max() > 1e-3                  # and acts with the sound's guidance on
    assert (some_hooked - hooked).abs().max() > 1e-3                # while the sound still steers


def test_guider_is_read_like_a_stock_guider(comfy_host, ckpt):
    """Other packs read a guider's model_patcher and cfg, and newer ComfyUI passes extra keyword arguments."""
    out = comfy_host.run(graph(ckpt, audio_cfg=2.5), fresh=False)["outputs"]
    guider = out["30"][0]
    assert guider.cfg == 7.0 and guider.audio_cfg == 2.5 and guider.model_patcher is out["14"][0]
    import inspect
    params = inspect.signature(guider.predict_noise).parameters
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
