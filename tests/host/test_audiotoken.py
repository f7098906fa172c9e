"""AudioToken in a real ComfyUI: its released files (random weights, released layouts: BEATs in
models/audio_encoders/, the embedder in models/audiotoken/) → AudioToken Text Encode → stock samplers.

Parity with AudioToken's own code (tests/unit/audiotoken_reference, MIT) and its inference path (transformers'
CLIPTextModel with the placeholder added to the tokenizer and its input embedding overwritten, diffusers' UNet):
the conditioning on the SD1.5 stand-in's CLIP, then one noise prediction and a short sampled latent on a tiny SD1.x
UNet (ComfyUI's UNetModel and diffusers' UNet2DConditionModel with the same weights, ComfyUI's sampler)."""
import os
import types

import pytest
import torch

from audiotoken_files import beats_file, their_beats, their_embedder, their_token
from c2d_core.errors import SoundPromptError, UnsupportedModelError
from devtools.comfy_host import PromptExecutionError
from tiny_sd_pair import reference_sampler, tiny_pair

BEATS = "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"
EMBEDDER = "embedder_learned_embeds.bin"
PROMPT = "a photo of <audio>, 4k, high resolution"
SEED = 4

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def at(comfy_host, host_assets, host_models_dir, standins):
    beats, embedder = their_beats(seed=1), their_embedder(seed=2)
    (host_models_dir / "audio_encoders").mkdir(parents=True, exist_ok=True)
    beats_file(host_models_dir / "audio_encoders" / BEATS, beats)
    (host_models_dir / "audiotoken").mkdir(parents=True, exist_ok=True)
    torch.save(embedder.state_dict(), host_models_dir / "audiotoken" / EMBEDDER)
    host_assets.audio("at_rain.wav", "rain", 3.0, rate=16_000, channels=1, seed=1)
    host_assets.audio("at_chirp.wav", "chirp", 12.0, rate=44_100, channels=2, seed=2)
    host_assets.audio("at_sweep.wav", "chirp", 6.0, rate=44_100, channels=1, seed=3)
    return types.SimpleNamespace(beats=beats, embedder=embedder, ckpt=standins["sd15"],
                                 ckpt_path=standins["paths"]["sd15"])


def graph(ckpt, audio="at_rain.wav", text=PROMPT, placeholder="<audio>"):
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": BEATS}},
        "12": {"class_type": "C2DAudioTokenLoader", "inputs": {"embedder_name": EMBEDDER}},
        "13": {"class_type": "C2DAudioTokenEncode", "inputs": {
            "clip": ["1", 1], "beats": ["11", 0], "embedder": ["12", 0], "audio": ["10", 0], "text": text,
            "placeholder": placeholder}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["13", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": SEED,
            "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_audiotoken"}},
    }


