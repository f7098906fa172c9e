"""SonicDiffusion's released adapters run by the pack inside ComfyUI agree with SonicDiffusion's own math.

Reference: `tests/unit/sonic_reference.py` — a diffusers UNet2DConditionModel (tiny SD1.x shape, 768-d context)
whose 10 adapter blocks are SonicDiffusion's BasicTransformerBlock (attention_custom.py:233-245, 384-387) and
their projector (audio_projector_res.py:40-92), on random weights. The released pair is written in its exact key
layout (flat projector state dict `.pth`; UNet '*adapter*' tensors by diffusers name `.pt`, app.py:53-56) into
models/audio_adapters/<name>/ and loaded by `Load Audio Adapter`; the base UNet is the same diffusers state dict
loaded into ComfyUI's UNetModel through ComfyUI's own diffusers key map (comfy.utils.unet_to_diffusers).
"""
import pytest
import torch
from sonic_reference import COMFY_TINY, adapter_tensors, base_state, their_projector, their_unet

from c2d_core.embeds import AudioEmbeds

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")

SEED = 11


def comfy_unet(diffusers_state: dict, dtype: torch.dtype = torch.float32):
    """ComfyUI's SD15 BaseModel of the tiny shape, weights = the diffusers state dict via ComfyUI's key map, held and
    run in `dtype` (fp16 is what ComfyUI picks for SD1.x on a GPU)."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    import comfy.utils

    mc = comfy.supported_models.SD15(dict(COMFY_TINY))
    mc.unet_config["num_heads"] = 8
    mc.set_inference_dtype(dtype, None)
    model = mc.get_model({})
    key_map = comfy.utils.unet_to_diffusers(mc.unet_config)          # diffusers name → ComfyUI name
    assert set(diffusers_state) <= set(key_map)                        # every diffusers tensor has a ComfyUI name
    model.diffusion_model.load_state_dict({key_map[k]: v.to(dtype) for k, v in diffusers_state.items()}, strict=True)
    model.eval()
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(), offload_device=mm.get_torch_device())


@pytest.fixture(scope="module")
def sonic(comfy_host, host_models_dir):
    torch.manual_seed(0)
    unet, ctx = their_unet(seed=SEED)
    projector = their_projector(seed=SEED + 1)
    folder = host_models_dir / "audio_adapters" / "sonic_tiny"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(projector.state_dict(), folder / "audio_projector_sonic_tiny.pth")
    torch.save(adapter_tensors(unet), folder / "sonic_tiny.pt")
    gate0 = host_models_dir / "audio_adapters" / "sonic_gate0"
    gate0.mkdir(exist_ok=True)
    torch.save(projector.state_dict(), gate0 / "audio_projector_gate0.pth")
    torch.save({k: (torch.zeros_like(v) if k.endswith("gate_adapter") else v) for k, v in adapter_tensors(unet).items()},
               gate0 / "gate0.pt")
    base = comfy_unet(base_state(unet))
    g = torch.Generator().manual_seed(3)
    embeds = torch.nn.functional.normalize(torch.randn(1, 1024, generator=g), dim=-1)   # MS-CLAP 2022 is L2-normalised
    return dict(unet=unet, ctx=ctx, projector=projector, base=base, embeds=embeds,
                text=torch.randn(1, 77, 768, generator=g), uncond_text=torch.randn(1, 77, 768, generator=g))


def apply(host, s, name="sonic_tiny", strength=1.0, **kw):
    loaded = host.node_class("C2DAudioAdapterLoader").execute(adapter_name=name).result[0]
    emb = AudioEmbeds(embeds=s["embeds"], clap_model_id="msclap-2022", clap_dim=1024)
    patched = host.node_class("C2DApplyAudioAdapter").execute(
        model=s["base"], adapter=loaded, embeds=emb, strength=strength, start_percent=0.0, end_percent=1.0, **kw).result[0]
    return loaded, patched


def comfy_eps(patcher, s, x, sigma):
    """One ComfyUI UNet call, CFG-batched as ComfyUI does: rows [uncond, cond] with cond_or_uncond [1, 0]; input and
    context in the UNet's dtype (as BaseModel._apply_model casts them), the prediction returned in fp32."""
    ms = patcher.model.model_sampling
    dtype = patcher.model.get_dtype()
    options = dict(patcher.model_options.get("transformer_options", {}))
    sig = torch.full((2,), sigma)
    options.update(cond_or_uncond=[1, 0], sigmas=sig)
    xs = torch.cat([x, x])
    xc = ms.calculate_input(sig, xs).to(dtype)
    context = torch.cat([s["uncond_text"], s["text"]]).to(dtype)
    with torch.no_grad():
        return patcher.model.diffusion_model(xc, ms.timestep(sig).float(), context=context,
                                             transformer_options=options).float()


