"""The pack's nodes on a full-size SDXL-architecture checkpoint through the stock CheckpointLoaderSimple.

The checkpoint is the random-weight SDXL base stand-in (devtools.standin_sdxl: ComfyUI's own SDXL UNet, CLIP-L +
CLIP-G and VAE in SDXL base's key layout, fp16 on disk; built once per machine, ≈ 1 min). It is loaded once for
the module (the host's shared executor keeps it: ≈ 14 GB fp32 on the CPU) and every graph samples a 128² image in
one step, so the module takes a few minutes on 2 CPU cores. Latents are compared bit for bit where the adapter
must be a no-op. The adapters are SDXL adapters from c2d_core.factory.new_adapter(base_family="sdxl") with the
`light` placement (11 blocks, one per SpatialTransformer, both widths: 1280 and 640) to keep memory down; the full
70-block layout is checked against the loaded UNet (`training init --checkpoint` on SDXL's key layout:
tests/trainer/test_sdxl_family.py, from a header-only file).
"""
import json
import logging
import struct

import pytest
import torch
from graphs import add_audio_chain

from c2d_core.families import family_layout
from devtools.comfy_host import PromptExecutionError

SEED = 11
CLAP = "c2d-test-clap-sdxl"
SIZE = 128          # pixels; the SDXL latent is SIZE / 8 = 16²
STEPS = 1
ADAPTER = "sdxl_gate05.safetensors"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


def as_tuples(blocks):
    return [(b.key, b.query_dim, b.heads, b.dim_head) for b in blocks]  # the pack and the tests import c2d_core apart


@pytest.fixture(scope="module")
def assets(comfy_host, host_assets, sdxl_standins):
    comfy_host.clear_cache()  # another module's SD1.5 set leaves memory before the 14 GB SDXL set arrives
    host_assets.clap(CLAP, seed=3)
    sdxl = dict(base_family="sdxl", placement="light", clap_model_id=CLAP)
    host_assets.adapter(ADAPTER, seed=7, gate_init=0.5, **sdxl)
    host_assets.adapter("sdxl_gate0.safetensors", seed=7, gate_init=0.0, **sdxl)
    host_assets.adapter("sd15_gate05.safetensors", seed=7, gate_init=0.5)  # an SD1.5 adapter (the default family)
    host_assets.audio("rain.wav", "rain", 3.0, channels=2)
    host_assets.audio("chirp.wav", "chirp", 3.0, channels=2)
    return sdxl_standins


