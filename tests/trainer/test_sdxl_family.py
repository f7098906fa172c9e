"""SDXL as a family: the declared layout is ComfyUI's SDXL UNet, `training init` makes SDXL adapters (from the family
or from a checkpoint's header), and adapters refuse a model of the other family naming both."""
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from c2d_core.adapter_file import load_adapter
from c2d_core.config import AdapterConfig
from c2d_core.errors import AdapterMismatchError
from c2d_core.factory import new_adapter
from c2d_core.families import family_from_comfy_config, family_layout
from c2d_core.placement import select_blocks
from c2d_core.unet_blocks import discover_blocks

REPO = Path(__file__).resolve().parents[2]


def _meta_unet(config_class):
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    mc = config_class(dict(config_class.unet_config, num_res_blocks=[2, 2, 2], channel_mult=[1, 2, 4], image_size=32,
                           in_channels=4, out_channels=4, num_classes="sequential", use_spatial_transformer=True,
                           legacy=False, transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10],
                           transformer_depth_middle=10, use_temporal_resblock=False))
    return UNetModel(**mc.unet_config, device="meta", operations=comfy.ops.disable_weight_init)


def as_tuples(blocks):
    return [(b.key, b.query_dim, b.heads, b.dim_head) for b in blocks]


def test_sdxl_layout_is_comfyuis_sdxl_unet(comfy_root):
    import comfy.supported_models

    blocks, context = discover_blocks(_meta_unet(comfy.supported_models.SDXL))
    assert context == 2048 and len(blocks) == 70
    assert as_tuples(blocks) == as_tuples(family_layout("sdxl").blocks())
    assert family_from_comfy_config("SDXL") == "sdxl"


def test_light_preset_takes_one_block_per_spatial_transformer():
    sdxl, sd15 = family_layout("sdxl").blocks(), family_layout("sd15").blocks()
    light = select_blocks(sdxl, "light")
    assert [b.key for b in light] == ["input_4_0", "input_5_0", "input_7_0", "input_8_0", "middle_0_0"] + [
        f"output_{i}_0" for i in range(6)]
    assert select_blocks(sd15, "light") == sd15  # depth 1: every block is the first of its transformer
    assert len(select_blocks(sdxl, "mid_up")) == 46 and len(select_blocks(sdxl, "up")) == 36


def test_adapters_refuse_the_other_family_naming_both():
    sdxl = new_adapter(AdapterConfig(base_family="sdxl", context_dim=2048, placement="light", hidden_dim=8))
    assert sdxl.projector(torch.zeros(1, 512)).shape == (1, 8, 2048)
    with pytest.raises(AdapterMismatchError) as info:
        sdxl.check_fits(family_layout("sd15").blocks(), 768, "sd15")
    assert "for SDXL (context width 2048)" in str(info.value) and "model is SD1.5 (context width 768)" in str(info.value)
    assert "init --family sd15" in str(info.value)
    sd15 = new_adapter(AdapterConfig(hidden_dim=8))
    with pytest.raises(AdapterMismatchError, match=r"for SD1\.5 .* model is SDXL .*init --family sdxl"):
        sd15.check_fits(family_layout("sdxl").blocks(), 2048, "sdxl")
    sdxl.check_fits(family_layout("sdxl").blocks(), 2048, "sdxl")  # fits


def _run_init(*args):
    r = subprocess.run([sys.executable, "-m", "training", "init", *args], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def test_init_family_sdxl_writes_real_widths(tmp_path):
    out = tmp_path / "sdxl.safetensors"
    _run_init("--out", str(out), "--family", "sdxl", "--placement", "light", "--gate-init", "0.2", "--hidden-dim", "16")
    adapter = load_adapter(out).adapter
    cfg = adapter.config
    assert (cfg.base_family, cfg.context_dim) == ("sdxl", 2048)
    assert as_tuples(cfg.blocks) == as_tuples(select_blocks(family_layout("sdxl").blocks(), "light"))
    assert adapter.blocks["middle_0_0"].attn.to_k.in_features == 2048
    assert adapter.blocks["middle_0_0"].attn.to_q.in_features == 1280
    assert all(abs(g - 0.2) < 1e-7 for g in adapter.gates().values())


def _header_only_checkpoint(path: Path, unet: torch.nn.Module) -> None:
    """A safetensors header in the SDXL base key layout (model.diffusion_model.*); no tensor data: the reader of
    `init --checkpoint` must not need any."""
    header, offset = {}, 0
    for key, t in unet.state_dict().items():
        size = t.numel() * 2
        header[f"model.diffusion_model.{key}"] = dict(dtype="F16", shape=list(t.shape), data_offsets=[offset, offset + size])
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_init_checkpoint_sizes_the_adapter_from_the_unet_without_reading_weights(tmp_path, comfy_root):
    import comfy.supported_models

    ckpt = tmp_path / "sdxl_header.safetensors"
    _header_only_checkpoint(ckpt, _meta_unet(comfy.supported_models.SDXL))
    out = tmp_path / "from_ckpt.safetensors"
    r = _run_init("--out", str(out), "--checkpoint", str(ckpt), "--placement", "up", "--hidden-dim", "16",
                  "--comfyui", str(comfy_root))
    cfg = load_adapter(out).adapter.config
    assert cfg.base_family == "sdxl" and cfg.context_dim == 2048 and len(cfg.blocks) == 36, r.stderr
    assert as_tuples(cfg.blocks) == as_tuples(select_blocks(family_layout("sdxl").blocks(), "up"))  # widths, heads
    bad = subprocess.run([sys.executable, "-m", "training", "init", "--out", str(tmp_path / "x.safetensors"),
                          "--checkpoint", str(ckpt), "--family", "sd15", "--comfyui", str(comfy_root)],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "is a sdxl checkpoint; drop --family" in bad.stderr


def test_the_declared_decoder_is_comfyuis(comfy_root):
    """layout.decoder_blocks (the Audio Edit Sampler's block limits) = the output blocks ComfyUI's UNet builds."""
    import comfy.ops
    import comfy.supported_models
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    from c2d_core.families import REGISTRY, UNetLayout
    from training.model import layout_unet_config

    unets = {n: s for n, s in REGISTRY.items() if isinstance(s.layout, UNetLayout)}
    for spec in unets.values():
        config = getattr(comfy.supported_models, spec.comfy_class)(layout_unet_config(spec.layout)).unet_config
        unet = UNetModel(**config, device="meta", operations=comfy.ops.disable_weight_init)
        assert len(unet.output_blocks) == spec.layout.decoder_blocks, spec.name
    assert {n: s.layout.decoder_blocks for n, s in unets.items()} == {"sd15": 12, "sdxl": 9}
