"""The pack's nodes on SDXL: a reduced-width SDXL built in-process from ComfyUI's own SDXL classes (SDXL's 70
transformer blocks, context 2048, ADM conditioning 2816; model_channels 32), fed to the nodes as a MODEL, with
SDXL-shaped conditioning (2048-wide tokens, pooled output and sizes). 8×8 latents, 2-3 steps, the CPU."""
import pytest
import torch

from c2d_core.errors import AdapterMismatchError, EditInputError

SEED = 11
CLAP_DIM = 64




def tiny(family="sdxl", in_channels=4):
    """(ModelPatcher, training.model.Base) of a reduced-width UNet of the family, random seeded weights."""
    import comfy.model_patcher

    from training.config import ModelConfig, TinyUNetConfig
    from training.model import build_tiny

    unet = TinyUNetConfig(family=family, model_channels=32, num_heads=2, in_channels=in_channels,
                          context_dim=2048 if family == "sdxl" else 32)
    base = build_tiny(ModelConfig(tiny=True, tiny_unet=unet), seed=3)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(base.model, load_device=cpu, offload_device=cpu), base


@pytest.fixture(scope="module")
def sdxl(comfy_root):
    return tiny()[0]


def conditioning(seed, size=(1024, 1024), batch=1):
    """SDXL CONDITIONING as CLIPTextEncode makes it: tokens (B, 77, 2048) + pooled output (B, 1280) + sizes."""
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(batch, 77, 2048, generator=g), {"pooled_output": torch.randn(batch, 1280, generator=g),
                                                         "width": size[0], "height": size[1]}]]


POS, NEG = conditioning(1), conditioning(2, size=(832, 1216))


def embeds(seed, n=1):
    from c2d_core.embeds import AudioEmbeds

    g = torch.Generator().manual_seed(seed)
    e = torch.nn.functional.normalize(torch.randn(n, CLAP_DIM, generator=g), dim=-1)
    return AudioEmbeds(embeds=e, clap_model_id="stand-in", clap_dim=CLAP_DIM)


@pytest.fixture(scope="module")
def adapters(pack_host, sdxl):
    """Adapter files (loaded through Load Audio Adapter): SDXL ones sized from the tiny SDXL's own blocks, and an
    SD1.5 one (real SD1.5 widths, context 768) for the mismatch errors."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.unet_blocks import discover_blocks

    blocks, context = discover_blocks(sdxl.model.diffusion_model)
    assert (len(blocks), context) == (70, 2048)
    folder = pack_host.models_dir / "audio_adapters"
    folder.mkdir(parents=True, exist_ok=True)
    configs = {"sdxl_gate05": dict(base_family="sdxl", context_dim=2048, blocks=blocks, gate_init=0.5),
               "sdxl_gate0": dict(base_family="sdxl", context_dim=2048, blocks=blocks, gate_init=0.0),
               "sd15_gate05": dict(gate_init=0.5)}
    for name, cfg in configs.items():
        save_adapter(folder / f"c2d_tiny_{name}.safetensors",
                     new_adapter(AdapterConfig(clap_dim=CLAP_DIM, hidden_dim=16, **cfg), seed=5))
    pack_host.folder_paths.filename_list_cache.clear()
    loader = pack_host.node_class("C2DAudioAdapterLoader")
    return {name: loader.execute(f"c2d_tiny_{name}.safetensors").result[0] for name in configs}


def apply(host, model, adapter, audio, strength=1.0, **kw):
    return host.node_class("C2DApplyAudioAdapter").execute(model, adapter, audio, strength, 0.0, 1.0, **kw).result[0]


def sigmas(model, steps=2):
    import comfy.samplers

    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", steps)


def noise(batch=1, channels=4):
    return torch.randn(batch, channels, 8, 8, generator=torch.Generator().manual_seed(SEED))


def sample(model, pos=POS, neg=NEG, batch=1, cfg=5.0, latent=None, noise_mask=None):
    """KSampler's path (comfy.sample.sample_custom, euler, 2 steps) → the denoised latent."""
    import comfy.sample
    import comfy.samplers

    x = noise(batch)
    latent = torch.zeros_like(x) if latent is None else latent
    with torch.no_grad():
        return comfy.sample.sample_custom(model, x, cfg, comfy.samplers.ksampler("euler"), sigmas(model), pos, neg,
                                          latent, noise_mask=noise_mask, disable_pbar=True, seed=SEED)


@pytest.fixture(scope="module")
def plain(sdxl):
    return sample(sdxl)


