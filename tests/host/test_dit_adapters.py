"""Audio adapters on DiTs (Flux.1, Chroma, SD3, Qwen-Image, Wan video; Z-Image on 0.33+) inside a real ComfyUI, through the pack's nodes and core's
KSampler, on reduced random-weight models built from ComfyUI's own classes (devtools/standin_dit.py): the branch
attaches through `patches_replace["dit"]` (Z-Image: the `patches["double_block"]` ComfyUI calls after each layer), acts on image tokens only, is bit-identical to the plain model where it
must be a no-op, and composes with another pack's replacement of the same block."""
import pytest
import torch

from c2d_core.embeds import AudioEmbeds
from c2d_core.errors import AdapterMismatchError
from devtools.standin_dit import dit_conditioning, dit_patcher

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")

CLAP_DIM = 32
FAMILIES = ("flux", "chroma", "sd3", "qwen_image", "z_image", "wan")
LATENTS = {"wan": (16, 3, 8, 8)}     # (channels, latent frames, height, width); the image families: 16 × 16 × 16
SINGLE_STREAM = ("flux", "chroma")   # the families with single-stream blocks


@pytest.fixture(scope="module")
def dit(comfy_host, host_assets):
    """Per family: the plain model and adapter files (gate 0, gate 0.5) sized from its discovered blocks."""
    from c2d_core.families import family_layout
    from c2d_core.placement import select_blocks

    import comfy.supported_models

    from devtools.standin_dit import CONFIG_CLASSES

    out = {}
    for family in FAMILIES:
        if not hasattr(comfy.supported_models, CONFIG_CLASSES[family]):
            continue   # Z-Image: ComfyUI 0.33+
        model = dit_patcher(family, seed=1)
        layout = family_layout(family)
        blocks, width = layout.discover(model.model.diffusion_model)
        files = [("gate0", 0.0, "all"), ("gate05", 0.5, "all")] + [("single", 0.5, "single")] * (family in SINGLE_STREAM)
        for name, gate, placement in files:
            host_assets.adapter(f"{family}_{name}.safetensors", seed=4, base_family=family, context_dim=width,
                                blocks=select_blocks(blocks, placement, layout.placements), clap_dim=CLAP_DIM,
                                gate_init=gate, hidden_dim=32, placement=placement)
        out[family] = model
    host_assets.adapter("sd15_for_dit.safetensors", seed=4, clap_dim=CLAP_DIM, hidden_dim=32)
    return out


def embeds(*seeds: int) -> AudioEmbeds:
    rows = [torch.nn.functional.normalize(torch.randn(1, CLAP_DIM, generator=torch.Generator().manual_seed(s)), dim=-1)
            for s in seeds]
    return AudioEmbeds(embeds=torch.cat(rows), clap_model_id="", clap_dim=CLAP_DIM)


def apply(host, model, adapter, audio, strength=1.0, **kw):
    loaded = host.node_class("C2DAudioAdapterLoader").execute(adapter_name=adapter).result[0]
    return host.node_class("C2DApplyAudioAdapter").execute(
        model=model, adapter=loaded, embeds=audio, strength=strength,
        start_percent=kw.pop("start", 0.0), end_percent=kw.pop("end", 1.0), **kw).result[0]


def sample(model, family, batch=1, cfg=1.0, seed=3):
    """core's KSampler (euler, 2 steps, 16×16 latent); cfg 1 runs the cond row only (Flux-dev's distilled guidance)."""
    import nodes
    latent = {"samples": torch.zeros(batch, *LATENTS.get(family, (16, 16, 16)))}
    return nodes.common_ksampler(model, seed, 2, cfg, "euler", "simple", dit_conditioning(family, batch),
                                 dit_conditioning(family, batch, seed=1), latent)[0]["samples"]


