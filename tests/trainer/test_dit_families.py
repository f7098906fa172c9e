"""The DiT families' declared layouts are what ComfyUI builds from a real checkpoint: a header-only file in the real
key layout of a full-size Flux.1 / Chroma / SD3.5 Large / Qwen-Image / Wan 14B (/ Flux.2, Z-Image on 0.33+) goes through ComfyUI's own detection in
`training init --checkpoint`, whose adapter must have exactly the declared blocks. The trainer refuses the families it
does not train yet (Flux.2) with an error that says so."""
import dataclasses
import importlib
import inspect
import json
import struct

import pytest

from c2d_core.errors import UnsupportedModelError
from c2d_core.families import family_layout

# Full-size unet_configs as ComfyUI's model_detection derives them (comfy/model_detection.py, Flux/Chroma branch)
FULL = {
    "flux": ("comfy.ldm.flux.model", "Flux", "FluxParams", dict(
        in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
        num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10_000, patch_size=2,
        qkv_bias=True, guidance_embed=True, txt_ids_dims=[])),
    "chroma": ("comfy.ldm.chroma.model", "Chroma", "ChromaParams", dict(
        in_channels=64, out_channels=64, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=19,
        depth_single_blocks=38, axes_dim=[16, 56, 56], theta=10_000, patch_size=2, qkv_bias=True, in_dim=64,
        out_dim=3072, hidden_dim=5120, n_layers=5, txt_ids_dims=[], vec_in_dim=None)),
    "flux2": ("comfy.ldm.flux.model", "Flux", "FluxParams", dict(
        in_channels=128, out_channels=128, vec_in_dim=None, context_in_dim=15360, hidden_size=6144, mlp_ratio=3.0,
        num_heads=48, depth=8, depth_single_blocks=48, axes_dim=[32, 32, 32, 32], theta=2000, patch_size=1,
        qkv_bias=False, guidance_embed=True, txt_ids_dims=[3], global_modulation=True, mlp_silu_act=True,
        ops_bias=False, default_ref_method="index", ref_index_scale=10.0)),
    "sd3": ("comfy.ldm.modules.diffusionmodules.mmdit", "MMDiT", None, dict(
        in_channels=16, out_channels=16, patch_size=2, depth=38, adm_in_channels=2048, pos_embed_max_size=192,
        num_patches=36864, qk_norm="rms", pos_embed_scaling_factor=None,
        context_embedder_config={"target": "torch.nn.Linear", "params": {"in_features": 4096, "out_features": 2432}})),
    "qwen_image": ("comfy.ldm.qwen_image.model", "QwenImageTransformer2DModel", None, dict(num_layers=60)),
    "z_image": ("comfy.ldm.lumina.model", "NextDiT", None, dict(
        patch_size=2, in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2, n_heads=30, n_kv_heads=30,
        qk_norm=True, cap_feat_dim=2560, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512], rope_theta=256.0,
        ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True, time_scale=1000.0)),
    "wan": ("comfy.ldm.wan.model", "WanModel", None, dict(
        model_type="t2v", patch_size=(1, 2, 2), in_dim=16, dim=5120, ffn_dim=13824, freq_dim=256, text_dim=4096,
        out_dim=16, num_heads=40, num_layers=40)),
}
NEWER = {"flux2": "global_modulation", "z_image": "z_image_modulation"}   # families of ComfyUI 0.33+


def _real_key(key: str) -> str:
    """ComfyUI's name → the released file's (process_unet_state_dict renames `*_norm.scale` / `norms.N.scale`)."""
    head, _, last = key.rpartition(".")
    parent = head.rsplit(".", 2)
    is_norm = head.endswith("_norm") or (len(parent) > 1 and parent[-2] == "norms")
    return f"{head}.scale" if last == "weight" and is_norm else key


def _header_only_file(path, family: str) -> None:
    import comfy.ops

    module, cls, params, config = FULL[family]
    m = importlib.import_module(module)
    fields = ({f.name for f in dataclasses.fields(getattr(m, params))} if params
              else set(inspect.signature(getattr(m, cls).__init__).parameters))
    if family in NEWER and NEWER[family] not in fields:
        pytest.skip(f"this ComfyUI has no {family} (0.33+)")
    net = getattr(m, cls)(**{k: v for k, v in config.items() if k in fields}, device="meta",
                          operations=comfy.ops.disable_weight_init)
    header, offset = {}, 0
    prefix = "model.diffusion_model." if family == "sd3" else ""   # SD3.5 ships as an all-in-one checkpoint
    rename = _real_key if family in ("flux", "flux2", "chroma") else str   # BFL's files name RMSNorm weights .scale
    for key, t in net.state_dict().items():
        size = t.numel() * 2
        header[prefix + rename(key)] = dict(dtype="BF16", shape=list(t.shape), data_offsets=[offset, offset + size])
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


@pytest.mark.parametrize("family", ["flux", "chroma", "flux2", "sd3", "qwen_image", "z_image", "wan"])
def test_a_full_size_checkpoint_has_the_declared_blocks(tmp_path, comfy_root, family):
    from training.checkpoint_layout import checkpoint_blocks

    path = tmp_path / f"{family}.safetensors"
    _header_only_file(path, family)
    found, blocks, width = checkpoint_blocks(path, str(comfy_root))
    layout = family_layout(family)
    assert found == family and width == layout.hidden_size
    assert blocks == layout.blocks()      # keys double_i / single_i, widths and heads


def test_the_trainer_refuses_untrained_families_and_says_what_it_trains(comfy_root):
    import comfy.supported_models

    from training.model import family_of

    assert family_of(comfy.supported_models.Flux({"image_model": "flux"})) == "flux"
    flux2_config = type("Flux2", (), {})()     # what family_of reads of a loaded model_config: its class name
    with pytest.raises(UnsupportedModelError, match=r"is a Flux\.2 model.*trains SD1\.5, SDXL, Flux\.1, .* checkpoints "
                                                     r"only.*init --family flux2"):
        family_of(flux2_config)