def their_text_encoder(ckpt_path, token):
    """AudioToken's inference text path on the stand-in's CLIP weights: transformers' CLIPTokenizer (ComfyUI's copy of
    SD1's tokenizer files) with the placeholder added, CLIPTextModel with that token's input embedding = `token`."""
    import comfy.sd1_clip
    from safetensors import safe_open
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(os.path.join(os.path.dirname(comfy.sd1_clip.__file__), "sd1_tokenizer"))
    assert tok.add_tokens("<audio>") == 1
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
    model = CLIPTextModel(cfg).eval()
    prefix = "cond_stage_model.transformer."
    with safe_open(str(ckpt_path), "pt") as f:
        state = {k[len(prefix):]: f.get_tensor(k).float() for k in f.keys() if k.startswith(prefix)}
    if not any(k.startswith("text_model.") for k in model.state_dict()):  # transformers 5 dropped the wrapper
        state = {k[len("text_model."):]: v for k, v in state.items() if k.startswith("text_model.")}
    state = {k: v for k, v in state.items() if k in model.state_dict()}  # not text_projection / position_ids
    assert len(state) == len(model.state_dict())
    model.load_state_dict(state, strict=True)
    model.resize_token_embeddings(len(tok))
    with torch.no_grad():
        model.get_input_embeddings().weight[tok.convert_tokens_to_ids("<audio>")] = token

    def encode(text):
        ids = tok(text, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return model(ids).last_hidden_state
    return encode


def _their_token(comfy_host, at, audio, monkeypatch):
    out = comfy_host.run(graph(at.ckpt, audio=audio), fresh=False)["outputs"]
    wave = out["10"][0]["waveform"]                                                   # (1, C, T) as loaded
    assert out["10"][0]["sample_rate"] == 16_000
    looped = torch.tile(wave[0, :1], (1, 10))[:, :160_000]                            # their aud_proc_beats
    return out, their_token(at.beats, at.embedder, looped, monkeypatch)


def test_conditioning_matches_audiotoken(comfy_host, at, monkeypatch):
    out, token = _their_token(comfy_host, at, "at_rain.wav", monkeypatch)
    cond = out["13"][0]
    assert len(cond) == 1 and cond[0][0].shape == (1, 77, 768)
    encode = their_text_encoder(at.ckpt_path, token[0])
    want = encode(PROMPT)
    torch.testing.assert_close(cond[0][0].float(), want, rtol=1e-4, atol=1e-4)
    plain = encode("a photo of , 4k, high resolution")
    assert (cond[0][0][0, 4:] - want[0, 4:]).abs().max() < 1e-2 * (want[0, 4:] - plain[0, 4:]).abs().max()
    chirp = comfy_host.run(graph(at.ckpt, audio="at_chirp.wav"), fresh=False)["outputs"]["13"][0][0][0]
    assert (chirp - cond[0][0]).abs().max() > 1e-2  # another sound, another conditioning
    assert (out["5"][0]["samples"]).isfinite().all()


def test_timeline_gives_each_frame_its_windows_token(comfy_host, at):
    """AudioToken Timeline Encode at 1 fps on a 6 s sweep: 6 rows; an interior frame's row equals AudioToken Text
    Encode of that frame's 1 s window given as a clip of its own; the sweep makes rows differ."""
    import comfy.sd
    out = comfy_host.run(graph(at.ckpt, audio="at_sweep.wav"), fresh=False)["outputs"]
    clip, beats, embedder, audio = out["1"][1], out["11"][0], out["12"][0], out["10"][0]
    assert isinstance(clip, comfy.sd.CLIP)
    timeline = comfy_host.node_class("C2DAudioTokenTimeline").execute(
        clip=clip, beats=beats, embedder=embedder, audio=audio, text=PROMPT, placeholder="<audio>", fps=1.0,
        window_seconds=1.0, frame_count=0, snap="none").result
    cond, frames, fps, loud = timeline
    assert frames == 6 and fps == 1.0 and len(loud) == 6 and cond[0][0].shape == (6, 77, 768)
    rate = audio["sample_rate"]
    centre, half = 3 * rate, rate // 2                                                # frame 3 at 3 s
    window = {"waveform": audio["waveform"][..., centre - half:centre + half], "sample_rate": rate}
    single = comfy_host.node_class("C2DAudioTokenEncode").execute(
        clip=clip, beats=beats, embedder=embedder, audio=window, text=PROMPT).result[0]
    torch.testing.assert_close(cond[0][0][3:4], single[0][0], rtol=1e-4, atol=1e-4)
    assert (cond[0][0][1] - cond[0][0][4]).abs().max() > 1e-2


def test_noise_prediction_and_sampled_latent_match_audiotoken(comfy_host, at, monkeypatch):
    import comfy.sample

    out, token = _their_token(comfy_host, at, "at_rain.wav", monkeypatch)
    ours_cond, ours_uncond = out["13"][0], out["3"][0]
    encode = their_text_encoder(at.ckpt_path, token[0])
    their_cond, their_uncond = encode(PROMPT), encode("")
    unet, patcher = tiny_pair(SEED)
    ms = patcher.model.model_sampling
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    sigma = torch.full((1,), 3.0)
    with torch.no_grad():
        ours = patcher.model.diffusion_model(ms.calculate_input(sigma, x), ms.timestep(sigma).float(),
                                             context=ours_cond[0][0].float())
        theirs = unet(ms.calculate_input(sigma, x), ms.timestep(sigma).float(), encoder_hidden_states=their_cond).sample
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)

    latent = torch.zeros(1, 4, 16, 16)
    noise = comfy.sample.prepare_noise(latent, SEED)

    def sample(p, positive):
        with torch.no_grad():
            return comfy.sample.sample(p, noise, 3, 5.0, "euler", "normal", positive, ours_uncond, latent, seed=SEED,
                                       disable_pbar=True)
    ref = patcher.clone()
    ref.set_model_unet_function_wrapper(reference_sampler(unet, ms, their_cond, their_uncond))
    ours_latent, their_latent = sample(patcher, ours_cond), sample(ref, ours_cond)
    scale = float(their_latent.abs().max())
    torch.testing.assert_close(ours_latent, their_latent, rtol=1e-5, atol=1e-5 * scale)
    plain = sample(patcher, ours_uncond)
    assert (ours_latent - plain).abs().max() > 100 * (ours_latent - their_latent).abs().max()