@pytest.mark.parametrize("family", FAMILIES)
def test_no_op_is_bit_identical_and_the_audio_acts_on_every_stream(comfy_host, dit, family):
    if family not in dit:
        pytest.skip(f"this ComfyUI has no {family} models")
    model = dit[family]
    plain = sample(model, family, cfg=2.0)
    gate05 = f"{family}_gate05.safetensors"
    for no_op in (apply(comfy_host, model, gate05, embeds(1), strength=0.0),
                  apply(comfy_host, model, f"{family}_gate0.safetensors", embeds(1)),
                  apply(comfy_host, model, gate05, embeds(1), start=0.5, end=0.5)):
        assert torch.equal(sample(no_op, family, cfg=2.0), plain)
    patched = apply(comfy_host, model, gate05, embeds(1))
    options = patched.model_options["transformer_options"]
    if family == "z_image":   # one patch ComfyUI calls after every layer
        assert len(options["patches"]["double_block"]) == 1 and not options.get("patches_replace", {}).get("dit")
    else:
        singles = [("single_block", 0), ("single_block", 1)] if family in SINGLE_STREAM else []
        assert sorted(options["patches_replace"]["dit"]) == [("double_block", 0), ("double_block", 1)] + singles
    heard = sample(patched, family, cfg=2.0)
    assert (heard - plain).abs().max() > 1e-3
    assert torch.equal(sample(patched, family, cfg=2.0), heard)                                    # reruns reproduce
    assert (sample(apply(comfy_host, model, gate05, embeds(2)), family, cfg=2.0) - heard).abs().max() > 1e-4
    if family not in SINGLE_STREAM:   # joint blocks only: per-block weights still pick blocks
        first = sample(apply(comfy_host, model, gate05, embeds(1), block_weights="double_1=0"), family, cfg=2.0)
        assert min((first - plain).abs().max(), (first - heard).abs().max()) > 1e-4
        return
    # each stream alone acts, and differently (the single-stream branch finds the image slice on either host)
    double = sample(apply(comfy_host, model, gate05, embeds(1), audio_blocks="double"), family, cfg=2.0)
    single = sample(apply(comfy_host, model, gate05, embeds(1), audio_blocks="single"), family, cfg=2.0)
    assert min((double - plain).abs().max(), (single - plain).abs().max(), (double - single).abs().max()) > 1e-4
    zeroed = apply(comfy_host, model, gate05, embeds(1), block_weights="single=0")
    assert torch.equal(sample(zeroed, family, cfg=2.0), double)
    # an adapter of single-stream blocks only: double block 0 is replaced just to tell where the image tokens start
    only_single = apply(comfy_host, model, f"{family}_single.safetensors", embeds(1))
    entries = only_single.model_options["transformer_options"]["patches_replace"]["dit"]
    assert sorted(entries) == [("double_block", 0), ("single_block", 0), ("single_block", 1)]
    assert entries[("double_block", 0)].key is None
    assert (sample(only_single, family, cfg=2.0) - plain).abs().max() > 1e-4


def test_distilled_guidance_batch_of_two_and_clone(comfy_host, dit):
    """Flux-dev (cfg 1: one cond row, guidance as an input) still hears the audio; per-image embeddings in a batch of
    two; clone() keeps one shared patch (the adapter's weights, not copies)."""
    model = dit["flux"]
    gate05 = "flux_gate05.safetensors"
    plain = sample(model, "flux", batch=2)
    same = sample(apply(comfy_host, model, gate05, embeds(1)), "flux", batch=2)
    mixed = sample(apply(comfy_host, model, gate05, embeds(1, 2)), "flux", batch=2)
    assert (same - plain).abs().max() > 1e-3
    torch.testing.assert_close(mixed[0], same[0], rtol=0, atol=1e-5)    # image 0 keeps clip 1
    assert (mixed[1] - same[1]).abs().max() > 1e-4                       # image 1 hears clip 2
    patched = apply(comfy_host, model, gate05, embeds(1))
    clone = patched.clone()
    ours = patched.model_options["transformer_options"]["patches_replace"]["dit"]
    theirs = clone.model_options["transformer_options"]["patches_replace"]["dit"]
    assert all(theirs[k].patch.adapter is ours[k].patch.adapter for k in ours)
    assert sum(len(e.models()) for e in ours.values()) == 1               # the adapter's patcher, handed over once


def test_another_packs_replacement_of_the_same_block_still_runs(comfy_host, dit):
    model = dit["flux"]
    calls = []

    def foreign(args, extra):   # another pack's replacement: runs the block, then mixes the image tokens' channels
        calls.append(1)
        out = extra["original_block"](args)
        return {**out, "img": out["img"] + 0.5 * out["img"].roll(1, dims=-1)}

    theirs = model.clone()
    theirs.set_model_patch_replace(foreign, "dit", "double_block", 0)
    alone = sample(theirs, "flux")
    assert calls and (alone - sample(model, "flux")).abs().max() > 1e-3
    assert torch.equal(sample(apply(comfy_host, theirs, "flux_gate05.safetensors", embeds(1), strength=0.0), "flux"), alone)
    both = sample(apply(comfy_host, theirs, "flux_gate05.safetensors", embeds(1)), "flux")
    ours = sample(apply(comfy_host, model, "flux_gate05.safetensors", embeds(1)), "flux")
    assert min((both - alone).abs().max(), (both - ours).abs().max()) > 1e-4