def test_apply_on_sdxl_no_op_settings_are_the_plain_model_and_audio_steers(pack_host, sdxl, adapters, plain):
    audio = embeds(1)
    assert torch.equal(sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], audio, strength=0.0)), plain)
    assert torch.equal(sample(apply(pack_host, sdxl, adapters["sdxl_gate0"], audio)), plain)
    full = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], audio))
    other = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(2)))
    light = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], audio, audio_blocks="light"))
    assert (full - plain).abs().max() > 1e-3, "a non-zero gate changes the image"
    assert (other - full).abs().max() > 1e-3, "other audio gives another image"
    assert (light - plain).abs().max() > 1e-3 and (light - full).abs().max() > 1e-3   # 11 of the 70 blocks


def test_apply_on_sdxl_clone_shares_the_adapter_and_leaves_the_base_unpatched(pack_host, sdxl, adapters):
    patched = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1))
    clone = patched.clone()
    [p1] = patched.model_options["transformer_options"]["patches"]["middle_patch"]
    [p2] = clone.model_options["transformer_options"]["patches"]["middle_patch"]
    assert p1.adapter is p2.adapter and clone.model is sdxl.model
    assert p1.adapter.config.base_family == "sdxl" and p1.adapter.projector(torch.zeros(1, CLAP_DIM)).shape[-1] == 2048
    assert "middle_patch" not in sdxl.model_options.get("transformer_options", {}).get("patches", {})


def test_adapters_of_the_other_family_are_refused_naming_both(pack_host, sdxl, adapters, comfy_root):
    with pytest.raises(AdapterMismatchError, match=r"adapter is for SD1\.5 \(context width 768\) but the model is "
                                                   r"SDXL \(context width 2048\); load an SDXL audio adapter"):
        apply(pack_host, sdxl, adapters["sd15_gate05"], embeds(1))
    sd15, _ = tiny("sd15")
    with pytest.raises(AdapterMismatchError, match=r"adapter is for SDXL \(context width 2048\) but the model is "
                                                   r"SD1\.5 .*init --family sd15"):
        apply(pack_host, sd15, adapters["sdxl_gate05"], embeds(1))


def _record_y(model):
    """A clone of model whose UNet calls are recorded: [(cond_or_uncond chunk list, y (N, 2816))]."""
    calls = []
    recorded = model.clone()

    def wrapper(apply_model, args):
        calls.append((list(args["cond_or_uncond"]), args["c"]["y"].clone()))
        return apply_model(args["input"], args["timestep"], **args["c"])
    recorded.set_model_unet_function_wrapper(wrapper)
    return recorded, calls


def _guide(host, model, guider_kind, audio_cfg=3.0, steps=2):
    """SamplerCustomAdvanced's path with the stock CFGGuider (guider_kind "stock") or the Audio Guider node."""
    import comfy.samplers

    if guider_kind == "stock":
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(POS, NEG)
        guider.set_cfg(5.0)
    else:
        guider = host.node_class("C2DAudioGuider").execute(model, POS, NEG, 5.0, audio_cfg).result[0]
    x = noise()
    with torch.no_grad():
        return guider.sample(x, torch.zeros_like(x), comfy.samplers.sampler_object("euler"), sigmas(model, steps),
                             seed=SEED, disable_pbar=True)


def _rows_by_chunk(calls):
    """{chunk index: [y rows of that chunk, one per call]} (one image per chunk)."""
    out = {}
    for chunks, y in calls:
        for k, chunk in enumerate(chunks):
            out.setdefault(chunk, []).append(y[k:k + 1])
    return out


def test_audio_guider_passes_sdxls_pooled_and_size_conditioning_through(pack_host, sdxl, adapters):
    """The y (pooled output + size embeddings) the UNet gets through the Audio Guider is the one the stock CFGGuider
    gives, for the cond rows (positive with and without audio) and the uncond row (negative)."""
    patched = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1))
    stock_model, stock_calls = _record_y(patched)
    ours_model, our_calls = _record_y(patched)
    _guide(pack_host, stock_model, "stock")
    _guide(pack_host, ours_model, "audio")
    stock, ours = _rows_by_chunk(stock_calls), _rows_by_chunk(our_calls)
    assert set(stock) == {0, 1} and set(ours) == {0, 1, 2}       # guider chunks: positive+audio, negative, positive
    expected = {0: sdxl.model.encode_adm(**POS[0][1]), 1: sdxl.model.encode_adm(**NEG[0][1])}
    assert expected[0].shape == (1, 2816) and not torch.equal(expected[0], expected[1])
    for chunk, want in ((0, 0), (1, 1), (2, 0)):                 # our chunk → the stock chunk it must equal
        assert len(ours[chunk]) == len(stock[want]) == 2
        for got, ref in zip(ours[chunk], stock[want]):
            assert torch.equal(got, ref), chunk
            assert torch.equal(got, expected[want])