def test_audiotoken_conditioning_edits_a_photo(comfy_host, at):
    """Editing with AudioToken: the photo inverted under a plain prompt, then the Audio Edit Sampler (Plug-and-Play,
    no adapter on the model) regenerates it under AudioToken's conditioning: finite, and unlike the same edit under
    the plain prompt (which reconstructs)."""
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (64, 64), (30, 60, 120))
    ImageDraw.Draw(img).ellipse([14, 14, 50, 50], fill=(240, 200, 40))
    img.save(comfy_host.input_dir / "at_source.png")
    g = graph(at.ckpt)
    g.update({
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo", "clip": ["1", 1]}},
        "20": {"class_type": "LoadImage", "inputs": {"image": "at_source.png"}},
        "21": {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["1", 2]}},
        "22": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 3,
                                                          "denoise": 1.0}},
        "23": {"class_type": "C2DInvertLatent", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                           "latent": ["21", 0], "sigmas": ["22", 0],
                                                           "refine_steps": 1}},
        "24": {"class_type": "C2DAudioEditSampler", "inputs": {"inverted": ["23", 0], "feature_fraction": 0.8,
                                                               "attention_fraction": 0.5}},
        "25": {"class_type": "SamplerCustom", "inputs": {
            "model": ["1", 0], "add_noise": False, "noise_seed": 0, "cfg": 1.0, "positive": ["13", 0],
            "negative": ["3", 0], "sampler": ["24", 0], "sigmas": ["22", 0], "latent_image": ["23", 0]}},
    })
    del g["5"]
    g["6"]["inputs"]["samples"] = ["25", 0]
    sound = comfy_host.run(g, fresh=False)["outputs"]["25"][0]["samples"]
    g["25"]["inputs"]["positive"] = ["2", 0]
    text = comfy_host.run(g, fresh=False)["outputs"]["25"][0]["samples"]
    assert sound.isfinite().all() and (sound - text).abs().max() > 1e-3


def test_bad_prompt_and_a_multi_encoder_clip_are_refused(comfy_host, at):
    import comfy.sdxl_clip

    with pytest.raises(PromptExecutionError, match='no \'<audio>\'.*e.g. "a photo of <audio>, 4k'):
        comfy_host.run(graph(at.ckpt, text="a photo of a dog"), fresh=False)
    node = comfy_host.node_class("C2DAudioTokenEncode")
    sdxl_tokenizer = comfy.sdxl_clip.SDXLTokenizer()
    sdxl_clip = types.SimpleNamespace(tokenize=sdxl_tokenizer.tokenize_with_weights)  # what the check reads of SDXL
    with pytest.raises(UnsupportedModelError, match=r"text encoders \['g', 'l'\] \(SDXL.*load an SD1.x checkpoint"):
        node.execute(clip=sdxl_clip, beats=None, embedder=None, audio=None, text=PROMPT)
    assert issubclass(SoundPromptError, ValueError)


def test_audiotoken_lora_loads_through_comfyui(comfy_host, at, tmp_path):
    """AudioToken's optional LoRA file (`AttnProcsLayers.state_dict()` of diffusers' LoRAAttnProcessor, rank 4, no
    alpha) → ComfyUI's own LoRA loader maps every tensor and adds up @ down to each attention projection."""
    import comfy.lora
    import comfy.sd
    import comfy.utils

    model = comfy.sd.load_checkpoint_guess_config(str(at.ckpt_path), output_vae=False, output_clip=False)[0]
    names = [k[:-len(".weight")] for k in comfy.utils.unet_to_diffusers(model.model.model_config.unet_config)
             if ".attn" in k and k.endswith((".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight"))]
    assert len(names) == 16 * 2 * 4
    g = torch.Generator().manual_seed(0)
    lora, shapes = {}, {}
    unet_keys = comfy.lora.model_lora_keys_unet(model.model, {})
    for n in names:
        proc = n.replace(".to_", ".processor.to_").replace(".to_out.0", ".to_out")
        w = model.model.state_dict()[unet_keys[proc]]
        out_f, in_f = w.shape[:2]
        lora[f"{proc}_lora.down.weight"] = torch.randn(4, in_f, generator=g) * 0.01
        lora[f"{proc}_lora.up.weight"] = torch.randn(out_f, 4, generator=g) * 0.01
        shapes[proc] = unet_keys[proc]
    loaded = comfy.lora.load_lora(lora, unet_keys)
    assert set(loaded) == set(shapes.values())  # every AudioToken LoRA module found its UNet weight
    proc = next(iter(shapes))
    key = shapes[proc]
    w = model.model.state_dict()[key].float().clone()
    patcher = model.clone()
    patcher.add_patches(loaded, 1.0)
    patcher.patch_model()
    try:
        patched = patcher.model.state_dict()[key].float().clone()
    finally:
        patcher.unpatch_model()
    want = w + (lora[f"{proc}_lora.up.weight"] @ lora[f"{proc}_lora.down.weight"]).reshape(w.shape)
    torch.testing.assert_close(patched, want, rtol=1e-4, atol=1e-5)