def graph(ckpt, audio="rain.wav", adapter=ADAPTER, strength=1.0, batch=1, patched=True, lora=None, audio2=None):
    """API prompt: SDXL checkpoint (→ LoRA) → [audio → CLAP → adapter → apply] → KSampler (CFG, negative prompt)
    → SaveLatent. Node "5" is the sampler, "14" the patched model, "1" the checkpoint loader."""
    model, clip = ["1", 0], ["1", 1]
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
         "4": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": batch}}}
    if lora:
        p["8"] = {"class_type": "LoraLoader", "inputs": {"model": model, "clip": clip, "lora_name": lora,
                                                          "strength_model": 1.0, "strength_clip": 1.0}}
        model, clip = ["8", 0], ["8", 1]
    p["2"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape at dusk", "clip": clip}}
    p["3"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, low quality", "clip": clip}}
    if patched:
        model = add_audio_chain(p, model, audio=audio, clap=CLAP, adapter=adapter, strength=strength, audio2=audio2)
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": SEED,
        "steps": STEPS, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_sdxl_test"}}
    return p


def run(host, prompt) -> dict:
    """Always the host's shared executor: a fresh one would load a second 14 GB copy of the checkpoint."""
    return host.run(prompt, fresh=False)


def latent(host, prompt) -> torch.Tensor:
    return run(host, prompt)["outputs"]["5"][0]["samples"].clone()


@pytest.fixture(scope="module")
def plain(comfy_host, assets):
    return latent(comfy_host, graph(assets["sdxl"], patched=False))


def test_standin_has_the_sdxl_base_layout_and_loads_as_sdxl(comfy_host, assets, plain):
    with open(assets["paths"]["sdxl"], "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    header.pop("__metadata__")
    prefixes = {k.split(".")[0] if k.startswith(("model.", "first_stage_model.")) else ".".join(k.split(".")[:3])
                for k in header}
    assert prefixes == {"model", "first_stage_model", "conditioner.embedders.0", "conditioner.embedders.1"}
    assert "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight" in header  # open_clip layout
    assert "conditioner.embedders.0.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight" in header
    assert {v["dtype"] for k, v in header.items() if not k.endswith("position_ids")} == {"F16"}
    assert header["model.diffusion_model.label_emb.0.0.weight"]["shape"] == [1280, 2816]  # ADM: pooled + sizes

    result = run(comfy_host, graph(assets["sdxl"], patched=False))
    base = result["outputs"]["1"][0]
    assert type(base.model.model_config).__name__ == "SDXL"
    comfy_model = comfy_host.pack_module.nodes.comfy_model
    assert comfy_model.model_family(base) == "sdxl"
    blocks, context = comfy_model.model_blocks(base)
    assert context == 2048 and len(blocks) == 70
    assert as_tuples(blocks) == as_tuples(family_layout("sdxl").blocks())
    assert plain.shape == (1, 4, SIZE // 8, SIZE // 8) and torch.isfinite(plain).all()
    del result, base


@pytest.mark.parametrize("case", [dict(strength=0.0), dict(adapter="sdxl_gate0.safetensors")],
                         ids=["strength0", "gate0"])
def test_no_op_settings_are_bit_identical_to_the_plain_model(comfy_host, assets, plain, case):
    assert torch.equal(latent(comfy_host, graph(assets["sdxl"], **case)), plain)


def test_nonzero_gate_and_strength_change_the_image_and_reruns_reproduce(comfy_host, assets, plain):
    """Three sampler runs: strength 1, strength 0.5, strength 1 again (the 0.5 run evicted the first one's output).
    Another audio giving another image: test_batch_of_two_with_negative_prompt_and_per_image_audio (image 1 hears
    the chirp, image 0 the rain)."""
    full = latent(comfy_host, graph(assets["sdxl"]))
    half = latent(comfy_host, graph(assets["sdxl"], strength=0.5))
    assert torch.isfinite(full).all()
    assert (full - plain).abs().max() > 1e-3 and (half - plain).abs().max() > 1e-3
    assert (half - plain).norm() < (full - plain).norm()
    again = run(comfy_host, graph(assets["sdxl"]))
    assert "1" in again["cached"], again["cached"]  # the checkpoint was not loaded again ...
    assert "5" not in again["cached"] and "14" not in again["cached"], again["cached"]  # ... the sampling ran again
    assert torch.equal(again["outputs"]["5"][0]["samples"], full)
    del again


def test_clone_shares_adapter_weights(comfy_host, assets):
    """Runs right after the test above: the same graph, so ComfyUI returns its outputs without sampling again."""
    result = run(comfy_host, graph(assets["sdxl"]))
    patched, base = result["outputs"]["14"][0], result["outputs"]["1"][0]
    clone = patched.clone()
    [p1] = patched.model_options["transformer_options"]["patches"]["middle_patch"]
    [p2] = clone.model_options["transformer_options"]["patches"]["middle_patch"]
    ptrs = lambda p: {n: t.data_ptr() for n, t in p.adapter.state_dict().items()}
    assert ptrs(p1) == ptrs(p2) and p1.adapter is p2.adapter
    assert clone.model is base.model  # the 2.6 B-parameter UNet is shared too, as ComfyUI does
    assert "middle_patch" not in base.model_options.get("transformer_options", {}).get("patches", {})
    assert p1.adapter.config.base_family == "sdxl" and len(p1.adapter.blocks) == 11
    assert p1.kv_cache_bytes() > 0  # the sampler ran with this patch: its audio K/V are cached
    del result, patched, base, clone, p1, p2


def test_batch_of_two_with_negative_prompt_and_per_image_audio(comfy_host, assets):
    shared = latent(comfy_host, graph(assets["sdxl"], batch=2))
    assert shared.shape == (2, 4, SIZE // 8, SIZE // 8)
    plain2 = latent(comfy_host, graph(assets["sdxl"], batch=2, patched=False))
    assert (shared - plain2).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # both images follow the audio
    mixed = latent(comfy_host, graph(assets["sdxl"], batch=2, audio2="chirp.wav"))  # image 1 hears the chirp
    torch.testing.assert_close(mixed[0], shared[0], atol=2e-3, rtol=0)  # image 0 still hears the rain
    assert (mixed[1] - shared[1]).abs().max() > 1e-2


def test_with_a_stock_sdxl_lora(comfy_host, assets, plain, caplog):
    lora = assets["sdxl_lora"]
    with caplog.at_level(logging.WARNING):
        lora_plain = latent(comfy_host, graph(assets["sdxl"], lora=lora, patched=False))
    unloaded = [r.getMessage() for r in caplog.records if "lora key not loaded" in r.getMessage()]
    assert not unloaded, unloaded  # every kohya key (UNet, te1 = CLIP-L, te2 = CLIP-G) found its layer
    assert (lora_plain - plain).abs().max() > 1e-3
    lora_zero = latent(comfy_host, graph(assets["sdxl"], lora=lora, strength=0.0))
    assert torch.equal(lora_zero, lora_plain)
    lora_audio = latent(comfy_host, graph(assets["sdxl"], lora=lora))
    assert (lora_audio - lora_plain).abs().max() > 1e-3


def test_an_sd15_adapter_on_sdxl_names_both_families(comfy_host, assets):
    with pytest.raises(PromptExecutionError) as info:
        run(comfy_host, graph(assets["sdxl"], adapter="sd15_gate05.safetensors"))
    message = str(info.value)
    assert info.value.exception_type.rsplit(".", 1)[-1] == "AdapterMismatchError", message
    assert "SD1.5" in message and "SDXL" in message, message
    assert "Traceback" not in message