def test_audio_guider_on_sdxl_scale_0_is_stock_cfg_and_the_sound_steers(pack_host, sdxl, adapters):
    stock = _guide(pack_host, sdxl, "stock")
    patched = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1))
    assert torch.equal(_guide(pack_host, patched, "audio", audio_cfg=0.0), stock)   # the stock guider's path
    strength0 = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1), strength=0.0)
    # 3 rows per call instead of stock's 2: equal up to the round-off of another batch size (bit-equal on our CPU)
    torch.testing.assert_close(_guide(pack_host, strength0, "audio"), stock, rtol=0,
                               atol=1e-5 * stock.abs().max().item())
    some = _guide(pack_host, patched, "audio", audio_cfg=3.0)
    assert (some - stock).abs().max() > 1e-3


def test_timeline_schedule_and_per_image_audio_on_sdxl(pack_host, sdxl, adapters):
    """Audio Timeline's outputs on SDXL: one embedding per image and a per-image strength (a FLOAT list)."""
    pos, neg = conditioning(1, batch=1), conditioning(2, size=(832, 1216), batch=1)
    plain2 = sample(sdxl, pos, neg, batch=2)
    frames = embeds(3, n=2)
    scheduled = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], frames, strength_schedule=[0.0, 1.0]),
                       pos, neg, batch=2)
    assert torch.equal(scheduled[0], plain2[0]), "schedule 0: image 0 is the plain model's"
    assert (scheduled[1] - plain2[1]).abs().max() > 1e-3
    from c2d_core.embeds import AudioEmbeds

    first = embeds(3, n=2).embeds[:1]
    shared = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], AudioEmbeds(
        embeds=first, clap_model_id="stand-in", clap_dim=CLAP_DIM)), pos, neg, batch=2)
    mixed = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], frames), pos, neg, batch=2)
    twice = sample(apply(pack_host, sdxl, adapters["sdxl_gate05"], AudioEmbeds(
        embeds=first.expand(2, -1), clap_model_id="stand-in", clap_dim=CLAP_DIM)), pos, neg, batch=2)
    torch.testing.assert_close(twice, shared, atol=1e-4 * shared.abs().max().item(), rtol=0)
    assert (mixed[0] - twice[0]).abs().max() < 1e-4 * shared.abs().max(), "image 0 still hears frame 0"
    assert (mixed[1] - twice[1]).abs().max() > 1e-3, "image 1 hears frame 1"


@pytest.fixture(scope="module")
def inverted(pack_host, sdxl):
    """Invert Latent on SDXL (3 steps): a smooth source latent → the inverted LATENT with its trajectory."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 8), torch.linspace(-1, 1, 8), indexing="ij")
    source = torch.stack([xs, ys, xs * ys, (xs ** 2 + ys ** 2) - 0.5])[None] * 4.0
    out = pack_host.node_class("C2DInvertLatent").execute(model=sdxl, positive=POS, latent={"samples": source},
                                                          sigmas=sigmas(sdxl, 3), refine_steps=1).result[0]
    out["test_source"] = source
    return out


def _edit(host, model, inverted, **kw):
    import comfy.sample

    kw = {"feature_fraction": 0.8, "attention_fraction": 0.5, **kw}
    sampler = host.node_class("C2DAudioEditSampler").execute(inverted=inverted, **kw).result[0]
    x = inverted["samples"]
    with torch.no_grad():
        return comfy.sample.sample_custom(model, torch.zeros_like(x), 1.0, sampler, sigmas(model, 3), POS, NEG, x,
                                          seed=SEED, disable_pbar=True)


def test_inversion_sampler_on_sdxl_is_invert_latents(pack_host, sdxl, inverted):
    import comfy.sample

    sampler = pack_host.node_class("C2DInversionSampler").execute(refine_steps=1).result[0]
    source = inverted["samples"]
    record = inverted["c2d_inversion"]
    assert record.trajectory.sigmas.shape == (4,) and record.model_name == "SDXL"
    with torch.no_grad():
        out = comfy.sample.sample_custom(sdxl, torch.zeros_like(source), 1.0, sampler, sigmas(sdxl, 3), POS, POS,
                                         inverted["test_source"],
                                         seed=0, disable_pbar=True)
    torch.testing.assert_close(out, source, rtol=1e-5, atol=1e-5 * source.abs().max().item())


def test_edit_on_sdxl_copies_at_sdxls_plug_and_play_blocks(pack_host, sdxl, adapters, inverted):
    """The default blocks on SDXL are its own (output block 1, q/k from 1 on), not SD1.5's 4; the copies act."""
    from c2d_core.pnp_presets import PNP_BLOCKS

    patched = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1))
    auto = _edit(pack_host, patched, inverted)
    fb, af = PNP_BLOCKS["sdxl"].feature_blocks[0], PNP_BLOCKS["sdxl"].attention_from
    assert (fb, af) == (1, 1)
    assert torch.equal(_edit(pack_host, patched, inverted, feature_block=fb, attention_block=af), auto)
    assert (_edit(pack_host, patched, inverted, feature_block=4, attention_block=4) - auto).abs().max() > 1e-4
    no_pnp = _edit(pack_host, patched, inverted, feature_fraction=0.0, attention_fraction=0.0)
    no_attn = _edit(pack_host, patched, inverted, attention_fraction=0.0)
    assert (no_pnp - auto).abs().max() > 1e-4, "Plug-and-Play injection changes the SDXL edit"
    assert (no_attn - auto).abs().max() > 1e-4, "the q/k copy acts too"
    silent = _edit(pack_host, sdxl, inverted)
    assert (auto - silent).abs().max() > 1e-3, "the sound edits"
    zero = apply(pack_host, sdxl, adapters["sdxl_gate05"], embeds(1), strength=0.0)
    assert torch.equal(_edit(pack_host, zero, inverted), silent)
    sonic = _edit(pack_host, patched, inverted, preset="sonicdiffusion")
    assert torch.isfinite(sonic).all() and (sonic - auto).abs().max() > 1e-4
    with pytest.raises(EditInputError, match="feature_block 8 does not exist in this model: its UNet has 9 decoder"):
        _edit(pack_host, patched, inverted, feature_block=8)


