"""GlueGen in a real ComfyUI: its released files (random weights, released layouts: AudioCLIP-Full-Training.pt in
models/audio_encoders/, the sound GlueNet in models/gluegen/) → GlueGen Sound Encode → stock samplers.

Parity with GlueGen's own path (tests/unit/gluegen_reference: AudioCLIP's tower and GlueGen's translator, copied;
their loader's preparation; their sound + text mix) on the SD1.5 stand-in's CLIP, then a sampled latent on a tiny
SD1.x UNet: ComfyUI's UNetModel with the node's conditionings against diffusers' UNet2DConditionModel with theirs,
both inside ComfyUI's sampler (GlueGen's own DDIM/PLMS code needs CUDA)."""
import types

import pytest
import torch

from c2d_core.errors import UnsupportedModelError
from devtools.comfy_host import PromptExecutionError
from gluegen_reference.reference import (TENSOR_NORM, audioclip_file_state, their_audio_tower, their_condition,
                                         their_prepare, their_text_mix, their_translator)
from tiny_sd_pair import reference_sampler, tiny_pair

AUDIOCLIP = "AudioCLIP-Full-Training.pt"
GLUENET = "gluenet_sound2img_audioclip_us8k.ckpt"
STYLE = "in Chinese painting style"
SEED = 6

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def gg(comfy_host, host_assets, host_models_dir, standins):
    tower, translator = their_audio_tower(seed=3), their_translator(seed=4)
    with torch.no_grad():  # CLIP-sized conditions (per-token norms ~28, as the trained GlueNet regresses CLIP states):
        probe = torch.nn.functional.normalize(torch.randn(1, 16, 64), dim=(1, 2))   # random ones reach ~6000, where
        k = 28.0 / float((translator(probe) * TENSOR_NORM / 2).norm(dim=-1).mean())  # the attention logits saturate
        translator.tail_2.net_tok[4].weight.mul_(k)                                 # and ComfyUI's and diffusers'
        translator.tail_2.net_tok[4].bias.mul_(k)                                   # kernels part by 0.3 per step
    (host_models_dir / "audio_encoders").mkdir(parents=True, exist_ok=True)
    torch.save(audioclip_file_state(tower), host_models_dir / "audio_encoders" / AUDIOCLIP)
    (host_models_dir / "gluegen").mkdir(parents=True, exist_ok=True)
    torch.save(translator.state_dict(), host_models_dir / "gluegen" / GLUENET)
    host_assets.audio("gg_rain.wav", "rain", 3.0, rate=44_100, channels=1, seed=1)
    return types.SimpleNamespace(tower=tower, translator=translator, ckpt=standins["sd15"])


def graph(ckpt, text="", audio="gg_rain.wav", mix=5):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": AUDIOCLIP}},
        "12": {"class_type": "C2DGlueGenLoader", "inputs": {"gluegen_name": GLUENET}},
        "13": {"class_type": "C2DGlueGenEncode", "inputs": {
            "clip": ["1", 1], "audioclip": ["11", 0], "gluegen": ["12", 0], "audio": ["10", 0], "text": text,
            "mix_tokens": mix}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["13", 0], "negative": ["13", 1], "latent_image": ["4", 0], "seed": SEED,
            "steps": 2, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_gluegen"}},
    }


def test_conditions_and_sampled_latent_match_gluegen(comfy_host, gg):
    import comfy.sample

    out = comfy_host.run(graph(gg.ckpt), fresh=False)["outputs"]
    stock = comfy_host.node_class("CLIPTextEncode")()                                 # the stock node, called
    empty, style = (stock.encode(out["1"][1], t)[0][0][0] for t in ("", STYLE))
    wave = out["10"][0]["waveform"][0].numpy()                                      # (1, T) at 44.1 kHz as loaded
    theirs = their_condition(gg.tower, gg.translator, their_prepare(wave)[None])    # (1, 77, 768)
    positive, negative = out["13"]
    scale = float(theirs.abs().max())
    torch.testing.assert_close(positive[0][0], theirs, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(negative[0][0], empty)                              # the empty prompt, as theirs
    mixed = comfy_host.run(graph(gg.ckpt, text=STYLE, mix=4), fresh=False)["outputs"]
    torch.testing.assert_close(mixed["13"][0][0][0], their_text_mix(theirs, style, 4),
                               rtol=1e-4, atol=1e-5 * scale)
    assert (mixed["13"][0][0][0] - positive[0][0]).abs().max() > 1.0

    unet, patcher = tiny_pair(SEED)
    ms = patcher.model.model_sampling
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    sigma = torch.full((1,), 3.0)
    with torch.no_grad():                                                            # one noise prediction
        eps = patcher.model.diffusion_model(ms.calculate_input(sigma, x), ms.timestep(sigma).float(),
                                            context=positive[0][0])
        their_eps = unet(ms.calculate_input(sigma, x), ms.timestep(sigma).float(), encoder_hidden_states=theirs).sample
    torch.testing.assert_close(eps, their_eps, rtol=1e-4, atol=1e-4)
    latent = torch.zeros(1, 4, 16, 16)
    noise = comfy.sample.prepare_noise(latent, SEED)
    ref = patcher.clone()
    ref.set_model_unet_function_wrapper(reference_sampler(unet, ms, theirs, empty))

    def sample(p, pos):
        with torch.no_grad():
            return comfy.sample.sample(p, noise, 3, 7.5, "ddim", "ddim_uniform", pos, negative, latent, seed=SEED,
                                       disable_pbar=True)
    ours, reference = sample(patcher, positive), sample(ref, positive)
    big = float(reference.abs().max())
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5 * big)
    plain = sample(patcher, negative)
    assert (ours - plain).abs().max() > 100 * (ours - reference).abs().max()
    assert out["5"][0]["samples"].isfinite().all()