def test_an_adapter_of_another_family_is_refused_naming_both(comfy_host, dit):
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    from sonic_reference import COMFY_TINY

    from c2d_core.errors import UnsupportedModelError
    from devtools.standin_dit import _host_config

    def patcher(config_class, unet_config):
        model = config_class(unet_config).get_model({})
        return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                                offload_device=mm.get_torch_device())

    with pytest.raises(AdapterMismatchError, match=r"is for SD1\.5 .*but the model is Flux\.1.*init --family flux"):
        apply(comfy_host, dit["flux"], "sd15_for_dit.safetensors", embeds(1))
    sd15 = patcher(comfy.supported_models.SD15, dict(COMFY_TINY))     # a UNet with a DiT adapter: the reverse
    with pytest.raises(AdapterMismatchError, match=r"is for Flux\.1 .*but the model is SD1\.5.*init --family sd15"):
        apply(comfy_host, sd15, "flux_gate05.safetensors", embeds(1))
    lumina = patcher(comfy.supported_models.Lumina2, _host_config("z_image"))   # a family the pack does not adapt
    with pytest.raises(UnsupportedModelError, match=r"is a Lumina2 model, but CLAP2Diffusion supports SD1\.5-family, "
                                                    r"SDXL-family, Flux\.1-family.*'ZImage'"):
        apply(comfy_host, lumina, "flux_gate05.safetensors", embeds(1))
    with pytest.raises(AdapterMismatchError, match=r"is for Flux\.1 .*but the model is Chroma"):
        apply(comfy_host, dit["chroma"], "flux_gate05.safetensors", embeds(1))
    with pytest.raises(ValueError, match=r"'mid_up' is not a preset of this model's family.*'double'"):
        apply(comfy_host, dit["flux"], "flux_gate05.safetensors", embeds(1), audio_blocks="mid_up")


def test_inversion_and_the_masked_edit_run_and_plug_and_play_says_it_is_unavailable(comfy_host, dit):
    """Invert Latent runs on a flow model (its Euler ODE is the sampler's); the Audio Edit Sampler regenerates the
    inverted latent with the sound and keeps the source outside the mask; its Plug-and-Play copy names the family."""
    import comfy.sample
    import comfy.samplers

    from c2d_core.errors import EditInputError

    model = dit["flux"]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 3).cpu()
    source = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    inverted = comfy_host.node_class("C2DInvertLatent").execute(
        model=model, positive=dit_conditioning("flux"), latent={"samples": source}, sigmas=sigmas,
        refine_steps=0).result[0]
    assert torch.isfinite(inverted["samples"]).all() and not torch.equal(inverted["samples"], source)
    patched = apply(comfy_host, model, "flux_gate05.safetensors", embeds(1))
    mask = torch.zeros(1, 128, 128)
    mask[..., 64:] = 1.0   # the right half may change

    def edit(feature_fraction, attention_fraction):
        sampler = comfy_host.node_class("C2DAudioEditSampler").execute(
            inverted=inverted, feature_fraction=feature_fraction, attention_fraction=attention_fraction,
            mask=mask).result[0]
        return comfy.sample.sample_custom(patched, torch.zeros_like(source), 1.0, sampler, sigmas,
                                          dit_conditioning("flux"), dit_conditioning("flux"), inverted["samples"])

    out = edit(0.0, 0.0)
    errors = []
    for refine in (0, 4):   # regenerate from the inversion, no audio, no mask: the source comes back
        inv = comfy_host.node_class("C2DInvertLatent").execute(
            model=model, positive=dit_conditioning("flux"), latent={"samples": source}, sigmas=sigmas,
            refine_steps=refine).result[0]
        plain_edit = comfy_host.node_class("C2DAudioEditSampler").execute(
            inverted=inv, feature_fraction=0.0, attention_fraction=0.0).result[0]
        regen = comfy.sample.sample_custom(model, torch.zeros_like(source), 1.0, plain_edit, sigmas,
                                           dit_conditioning("flux"), dit_conditioning("flux"), inv["samples"])
        errors.append(float((regen - source).abs().max()))
    assert errors[1] < min(errors[0] / 10, 0.01 * float(source.abs().max())), errors   # refined: within 1 %
    torch.testing.assert_close(out[..., :6], source[..., :6], rtol=0, atol=1e-4)     # left: the source
    assert (out[..., 10:] - source[..., 10:]).abs().max() > 1e-2                        # right: edited
    with pytest.raises(EditInputError, match=r"not available for Flux\.1: .*set feature_fraction and attention_fr"):
        edit(0.8, 0.5)