class _PoolVAE:
    """What InpaintModelConditioning needs of a VAE: encode (B, H, W, 3) pixels → (B, 4, H/8, W/8) latents."""

    def encode(self, pixels):
        p = pixels.movedim(-1, 1)
        return torch.nn.functional.avg_pool2d(torch.cat([p, p.mean(1, keepdim=True)], dim=1), 8)


def test_sdxl_inpainting_model_with_stock_inpaint_conditioning(pack_host, adapters):
    """A 9-channel SDXL UNet (ComfyUI's SDXL config treats it as inpainting) + stock InpaintModelConditioning."""
    model, base = tiny("sdxl", in_channels=9)
    assert type(model.model.model_config).__name__ == "SDXL" and model.model.model_config.inpaint_model()
    pixels = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0
    pos, neg, latent = pack_host.node_class("InpaintModelConditioning")().encode(POS, NEG, pixels, _PoolVAE(), mask)
    assert pos[0][1]["concat_latent_image"].shape == (1, 4, 8, 8) and "pooled_output" in pos[0][1]

    def run(m):
        return sample(m, pos, neg, latent=latent["samples"], noise_mask=latent["noise_mask"])

    plain = run(model)
    assert torch.equal(run(apply(pack_host, model, adapters["sdxl_gate05"], embeds(1), strength=0.0)), plain)
    audio = run(apply(pack_host, model, adapters["sdxl_gate05"], embeds(1)))
    assert (audio - plain).abs().max() > 1e-3


def _reload_tiny(family, disable_dynamic=False):
    """A loader as ComfyUI 0.33 records it in cached_patcher_init: called again, it builds a new model."""
    return tiny(family)[0]


def test_inversion_record_follows_the_model_through_clones_and_reloads(pack_host):
    """The Audio Edit Sampler accepts the model a latent was inverted with (any clone, LoRA added) and, on ComfyUI
    0.33, a reloaded copy from the same loader call (the non-dynamic delegate and multi-GPU clones are made that
    way: ModelPatcher.clone(force_deepcopy / disable_dynamic) reruns cached_patcher_init); another model is refused."""
    import importlib

    import comfy.samplers

    ec = importlib.import_module(pack_host.pack_module.__name__ + ".nodes.edit_common")

    def guider(patcher):
        g = comfy.samplers.CFGGuider(patcher)
        g.inner_model = patcher.model            # what prepare_sampling sets before the sampler runs
        return g

    patcher, other = tiny("sd15")[0], tiny("sd15")[0]
    record = ec.InversionRecord.of(None, patcher)
    assert record.made_with(guider(patcher.clone())) and not record.made_with(guider(other))
    if hasattr(patcher, "cached_patcher_init"):  # ComfyUI 0.33+
        patcher.cached_patcher_init = (_reload_tiny, ("sd15",))
        other.cached_patcher_init = (_reload_tiny, ("sdxl",))
        record = ec.InversionRecord.of(None, patcher)
        reloaded = patcher.clone(force_deepcopy=True)
        assert reloaded.model is not patcher.model and record.made_with(guider(reloaded))
        assert not record.made_with(guider(other))
