"""Random-weight stand-ins of LTX-2.3's files, for core ComfyUI's image + audio → video template (`video_ltx2_3_ia2v`,
scored by benchmarks/bench_sync_routes.py): the checkpoint, the spatial upscaler and the distilled LoRA the template
names.

The LTX-2.3 checkpoint holds five models, and ComfyUI rebuilds each from the file alone: it detects LTXAV from the
DiT's keys and reads every size from the safetensors `__metadata__["config"]` (`transformer`, `vae`, `audio_vae`,
`vocoder`), so a reduced config in the metadata loads as the real one does. Reduced (≈ 24 M parameters, 50 MB bf16):
one audio-video block, video 64 wide and audio 32 (2 heads each), video VAE with 16 base channels, audio VAE 8,
vocoder + bandwidth extension 64 / 32. Kept: the latent channels (128 video, 8 audio, 64 mel bins, 16 kHz audio,
48 kHz out) and the text side, `text_embedding_projection` from the 49 hidden states of Gemma-3-12B (49 × 3840),
so the full-size Gemma stand-in (devtools.standin_text_encoders, `gemma3_12b`) conditions it. The checkpoint is
checked to be a fixed point of ComfyUI's loaders (keys and shapes built from the file == the file's). Weights are
devtools.standin_text_encoders.value; buffers ComfyUI computes (the audio VAE's STFT and mel bases, resampler
filters) keep their computed values; latent statistics are mean 0, std 1. The upscaler (its config in its metadata,
as released) is reduced to 32 channels and one block per stage. The LoRA is empty (the template's LoraLoaderModelOnly
then changes nothing).

    ensure_ltx2_checkpoint()  /  ensure_ltx2_upscaler()  /  ensure_empty_lora()
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from devtools.safetensors_stream import write_streamed
from devtools.standin_cache import cached, recipe_key, with_comfyui
from devtools.standin_text_encoders import value

STORED = torch.bfloat16
GEMMA_WIDTH, GEMMA_STATES = 3840, 49             # Gemma-3-12B: hidden size, 48 layers + the embeddings
VIDEO_WIDTH, AUDIO_WIDTH = 64, 32
TRANSFORMER = dict(
    num_layers=1, num_attention_heads=2, attention_head_dim=VIDEO_WIDTH // 2, cross_attention_dim=VIDEO_WIDTH,
    audio_num_attention_heads=2, audio_attention_head_dim=AUDIO_WIDTH // 2, audio_cross_attention_dim=AUDIO_WIDTH,
    caption_channels=GEMMA_WIDTH, in_channels=128, audio_in_channels=128,
    connector_num_attention_heads=2, connector_attention_head_dim=VIDEO_WIDTH // 2, connector_num_layers=1,
    audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=AUDIO_WIDTH // 2,
    connector_apply_gated_attention=True, apply_gated_attention=True, cross_attention_adaln=True,
    caption_proj_before_connector=True, caption_projection_first_linear=False, rope_type="split",
    frequencies_precision="float64", use_middle_indices_grid=True, causal_temporal_positioning=True,
    av_ca_timestep_scale_multiplier=1000.0, timestep_scale_multiplier=1000.0)
VIDEO_VAE = {"_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
             "latent_channels": 128, "patch_size": 4, "norm_layer": "pixel_norm", "spatial_padding_mode": "zeros",
             "timestep_conditioning": False, "encoder_base_channels": 16, "decoder_base_channels": 16,
             "encoder_blocks": [["res_x", {"num_layers": 1}]] + [["compress_all_res", {"multiplier": 2}]] * 3,
             "decoder_blocks": [["compress_all", {"multiplier": 2}]] * 3 + [["res_x", {"num_layers": 1}]]}
AUDIO_VAE = {"model": {"params": {"sampling_rate": 16000, "ddconfig": {
    "double_z": True, "mel_bins": 64, "z_channels": 8, "resolution": 256, "in_channels": 2, "out_ch": 2, "ch": 8,
    "ch_mult": [1, 2, 4], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height"}}}}
_HIFIGAN = {"resblock": "AMP1", "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]], "stereo": True,
            "use_tanh_at_final": False, "activation": "snakebeta", "use_bias_at_final": False}
VOCODER = {"vocoder": {**_HIFIGAN, "upsample_initial_channel": 64, "upsample_rates": [5, 2, 2, 2, 2, 2],
                       "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4]},
           "bwe": {**_HIFIGAN, "upsample_initial_channel": 32, "upsample_rates": [6, 5, 2, 2, 2],
                   "upsample_kernel_sizes": [12, 11, 4, 4, 4], "apply_final_activation": False,
                   "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512,
                   "win_size": 512, "num_mels": 64}}
CONFIG = {"transformer": TRANSFORMER, "vae": VIDEO_VAE, "audio_vae": AUDIO_VAE, "vocoder": VOCODER}
UPSCALER = {"in_channels": 128, "mid_channels": 32, "num_blocks_per_stage": 1, "dims": 3, "spatial_upsample": True,
            "temporal_upsample": False, "spatial_scale": 2.0, "rational_resampler": False}


def checkpoint_state() -> tuple[dict[str, torch.Tensor], set[str]]:
    """({key as the LTX-2.3 checkpoint stores it: CPU tensor from ComfyUI's own modules, uninitialised weights},
    the keys that are computed buffers). Prefixes: `model.diffusion_model.`, `text_embedding_projection.`, `vae.`,
    `audio_vae.` (ComfyUI's `autoencoder.`) and `vocoder.`."""
    import comfy.ops
    from comfy.ldm.lightricks.av_model import LTXAVModel
    from comfy.ldm.lightricks.vae.audio_vae import AudioVAE
    from comfy.ldm.lightricks.vae.causal_video_autoencoder import VideoVAE
    from comfy.text_encoders.lt import DualLinearProjection

    ops = comfy.ops.disable_weight_init
    modules = {"model.diffusion_model.": LTXAVModel(**TRANSFORMER, dtype=STORED, device="cpu", operations=ops),
               "text_embedding_projection.": DualLinearProjection(GEMMA_STATES * GEMMA_WIDTH, VIDEO_WIDTH, AUDIO_WIDTH,
                                                                  operations=ops, dtype=STORED),
               "vae.": VideoVAE(config=VIDEO_VAE),
               "": AudioVAE(metadata={"config": json.dumps(CONFIG)})}
    state, buffers = {}, set()
    for prefix, module in modules.items():
        computed = {n for n, _ in module.named_buffers() if "-of-means" not in n}   # not the latent statistics
        for key, t in module.state_dict().items():
            stored = prefix + (key.replace("autoencoder.", "audio_vae.", 1) if key.startswith("autoencoder.") else key)
            state[stored] = t
            if key in computed:
                buffers.add(stored)
    return state, buffers


def checkpoint_layout(built: tuple[dict, set] | None = None) -> dict[str, torch.Tensor]:
    """{key: meta tensor of its stored shape and dtype (weights bf16, computed buffers their own)}, checked to load
    in ComfyUI exactly as built."""
    state, buffers = built or checkpoint_state()
    layout = {k: torch.empty(t.shape, dtype=t.dtype if k in buffers else STORED, device="meta")
              for k, t in state.items()}
    check_loads_as_built(layout)
    return layout


def check_loads_as_built(layout: dict[str, torch.Tensor]) -> None:
    """Raise unless ComfyUI's loaders, given this file's keys, shapes and CONFIG as metadata, build exactly these
    tensors: the DiT by model detection (LTXAV, on the meta device), the text projection as the LTXAV text-encoder
    loader sizes it (sd_detect, meta), the video and audio VAEs by comfy.sd.VAE (from zeros; they are small)."""
    import comfy.model_detection
    import comfy.sd
    import comfy.supported_models
    import comfy.text_encoders.lt

    metadata = {"config": json.dumps(CONFIG)}
    dit_prefix = "model.diffusion_model."
    dit = {k.removeprefix(dit_prefix): t for k, t in layout.items() if k.startswith(dit_prefix)}
    config = comfy.model_detection.model_config_from_unet(dit, "", metadata=metadata)
    if type(config) is not comfy.supported_models.LTXAV:
        raise RuntimeError(f"the LTX-2.3 stand-in is detected as {type(config).__name__}, not LTXAV")
    dit_model = config.get_model(dit, "", device="meta").diffusion_model
    built = {dit_prefix + k: t.shape for k, t in dit_model.state_dict().items()}
    with torch.device("meta"):
        te = comfy.text_encoders.lt.ltxav_te(**comfy.text_encoders.lt.sd_detect([layout]))(device="meta", dtype=STORED)
    built.update({f"text_embedding_projection.{k}": t.shape
                  for k, t in te.text_embedding_projection.state_dict().items()})
    video_vae = comfy.sd.VAE(sd={k.removeprefix("vae."): torch.zeros(t.shape, dtype=t.dtype)
                                 for k, t in layout.items() if k.startswith("vae.")}, metadata=metadata)
    built.update({f"vae.{k}": t.shape for k, t in video_vae.first_stage_model.state_dict().items()})
    audio_vae = comfy.sd.VAE(sd={k: torch.zeros(t.shape, dtype=t.dtype) for k, t in layout.items()
                                 if k.startswith(("audio_vae.", "vocoder."))}, metadata=metadata)
    built.update({k.replace("autoencoder.", "audio_vae.", 1): t.shape
                  for k, t in audio_vae.first_stage_model.state_dict().items()})
    diff = sorted(k for k in layout.keys() | built.keys() if k not in layout or layout[k].shape != built.get(k))
    if diff:
        raise RuntimeError(f"the LTX-2.3 stand-in does not load as built: {diff[:8]}")


def _write_checkpoint(path, seed: int) -> Path:
    state, buffers = checkpoint_state()
    layout = checkpoint_layout((state, buffers))

    def make(key):
        if key in buffers:
            return state[key].to(layout[key].dtype)
        if key.endswith("mean-of-means"):
            return torch.zeros(layout[key].shape, dtype=STORED)
        return value(key, layout[key], seed)   # std-of-means: ones, as every vector
    return write_streamed(path, layout, make, {"config": json.dumps(CONFIG),
                                               "clap2diffusion.standin": f"LTX-2.3 reduced seed {seed}"})


def _write_upscaler(path, seed: int) -> Path:
    import comfy.ops
    from comfy.ldm.lightricks.latent_upsampler import LatentUpsampler

    with torch.device("meta"):
        module = LatentUpsampler.from_config(UPSCALER, operations=comfy.ops.disable_weight_init)
    layout = {k: torch.empty(t.shape, dtype=STORED, device="meta") for k, t in module.state_dict().items()}
    return write_streamed(path, layout, lambda k: value(k, layout[k], seed),
                          {"config": json.dumps(UPSCALER), "clap2diffusion.standin": f"LTX-2 upscaler seed {seed}"})


def ensure_ltx2_checkpoint(cache_dir=None, seed: int = 0) -> Path:
    """The reduced LTX-2.3 checkpoint (CheckpointLoaderSimple, LTXVAudioVAELoader and LTXAVTextEncoderLoader's
    second file)."""
    key = recipe_key({"kind": "ltx2.3", "seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-ltx2.3-seed{seed}", key, with_comfyui(_write_checkpoint, seed), folder=cache_dir)


def ensure_ltx2_upscaler(cache_dir=None, seed: int = 0) -> Path:
    """LTX-2's ×2 spatial latent upscaler (LatentUpscaleModelLoader; its config in the metadata, as released)."""
    key = recipe_key({"kind": "ltx2-upscaler", "seed": seed}, sys.modules[__name__])
    return cached(f"c2d-standin-ltx2-upscaler-seed{seed}", key, with_comfyui(_write_upscaler, seed),
                  folder=cache_dir)


def ensure_empty_lora(cache_dir=None) -> Path:
    """A LoRA file with no tensors: LoraLoaderModelOnly loads it and patches nothing."""
    key = recipe_key({"kind": "empty-lora"}, sys.modules[__name__])
    return cached("c2d-standin-empty-lora", key, lambda p: write_streamed(p, {}, None, {}), folder=cache_dir)