def test_audio_guider_at_text_cfg_1_runs_two_rows_and_hears_the_audio(comfy_host, dit):
    """Flux-dev's guidance is a model input (CFG 1): the Audio Guider then skips the negative row, as the stock guider
    does, and guides the sound against the positive prompt alone; audio_cfg 0 is the stock guider bit for bit."""
    import comfy.samplers

    model = dit["flux"]
    patched = apply(comfy_host, model, "flux_gate05.safetensors", embeds(1))
    rows = []

    def count(apply_model, args):
        rows.append(args["input"].shape[0])
        return apply_model(args["input"], args["timestep"], **args["c"])

    counted = patched.clone()
    counted.set_model_unet_function_wrapper(count)
    latent = torch.zeros(1, 16, 16, 16)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(2))
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 2).cpu()

    def run(guider):
        return guider.sample(noise, latent, comfy.samplers.sampler_object("euler"), sigmas, seed=2)

    def audio_guider(audio_cfg):
        return comfy_host.node_class("C2DAudioGuider").execute(
            model=counted, positive=dit_conditioning("flux"), negative=dit_conditioning("flux", seed=1),
            text_cfg=1.0, audio_cfg=audio_cfg).result[0]

    guided = run(audio_guider(3.0))
    assert set(rows) == {2}                  # positive with and without audio; no negative row
    stock = comfy.samplers.CFGGuider(model)
    stock.set_conds(dit_conditioning("flux"), dit_conditioning("flux", seed=1))
    stock.set_cfg(1.0)
    plain = run(stock)
    assert torch.equal(run(audio_guider(0.0)), plain)
    assert (guided - plain).abs().max() > 1e-3


def test_wan_frame_local_audio(comfy_host, dit):
    """One embedding per video frame (an Audio Timeline): on 0.33 each latent frame hears its own frames (which rows
    hear what: tests/unit/test_frame_audio.py); a timeline of another length names both counts; a host that does
    not pass the latent frame count says so."""
    import inspect

    import comfy.ldm.wan.model

    from c2d_core.errors import AudioInputError, UnsupportedModelError

    model, adapter = dit["wan"], "wan_gate05.safetensors"
    per_frame = embeds(*range(1, 10))                     # 3 latent frames = 9 video frames
    if 'transformer_options["grid_sizes"]' not in inspect.getsource(comfy.ldm.wan.model.WanModel.forward_orig):
        with pytest.raises(UnsupportedModelError, match="needs the latent frame count"):
            sample(apply(comfy_host, model, adapter, per_frame), "wan")
        return
    heard = sample(apply(comfy_host, model, adapter, per_frame), "wan")
    assert torch.equal(sample(apply(comfy_host, model, adapter, per_frame), "wan"), heard)
    assert (heard - sample(apply(comfy_host, model, adapter, embeds(1)), "wan")).abs().max() > 1e-4
    assert torch.equal(sample(apply(comfy_host, model, adapter, per_frame, strength=0.0), "wan"), sample(model, "wan"))
    with pytest.raises(AudioInputError, match=r"has 7 per-frame embeddings but this video has 9 frames"):
        sample(apply(comfy_host, model, adapter, embeds(*range(1, 8))), "wan")


def test_wan_per_frame_audio_in_comfyuis_context_windows(comfy_host, dit):
    """A clip longer than one context window (core's WanContextWindowsManual): each window hears its own frames."""
    import comfy.supported_models

    if not hasattr(comfy.supported_models, "ZImage"):
        pytest.skip("per-frame audio needs ComfyUI 0.33+")
    import nodes

    def windowed_sample(m):
        out = nodes.NODE_CLASS_MAPPINGS["WanContextWindowsManual"].execute(
            model=m, context_length=9, context_overlap=4, context_schedule="standard_static", context_stride=1,
            closed_loop=False, fuse_method="pyramid", freenoise=False, retain_first_frame=False,
            split_conds_to_windows=False)
        latent = {"samples": torch.zeros(1, 16, 5, 8, 8)}   # 5 latent frames = 17 video frames, windows of 3
        return nodes.common_ksampler(out.result[0], 3, 2, 2.0, "euler", "simple", dit_conditioning("wan"),
                                     dit_conditioning("wan", seed=1), latent)[0]["samples"]

    model = dit["wan"]
    heard = windowed_sample(apply(comfy_host, model, "wan_gate05.safetensors", embeds(*range(1, 18))))
    assert heard.shape == (1, 16, 5, 8, 8) and torch.isfinite(heard).all()
    assert (heard - windowed_sample(model)).abs().max() > 1e-4    # (the anchor frame core adds is accounted for)