def their_eps(s, x, sigma, ms, audio=True):
    """SonicDiffusion's UNet call for the same rows: audio_context = cat([projector(zeros), projector(e)]) (app.py:93-96)."""
    sig = torch.full((2,), sigma)
    with torch.no_grad():
        s["ctx"].value = torch.cat([s["projector"](torch.zeros(1, 1, 1024)), s["projector"](s["embeds"][:, None])]) \
            if audio else None
        xc = ms.calculate_input(sig, torch.cat([x, x]))
        out = s["unet"](xc, ms.timestep(sig).float(), encoder_hidden_states=torch.cat([s["uncond_text"], s["text"]])).sample
    s["ctx"].value = None
    return out


def test_pair_folder_is_listed_as_one_adapter(comfy_host, sonic):
    names = comfy_host.node_class("C2DAudioAdapterLoader").define_schema().inputs[0].options
    assert "sonic_tiny" in names and "sonic_gate0" in names
    assert not any(n.startswith("sonic_tiny/") for n in names)


def test_tokens_and_one_noise_prediction_match_sonicdiffusion(comfy_host, sonic):
    loaded, patched = apply(comfy_host, sonic)
    a = loaded.adapter
    cfg = a.config
    assert (cfg.projector, cfg.position, cfg.uncond) == ("sonic77", "after_text", "projector_zeros")
    # projector tokens, cond and uncond
    with torch.no_grad():
        torch.testing.assert_close(a.tokens(sonic["embeds"]), sonic["projector"](sonic["embeds"][:, None]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.uncond_tokens(), sonic["projector"](torch.zeros(1, 1, 1024)), rtol=1e-5, atol=1e-5)
    hooks = patched.model_options["transformer_options"]["patches"]
    assert len(hooks["middle_patch"]) == 1 and len(hooks["attn2_output_patch"]) == 1
    ms = patched.model.model_sampling
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    for sigma in (14.6, 1.0):
        ours, theirs = comfy_eps(patched, sonic, x, sigma), their_eps(sonic, x, sigma, ms)
        base = comfy_eps(sonic["base"], sonic, x, sigma)
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=2e-5)
        assert (ours - base).abs().max() > 100 * (ours - theirs).abs().max()   # the audio really acts
        assert (ours[0] - ours[1]).abs().max() > 1e-4                           # cond ≠ uncond rows
    torch.testing.assert_close(comfy_eps(sonic["base"], sonic, x, 1.0), their_eps(sonic, x, 1.0, ms, audio=False),
                               rtol=1e-4, atol=2e-5)


def _reference_wrapper(s, audio=True):
    """ComfyUI `model_function_wrapper` that replaces the UNet call by SonicDiffusion's (BaseModel._apply_model's
    input scaling / timestep / denoised rule, audio rows by cond_or_uncond), so both runs share ComfyUI's sampler."""
    def wrapper(apply_model, args):
        x, sigma, c, chunks = args["input"], args["timestep"], args["c"], args["cond_or_uncond"]
        ms = apply_model.__self__.model_sampling
        per = x.shape[0] // len(chunks)
        cond_tok = s["projector"](s["embeds"][:, None])
        unc_tok = s["projector"](torch.zeros(1, 1, 1024))
        s["ctx"].value = torch.cat([(unc_tok if k == 1 else cond_tok).expand(per, -1, -1) for k in chunks]) \
            if audio else None
        eps = s["unet"](ms.calculate_input(sigma, x), ms.timestep(sigma).float(), encoder_hidden_states=c["c_crossattn"]).sample
        s["ctx"].value = None
        return ms.calculate_denoised(sigma, eps, x)
    return wrapper