def test_timeline_gives_each_frame_its_windows_condition(comfy_host, gg):
    """GlueGen Timeline Encode at 1 fps on a 6 s chirp: 6 rows; frame 3's row equals GlueGen Sound Encode of that
    frame's 1 s window given as a clip of its own; the sweep makes rows differ."""
    from devtools.demo_audio import synth
    out = comfy_host.run(graph(gg.ckpt), fresh=False)["outputs"]
    clip, audioclip, gluegen = out["1"][1], out["11"][0], out["12"][0]
    rate = 44_100
    chirp = torch.from_numpy(synth("chirp", 6.0, rate=rate, channels=1, seed=2))[None]      # (1, 1, T)
    positive, negative, frames, fps, loud = comfy_host.node_class("C2DGlueGenTimeline").execute(
        clip=clip, audioclip=audioclip, gluegen=gluegen, audio={"waveform": chirp, "sample_rate": rate}, text="",
        mix_tokens=5, fps=1.0, window_seconds=1.0, frame_count=0, snap="none").result
    assert frames == 6 and len(loud) == 6 and positive[0][0].shape == (6, 77, 768)
    window = {"waveform": chirp[..., 3 * rate - rate // 2:3 * rate + rate // 2], "sample_rate": rate}
    single = comfy_host.node_class("C2DGlueGenEncode").execute(clip=clip, audioclip=audioclip, gluegen=gluegen,
                                                                audio=window).result[0]
    torch.testing.assert_close(positive[0][0][3:4], single[0][0], rtol=1e-4, atol=1e-4)
    assert (positive[0][0][1] - positive[0][0][4]).abs().max() > 1e-2
    torch.testing.assert_close(negative[0][0], out["13"][1][0][0])


def test_conditionings_compose_with_a_stock_controlnet(comfy_host, gg, host_assets):
    """GlueGen's positive and negative through the stock Apply ControlNet (Advanced) (random SD1.5 ControlNet
    stand-in) into KSampler: it runs, and the ControlNet changes the latent."""
    from PIL import Image, ImageDraw

    from devtools import standin_packs
    host_assets.link("controlnet", standin_packs.NAMES["controlnet"],
                     standin_packs.ensure("controlnet", standin_packs.controlnet_sd15))
    comfy_host.folder_paths.filename_list_cache.clear()
    hint = Image.new("RGB", (64, 64), (0, 0, 0))
    ImageDraw.Draw(hint).ellipse([12, 12, 52, 52], outline=(255, 255, 255), width=3)
    hint.save(comfy_host.input_dir / "gg_hint.png")
    plain = comfy_host.run(graph(gg.ckpt), fresh=False)["outputs"]["5"][0]["samples"]
    g = graph(gg.ckpt)
    g["40"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": standin_packs.NAMES["controlnet"]}}
    g["41"] = {"class_type": "LoadImage", "inputs": {"image": "gg_hint.png"}}
    g["42"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["13", 0], "negative": ["13", 1], "control_net": ["40", 0], "image": ["41", 0], "strength": 1.0,
        "start_percent": 0.0, "end_percent": 1.0}}
    g["5"]["inputs"].update(positive=["42", 0], negative=["42", 1])
    controlled = comfy_host.run(g, fresh=False)["outputs"]["5"][0]["samples"]
    assert controlled.isfinite().all() and (controlled - plain).abs().max() > 1e-3


def test_wrong_encoder_and_sdxl_clip_are_refused(comfy_host, gg, host_assets):
    import comfy.sdxl_clip

    host_assets.imagebind()
    g = graph(gg.ckpt)
    g["11"]["inputs"]["clap_name"] = "imagebind_huge.pth"
    with pytest.raises(PromptExecutionError,
                       match="trained on AudioCLIP's audio embeddings.*imagebind_huge \\(ImageBind\\)"):
        comfy_host.run(g, fresh=False)
    sdxl_clip = types.SimpleNamespace(tokenize=comfy.sdxl_clip.SDXLTokenizer().tokenize_with_weights)
    with pytest.raises(UnsupportedModelError, match=r"GlueGen conditions SD1.x / SD2.x.*\['g', 'l'\].*SD v1.5"):
        comfy_host.node_class("C2DGlueGenEncode").execute(clip=sdxl_clip, audioclip=None, gluegen=None, audio=None)
