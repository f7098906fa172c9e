"""Random-weight diffusion-model and VAE files for the DiT workflows' stock loaders (UNETLoader, VAELoader).

A diffusion model is reduced (one block per stream) but keeps what ComfyUI's model detection fixes or reads: Flux's
axes (128 per head), Qwen-Image's 3072 width and Z-Image's 3840 (both fixed by detection), the real text widths
(T5-XXL 4096, Qwen2.5-VL 3584, Qwen3-4B 2560, UMT5-XXL 4096) and CLIP-L's 768 pooled vector, so the real text
encoders' conditioning fits. Each recipe is checked to be a fixed point of the stock loader: the file's keys and
shapes are exactly what ComfyUI builds from that file, else the build fails naming the differences. The VAEs are
full size: Flux's 16-channel AutoencoderKL (`ae.safetensors`, also Z-Image's) and the Wan 2.1 VAE
(`wan_2.1_vae.safetensors`, also Qwen-Image's). Files are bf16, values as devtools.standin_text_encoders.value.

    ensure_dit_file("flux")  /  ensure_vae_file("wan21")
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch

from devtools.safetensors_stream import write_streamed
from devtools.standin_cache import cached, recipe_key, with_comfyui
from devtools.standin_sd3 import SD3_VAE
from devtools.standin_text_encoders import value

STORED = torch.bfloat16
# family → (overrides of training.tiny_dit.CONFIGS, (double, single) blocks)
DIT_FILES = {
    "flux": (dict(hidden_size=256, num_heads=2, mlp_ratio=4.0, axes_dim=[16, 56, 56], context_in_dim=4096,
                  vec_in_dim=768, guidance_embed=True), (1, 1)),
    "qwen_image": (dict(attention_head_dim=128, num_attention_heads=24, joint_attention_dim=3584,
                        axes_dims_rope=(16, 56, 56)), (1, 0)),
    "z_image": (dict(dim=3840, n_heads=30, n_kv_heads=30, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512],
                     cap_feat_dim=2560, multiple_of=256, n_refiner_layers=2, pad_tokens_multiple=32), (1, 0)),
    "wan": (dict(dim=256, num_heads=2, ffn_dim=512, freq_dim=256, text_dim=4096, text_len=512), (1, 0)),
}
# core ComfyUI's Wan 2.2 S2V (sound → video, another route than this pack's; scored by benchmarks/bench_sync_routes.py):
# the config class and its reduced unet_config (audio from wav2vec2-large, 1024 wide; injection after block 0)
S2V = ("WAN22_S2V", dict(image_model="wan2.1", model_type="s2v", patch_size=(1, 2, 2), in_dim=16, out_dim=16,
                         dim=256, ffn_dim=512, freq_dim=256, text_dim=4096, num_heads=2, num_layers=1,
                         window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6))
WAV2VEC2_LARGE = dict(model_type="wav2vec2", embed_dim=1024, num_heads=16, num_layers=24, conv_norm=True,
                      conv_bias=True, do_normalize=True, do_stable_layer_norm=True)
WAN21_VAE = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                 temperal_downsample=[False, True, True], dropout=0.0)


def _meta_state(module) -> dict[str, torch.Tensor]:
    return {k: torch.empty(v.shape, dtype=STORED, device="meta") for k, v in module.state_dict().items()}


def dit_layout(family: str) -> dict[str, torch.Tensor]:
    """{key of a diffusion-model-only file: meta tensor}, checked against what the stock loader builds from it."""
    import comfy.model_detection
    import comfy.supported_models

    from training.tiny_dit import CONFIG_CLASSES, host_config

    if family == "wan_s2v":
        config = getattr(comfy.supported_models, S2V[0])(dict(S2V[1]))
    else:
        overrides, blocks = DIT_FILES[family]
        config = getattr(comfy.supported_models, CONFIG_CLASSES[family])(host_config(family, overrides, blocks))
    sd = _meta_state(config.get_model({}, "", device="meta").diffusion_model)
    detected = comfy.model_detection.model_config_from_unet(sd, "")
    if type(detected) is not type(config):
        raise RuntimeError(f"the {family} stand-in is detected as {type(detected).__name__}, not "
                           f"{type(config).__name__}")
    loaded = _meta_state(detected.get_model(sd, "", device="meta").diffusion_model)
    diff = sorted(k for k in sd.keys() | loaded.keys() if k not in sd or k not in loaded
                  or sd[k].shape != loaded[k].shape)
    if diff:
        raise RuntimeError(f"the {family} stand-in does not load as built: {diff[:8]}")
    return sd


def audio_encoder_layout() -> dict[str, torch.Tensor]:
    """wav2vec2-large as ComfyUI's AudioEncoderLoader builds it (comfy.audio_encoders; WAV2VEC2_LARGE is the config
    its loader derives from a 1024-wide `encoder.layer_norm`), keys as its files store them."""
    import comfy.ops
    from comfy.audio_encoders.wav2vec2 import Wav2Vec2Model

    config = {k: v for k, v in WAV2VEC2_LARGE.items() if k != "model_type"}
    with torch.device("meta"):
        model = Wav2Vec2Model(**config, dtype=torch.float32, device="meta", operations=comfy.ops.manual_cast)
    return _meta_state(model)


def vae_layout(kind: str) -> dict[str, torch.Tensor]:
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.wan.vae import WanVAE

    with torch.device("meta"):
        if kind == "flux_ae":
            module = AutoencoderKL(ddconfig=dict(SD3_VAE), embed_dim=16)
            return {k: v for k, v in _meta_state(module).items() if "quant_conv" not in k}
        if kind == "wan21":
            declared = inspect.signature(WanVAE.__init__).parameters
            return _meta_state(WanVAE(**{k: v for k, v in WAN21_VAE.items() if k in declared}))
    raise ValueError(f"no VAE stand-in {kind!r}; there are flux_ae, wan21")


def _write(path, sd: dict, seed: int, what: str) -> Path:
    return write_streamed(path, sd, lambda k: value(k, sd[k], seed), {"clap2diffusion.standin": f"{what} seed {seed}"})


def ensure_audio_encoder_file(cache_dir=None, seed: int = 0) -> Path:
    """wav2vec2-large (≈ 0.63 GB bf16), what core's Wan S2V workflow loads with AudioEncoderLoader."""
    key = recipe_key({"kind": "wav2vec2-large", "seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-wav2vec2-large-seed{seed}", key,
                  with_comfyui(lambda p: _write(p, audio_encoder_layout(), seed, "wav2vec2-large")), folder=cache_dir)


def ensure_dit_file(family: str, cache_dir=None, seed: int = 0) -> Path:
    if family not in DIT_FILES and family != "wan_s2v":
        raise ValueError(f"no diffusion-model stand-in for {family!r}; there are {sorted(DIT_FILES)}")
    import training.tiny_dit
    key = recipe_key({"family": family, "seed": seed}, sys.modules[__name__], training.tiny_dit)
    return cached(f"c2d-standin-dit-{family}-seed{seed}", key,
                  with_comfyui(lambda p: _write(p, dit_layout(family), seed, f"{family} diffusion model")),
                  folder=cache_dir)


def ensure_vae_file(kind: str, cache_dir=None, seed: int = 0) -> Path:
    key = recipe_key({"kind": kind, "seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-vae-{kind}-seed{seed}", key,
                  with_comfyui(lambda p: _write(p, vae_layout(kind), seed, f"{kind} VAE")), folder=cache_dir)
