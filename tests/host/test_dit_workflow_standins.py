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