def _sample(patcher, s, seed=SEED):
    import comfy.sample

    latent = torch.zeros(1, 4, 16, 16)
    noise = comfy.sample.prepare_noise(latent, seed)
    with torch.no_grad():
        return comfy.sample.sample(patcher, noise, 4, 5.0, "euler", "normal", [[s["text"], {}]], [[s["uncond_text"], {}]],
                                   latent, seed=seed, disable_pbar=True)


def test_a_short_sampled_latent_matches_sonicdiffusion(comfy_host, sonic):
    _, patched = apply(comfy_host, sonic)
    ours = _sample(patched, sonic)
    ref = sonic["base"].clone()
    ref.set_model_unet_function_wrapper(_reference_wrapper(sonic))
    theirs = _sample(ref, sonic)
    plain = _sample(sonic["base"], sonic)
    ref_plain = sonic["base"].clone()
    ref_plain.set_model_unet_function_wrapper(_reference_wrapper(sonic, audio=False))
    # fp32 tolerance relative to the latent's size: the random tiny UNet's latents reach |x| ~ 10², and the plain
    # (no audio) ComfyUI-vs-diffusers runs differ by the same ~1e-6 relative amount
    scale = float(theirs.abs().max())
    torch.testing.assert_close(plain, _sample(ref_plain, sonic), rtol=1e-5, atol=1e-5 * scale)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 * scale)
    assert (ours - plain).abs().max() > 100 * (ours - theirs).abs().max()


def test_fp16_unet_as_on_a_gpu(comfy_host, sonic):
    """ComfyUI holds SD1.x in fp16 on a GPU while the released adapter stays fp32 (c2d_core/cast.py casts at use).
    On an fp16 copy of the base UNet the audio's effect on one noise prediction points the same way as in fp32
    (cosine > 0.95, relative error < 0.35: the random tiny UNet's fp16 rounding alone is ~0.16 here), and strength 0
    is bit-identical to the fp16 base model."""
    base16 = comfy_unet(base_state(sonic["unet"]), torch.float16)
    assert base16.model.get_dtype() == torch.float16
    s16 = dict(sonic, base=base16)
    _, patched16 = apply(comfy_host, s16)
    _, patched32 = apply(comfy_host, sonic)
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    for sigma in (14.6, 1.0):
        with_audio = comfy_eps(patched16, s16, x, sigma)
        assert torch.isfinite(with_audio).all()
        effect16 = (with_audio - comfy_eps(base16, s16, x, sigma)).flatten()
        effect32 = (comfy_eps(patched32, sonic, x, sigma) - comfy_eps(sonic["base"], sonic, x, sigma)).flatten()
        assert torch.nn.functional.cosine_similarity(effect16, effect32, dim=0) > 0.95
        assert (effect16 - effect32).norm() < 0.35 * effect32.norm()
    assert torch.equal(_sample(apply(comfy_host, s16, strength=0.0)[1], s16), _sample(base16, s16))


@pytest.mark.parametrize("case", ["strength0", "gate0", "block_weights0"])
def test_strength_0_gate_0_and_zero_block_weights_are_bit_identical_to_the_base_model(comfy_host, sonic, case):
    kw = {"strength0": dict(strength=0.0), "gate0": dict(name="sonic_gate0"),
          "block_weights0": dict(block_weights="middle=0, output=0")}[case]
    _, patched = apply(comfy_host, sonic, **kw)
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(6))
    assert torch.equal(comfy_eps(patched, sonic, x, 3.0), comfy_eps(sonic["base"], sonic, x, 3.0))
    assert torch.equal(_sample(patched, sonic), _sample(sonic["base"], sonic))


def test_strength_scales_sonicdiffusion_f_multiplier(comfy_host, sonic):
    """Their f_multiplier (attention_custom.py:387, never wired: always 1) is our strength."""
    _, patched = apply(comfy_host, sonic, strength=0.5)
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    ms = patched.model.model_sampling
    sonic["ctx"].f_multiplier = 0.5
    try:
        theirs = their_eps(sonic, x, 2.0, ms)
    finally:
        sonic["ctx"].f_multiplier = 1.0
    torch.testing.assert_close(comfy_eps(patched, sonic, x, 2.0), theirs, rtol=1e-4, atol=2e-5)


