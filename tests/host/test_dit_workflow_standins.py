"""The stand-ins the DiT workflows run on in the front end (tests/host/test_frontend.py) are what ComfyUI's stock
loaders take for the real files: text encoders at full size recognised as the family's encoder, diffusion models
that load exactly as built. Checked on shapes (meta tensors): the front-end test pays for the full files."""
import pytest
import torch


@pytest.mark.parametrize("kind, expected", [("t5xxl", "T5_XXL"), ("umt5xxl", "T5_XXL"), ("qwen3_4b", "QWEN3_4B"),
                                            ("qwen25_vl_7b", "QWEN25_7B"), ("clip_l", "CLIP_L")])
def test_text_encoder_standins_are_recognised_as_the_real_encoders(stock_host, kind, expected):
    import comfy.sd

    from devtools.standin_text_encoders import layout
    sd = layout(kind)
    assert comfy.sd.detect_te_model(sd) == getattr(comfy.sd.TEModel, expected)
    if kind != "clip_l":   # stored fp8, so ComfyUI keeps the weights fp8 on the CPU (half the memory of fp16)
        assert comfy.utils.weight_dtype(sd) == torch.float8_e4m3fn
    if kind in ("t5xxl", "umt5xxl"):   # T5's weight dtype is read from its final norm
        assert comfy.sd.t5xxl_detect([sd])["dtype_t5"] == torch.float8_e4m3fn


def test_umt5_standin_carries_a_tokenizer_comfyui_reads(stock_host):
    """Wan's tokenizer comes from the text-encoder file's `spiece_model` bytes; without it ComfyUI cannot load it."""
    import comfy.text_encoders.wan

    from devtools.standin_text_encoders import layout, value
    sd = layout("umt5xxl")
    blob = value("spiece_model", sd["spiece_model"], seed=0)
    assert blob.dtype == torch.uint8 and blob.shape == sd["spiece_model"].shape
    tokenizer = comfy.text_encoders.wan.WanT5Tokenizer(tokenizer_data={"spiece_model": blob})
    ids = [t[0] for t in tokenizer.tokenize_with_weights("the sound of rain over a city street")["umt5xxl"][0]]
    assert len(ids) == 512 and 1 in ids   # Wan's minimum length, with T5's end token
    words = ids[:ids.index(1)]
    assert words and 2 not in words       # every word is known: no unknown-token id


@pytest.mark.parametrize("family", ["flux", "qwen_image", "z_image", "wan", "wan_s2v"])
def test_diffusion_model_standins_load_as_built(stock_host, family):
    """wan_s2v: core ComfyUI's Wan 2.2 S2V (benchmarks/bench_sync_routes.py scores its videos)."""
    import comfy.model_detection

    from devtools.standin_dit_files import S2V, dit_layout
    from training.tiny_dit import CONFIG_CLASSES
    sd = dit_layout(family)   # raises unless ComfyUI builds exactly these keys and shapes from the file
    expected = S2V[0] if family == "wan_s2v" else CONFIG_CLASSES[family]
    assert type(comfy.model_detection.model_config_from_unet(sd, "")).__name__ == expected


def test_a_recipe_the_loader_would_build_otherwise_is_refused(stock_host, monkeypatch):
    from devtools import standin_dit_files
    overrides, blocks = standin_dit_files.DIT_FILES["qwen_image"]
    monkeypatch.setitem(standin_dit_files.DIT_FILES, "qwen_image", ({**overrides, "attention_head_dim": 64}, blocks))
    with pytest.raises(RuntimeError, match="does not load as built"):   # detection fixes Qwen-Image at 3072 wide
        standin_dit_files.dit_layout("qwen_image")


def test_ltx2_checkpoint_loads_as_built_with_the_sizes_of_its_metadata(stock_host):
    """Core's LTX-2.3 ia2v template (benchmarks/bench_sync_routes.py --routes ltx2): ComfyUI reads LTX-2.3's sizes
    from the file's `config` metadata, so the reduced stand-in is detected as LTXAV and rebuilt at its own sizes."""
    import json

    import comfy.model_detection
    import comfy.text_encoders.lt

    from devtools.standin_ltx2 import AUDIO_WIDTH, CONFIG, VIDEO_WIDTH, checkpoint_layout
    sd = checkpoint_layout()   # raises unless every loader builds exactly these keys and shapes from the file
    dit = {k.removeprefix("model.diffusion_model."): t for k, t in sd.items() if k.startswith("model.diffusion_model.")}
    config = comfy.model_detection.model_config_from_unet(dit, "", metadata={"config": json.dumps(CONFIG)})
    assert type(config).__name__ == "LTXAV"
    assert {k: config.unet_config[k] for k in ("num_layers", "cross_attention_dim", "audio_cross_attention_dim")} \
        == {"num_layers": 1, "cross_attention_dim": VIDEO_WIDTH, "audio_cross_attention_dim": AUDIO_WIDTH}
    projection = comfy.text_encoders.lt.sd_detect([sd])
    assert (projection["video_projection_dim"], projection["audio_projection_dim"]) == (VIDEO_WIDTH, AUDIO_WIDTH)


def test_gemma_standin_is_what_the_ltxav_text_encoder_loader_builds(stock_host):
    """LTXAVTextEncoderLoader always builds Gemma-3-12B: the stand-in is recognised as it, loads into it (meta
    device) with nothing unexpected and only the vision tower missing, its linears as fp8 layers (comfy_quant), and
    its tokenizer pads to Gemma's 1024 tokens with ids the embedding has."""
    import comfy.sd
    import comfy.text_encoders.lt

    from devtools.standin_text_encoders import GEMMA_LEFT_OUT, gemma_value, layout
    sd = layout("gemma3_12b")
    assert comfy.sd.detect_te_model(sd) == comfy.sd.TEModel.GEMMA_3_12B
    detected = comfy.sd.llama_detect([sd])
    assert detected == {"dtype_llama": torch.bfloat16, "llama_quantization_metadata": {"mixed_ops": True}}
    with torch.device("meta"):
        te = comfy.text_encoders.lt.ltxav_te(**detected)(device="meta")
    te.can_assign_sd = te.gemma3_12b.can_assign_sd = True   # meta tensors are assigned, not copied
    quant_conf = {k: gemma_value(k, t, seed=0) for k, t in sd.items() if k.endswith(".comfy_quant")}  # read as JSON
    missing, unexpected = te.load_sd({**{k: t for k, t in sd.items() if k != "spiece_model"}, **quant_conf})
    assert unexpected == [] and missing and all(k.startswith(GEMMA_LEFT_OUT) for k in missing)
    layers = te.gemma3_12b.transformer.model.layers
    assert len(quant_conf) == len(layers) * 7 and layers[0].mlp.down_proj.quant_format == "float8_e4m3fn"
    blob = gemma_value("spiece_model", sd["spiece_model"], seed=0)
    tokenizer = comfy.text_encoders.lt.LTXAVGemmaTokenizer(tokenizer_data={"spiece_model": blob})
    ids = [t[0] for t in tokenizer.tokenize_with_weights("the sound of rain over a city street")["gemma3_12b"][0]]
    assert len(ids) == 1024 and max(ids) < te.gemma3_12b.transformer.model.config.vocab_size