def test_per_image_audio_and_strength_schedule(comfy_host, sonic):
    """Two images, one clip each, strength schedule [1, 0.5] (e.g. Audio Timeline): each image equals SonicDiffusion
    run alone on its clip with f_multiplier = its weight; uncond rows get projector(zeros) for both."""
    g = torch.Generator().manual_seed(8)
    two = torch.nn.functional.normalize(torch.randn(2, 1024, generator=g), dim=-1)
    loaded = comfy_host.node_class("C2DAudioAdapterLoader").execute(adapter_name="sonic_tiny").result[0]
    patched = comfy_host.node_class("C2DApplyAudioAdapter").execute(
        model=sonic["base"], adapter=loaded, embeds=AudioEmbeds(embeds=two, clap_model_id="msclap-2022", clap_dim=1024),
        strength=1.0, start_percent=0.0, end_percent=1.0, strength_schedule=[1.0, 0.5]).result[0]
    ms = patched.model.model_sampling
    x = torch.randn(2, 4, 16, 16, generator=g)
    sig = torch.full((4,), 2.0)
    options = dict(patched.model_options["transformer_options"], cond_or_uncond=[1, 0], sigmas=sig)
    text = torch.cat([sonic["uncond_text"]] * 2 + [sonic["text"]] * 2)
    with torch.no_grad():
        ours = patched.model.diffusion_model(ms.calculate_input(sig, torch.cat([x, x])), ms.timestep(sig).float(),
                                             context=text, transformer_options=options)
    for i, w in enumerate((1.0, 0.5)):
        sonic["ctx"].f_multiplier = w
        saved = sonic["embeds"]
        sonic["embeds"] = two[i:i + 1]
        try:
            theirs = their_eps(sonic, x[i:i + 1], 2.0, ms)           # rows [uncond_i, cond_i]
        finally:
            sonic["ctx"].f_multiplier, sonic["embeds"] = 1.0, saved
        torch.testing.assert_close(ours[[i, 2 + i]], theirs, rtol=1e-4, atol=2e-5)


def _reference_by_chunk(s):
    """`model_function_wrapper` running SonicDiffusion's UNet chunk by chunk with the pack's row kinds
    (`c2d_chunk_kinds`: audio → projector(e), null → projector(0), plain → no adapter), for the audio guider."""
    def wrapper(apply_model, args):
        x, sigma, c, chunks = args["input"], args["timestep"], args["c"], args["cond_or_uncond"]
        kinds = c.get("transformer_options", {}).get("c2d_chunk_kinds")
        ms = apply_model.__self__.model_sampling
        per = x.shape[0] // len(chunks)
        outs = []
        for i, k in enumerate(chunks):
            rows = slice(i * per, (i + 1) * per)
            kind = kinds[k] if kinds is not None else ("null" if k == 1 else "audio")
            s["ctx"].value = None if kind == "plain" else \
                s["projector"]((torch.zeros(1, 1, 1024) if kind == "null" else s["embeds"][:, None])).expand(per, -1, -1)
            eps = s["unet"](ms.calculate_input(sigma[rows], x[rows]), ms.timestep(sigma[rows]).float(),
                            encoder_hidden_states=c["c_crossattn"][rows]).sample
            outs.append(ms.calculate_denoised(sigma[rows], eps, x[rows]))
        s["ctx"].value = None
        return torch.cat(outs)
    return wrapper


def test_audio_guider_with_a_sonicdiffusion_adapter(comfy_host, sonic):
    """Separate text / audio CFG (nodes/audio_guider.py) on the after-text adapter equals the same guider over
    SonicDiffusion's UNet, where 'without audio' rows skip the adapter branch."""
    import comfy.sample
    import comfy.samplers

    _, patched = apply(comfy_host, sonic)
    guider_cls = comfy_host.node_class("C2DAudioGuider")
    latent = torch.zeros(1, 4, 16, 16)
    noise = comfy.sample.prepare_noise(latent, SEED)
    sigmas = comfy.samplers.calculate_sigmas(patched.get_model_object("model_sampling"), "normal", 3)

    def run(model):
        guider = guider_cls.execute(model=model, positive=[[sonic["text"], {}]], negative=[[sonic["uncond_text"], {}]],
                                    text_cfg=4.0, audio_cfg=3.0).result[0]
        with torch.no_grad():
            return guider.sample(noise, latent, comfy.samplers.sampler_object("euler"), sigmas, seed=SEED)

    ref = sonic["base"].clone()
    ref.set_model_unet_function_wrapper(_reference_by_chunk(sonic))
    ours, theirs, plain = run(patched), run(ref), run(sonic["base"])
    scale = float(theirs.abs().max())
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 * scale)
    assert (ours - plain).abs().max() > 100 * (ours - theirs).abs().max()


def test_edit_sampler_with_a_sonicdiffusion_adapter(comfy_host, sonic):
    """Invert → Audio Edit Sampler (PnP) with the after-text adapter: strength 0 is bit-identical to editing with
    the base model (the source row and every row get no branch), strength 1 changes the edit."""
    import comfy.sample
    import comfy.samplers

    latent = {"samples": torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(9)) * 0.5}
    sigmas = comfy.samplers.calculate_sigmas(sonic["base"].get_model_object("model_sampling"), "normal", 4)
    pos, neg = [[sonic["text"], {}]], [[sonic["uncond_text"], {}]]
    inverted = comfy_host.node_class("C2DInvertLatent").execute(model=sonic["base"], positive=pos, latent=latent,
                                                                sigmas=sigmas, refine_steps=0).result[0]

    def edit(model):
        sampler = comfy_host.node_class("C2DAudioEditSampler").execute(inverted=inverted, feature_fraction=0.8,
                                                                       attention_fraction=0.5).result[0]
        x = inverted["samples"]
        with torch.no_grad():
            return comfy.sample.sample_custom(model, torch.zeros_like(x), 5.0, sampler, sigmas, pos, neg, x, seed=SEED,
                                              disable_pbar=True)

    plain = edit(sonic["base"])
    assert torch.equal(edit(apply(comfy_host, sonic, strength=0.0)[1]), plain)
    with_audio = edit(apply(comfy_host, sonic)[1])
    assert torch.isfinite(with_audio).all() and (with_audio - plain).abs().max() > 1e-3


def test_edit_sampler_sonicdiffusion_preset(comfy_host, sonic):
    """preset "sonicdiffusion" (SonicDiffusion's pnp.py): its own blocks (feature_block / attention_block inputs
    ignored), the source row hearing projector(zeros); strength 0 is still bit-identical to the base model, and the
    edit differs from the default preset's."""
    import comfy.sample
    import comfy.samplers

    latent = {"samples": torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(9)) * 0.5}
    sigmas = comfy.samplers.calculate_sigmas(sonic["base"].get_model_object("model_sampling"), "normal", 4)
    pos, neg = [[sonic["text"], {}]], [[sonic["uncond_text"], {}]]
    inverted = comfy_host.node_class("C2DInvertLatent").execute(model=sonic["base"], positive=pos, latent=latent,
                                                                sigmas=sigmas, refine_steps=0).result[0]

    def edit(model, **kw):
        sampler = comfy_host.node_class("C2DAudioEditSampler").execute(inverted=inverted, feature_fraction=0.8,
                                                                       attention_fraction=0.8, **kw).result[0]
        x = inverted["samples"]
        with torch.no_grad():
            return comfy.sample.sample_custom(model, torch.zeros_like(x), 5.0, sampler, sigmas, pos, neg, x, seed=SEED,
                                              disable_pbar=True)

    patched = apply(comfy_host, sonic)[1]
    theirs = edit(patched, preset="sonicdiffusion")
    assert torch.isfinite(theirs).all()
    assert torch.equal(edit(patched, preset="sonicdiffusion", feature_block=1, attention_block=9), theirs)
    assert (theirs - edit(patched)).abs().max() > 1e-4                     # other blocks, other source audio
    assert torch.equal(edit(apply(comfy_host, sonic, strength=0.0)[1], preset="sonicdiffusion"),
                       edit(sonic["base"], preset="sonicdiffusion"))
    with pytest.raises(Exception, match="unknown edit preset"):
        comfy_host.node_class("C2DAudioEditSampler").execute(inverted=inverted, feature_fraction=0.8,
                                                             attention_fraction=0.8, preset="nope")
