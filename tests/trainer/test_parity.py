"""The trainer's forward is ComfyUI's: same prediction through ComfyUI's sampler and through the nodes."""
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.checkpoints import list_checkpoints, load_checkpoint
from training.config_io import load_config
from training.export import build_adapter, split_trainable
from training.lora import UNetLora
from training.loop import train
from training.model import build_tiny
from training.objective import predict_eps

REPO = Path(__file__).resolve().parents[2]
SCALE = 0.18215   # SD1.5 latent_format.scale_factor: sample_custom returns process_latent_out(x)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_cache):
    """A 3-stage run with a large learning rate, so adapter, gates and LoRA are far from their init."""
    from toy import task as S

    run = tmp_path_factory.mktemp("parity") / "run"
    over = {"adapter.clap_dim": 64, "model.tiny_weights": "", "train.batch_size": 4, "train.lr": 2e-2,
            "train.warmup_steps": 0, "stage.gates.early_stopping": False, "stage.align.gate_lr_mult": 10.0}
    cfg = S.task_config(run, tiny_cache, S.Task(), steps=(3, 3, 2), batch=4, overrides=over)
    train(cfg)
    return run


def _inputs(B=2):
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(B, 4, 8, 8, generator=g)
    ctx = torch.randn(1, 4, 32, generator=g)
    clap = torch.nn.functional.normalize(torch.randn(B, 64, generator=g), dim=-1)
    return noise, ctx, clap


def trainer_denoised(run: Path, noise, ctx, clap, sigma) -> torch.Tensor:
    """What the trainer computes (LoRA as forward hooks, patch in train mode), as sample_custom's output."""
    cfg = load_config(run / "config.toml")
    ck = load_checkpoint(list_checkpoints(run)[-1])
    adapter_state, lora_state = split_trainable(ck.trainable)
    adapter = build_adapter(ck.config["adapter_config"], adapter_state)
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    lora = UNetLora(base.unet, rank=cfg.lora.rank, alpha=cfg.lora.alpha, targets=cfg.lora.targets)
    lora.load_state_dict(lora_state)
    lora.attach(base.unet)
    B = noise.shape[0]
    with torch.no_grad():
        eps = predict_eps(base.model, adapter, noise * sigma, torch.full((B,), sigma), ctx.expand(B, -1, -1), clap)
    lora.detach()
    return (noise * sigma - sigma * eps) / SCALE


def comfy_denoised(patcher, noise, ctx, sigma) -> torch.Tensor:
    """One Euler step from sigma to 0 through ComfyUI's own sampling code = its denoised prediction."""
    import comfy.sample
    import comfy.samplers

    sampler = comfy.samplers.ksampler("euler")
    cond = [[ctx, {}]]
    return comfy.sample.sample_custom(patcher, noise, 1.0, sampler, torch.tensor([sigma, 0.0]), cond, cond,
                                      torch.zeros_like(noise), disable_pbar=True, seed=0)


def tiny_patcher(run: Path):
    import comfy.model_patcher

    cfg = load_config(run / "config.toml")
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(base.model, load_device=cpu, offload_device=cpu), base


def test_trainer_forward_matches_comfyui_sampler(trained):
    import comfy.lora

    from c2d_core.adapter_file import load_adapter
    from c2d_core.patch import AudioAttentionPatch

    noise, ctx, clap = _inputs()
    patcher, base = tiny_patcher(trained)
    sigma = float(base.model_sampling.sigmas[500])
    expected = trainer_denoised(trained, noise, ctx, clap, sigma)
    plain = comfy_denoised(patcher, noise, ctx, sigma)
    loaded = load_adapter(trained / "adapter.safetensors")
    patched = patcher.clone()
    patched.set_model_patch(AudioAttentionPatch(loaded.adapter, clap), "middle_patch")
    patched.add_patches(comfy.lora.load_lora(loaded.lora, comfy.lora.model_lora_keys_unet(patched.model, {})), 1.0)
    got = comfy_denoised(patched, noise, ctx, sigma)
    assert (expected - plain).abs().max() > 1e-2, "the adapter changes nothing: the test would prove nothing"
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_every_lora_key_maps_onto_the_unet(trained, caplog):
    import comfy.lora

    from c2d_core.adapter_file import load_adapter

    loaded = load_adapter(trained / "adapter.safetensors")
    patcher, base = tiny_patcher(trained)
    key_map = comfy.lora.model_lora_keys_unet(patcher.model, {})
    with caplog.at_level(logging.WARNING):
        patches = comfy.lora.load_lora(loaded.lora, key_map)
    assert "not loaded" not in caplog.text
    layers = {k.rsplit(".lora_", 1)[0] for k in loaded.lora if ".lora_" in k}
    assert len(patches) == len(layers) == len(loaded.lora) // 3 > 0
    unet_weights = set(patcher.model.state_dict())
    assert set(patches) <= unet_weights and all(k.endswith((".to_q.weight", ".to_k.weight", ".to_v.weight",
                                                            ".to_out.0.weight")) for k in patches)


def test_export_command_and_stock_lora_file(trained, tmp_path):
    import comfy.lora

    out, lora_out = tmp_path / "a.safetensors", tmp_path / "lora.safetensors"
    r = subprocess.run([sys.executable, "-m", "training", "export", "--run-dir", str(trained), "--out", str(out),
                        "--lora-out", str(lora_out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = load_file(str(out)), load_file(str(trained / "adapter.safetensors"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    stock = load_file(str(lora_out))
    assert set(stock) == {k[len("lora."):] for k in b if k.startswith("lora.")}
    patcher, _ = tiny_patcher(trained)
    assert len(comfy.lora.load_lora(stock, comfy.lora.model_lora_keys_unet(patcher.model, {}))) == len(stock) // 3
    bad = subprocess.run([sys.executable, "-m", "training", "export", "--run-dir", str(tmp_path / "empty")],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "no complete checkpoint" in bad.stderr and "Traceback" not in bad.stderr




def test_exported_adapter_through_the_nodes_reproduces_the_trainer(trained, pack_host):
    """C2DAudioAdapterLoader + C2DApplyAudioAdapter (real ComfyUI, LoRA applied by the node) give the
    trainer's prediction."""
    from c2d_core.embeds import AudioEmbeds

    name = "c2d_trainer_parity.safetensors"
    folder = pack_host.models_dir / "audio_adapters"
    shutil.copy(trained / "adapter.safetensors", folder / name)
    pack_host.folder_paths.filename_list_cache.clear()
    noise, ctx, clap = _inputs()
    patcher, base = tiny_patcher(trained)
    sigma = float(base.model_sampling.sigmas[300])
    adapter = pack_host.node_class("C2DAudioAdapterLoader").execute(name).result[0]
    embeds = AudioEmbeds(embeds=clap, clap_model_id="stand-in", clap_dim=64)
    model = pack_host.node_class("C2DApplyAudioAdapter").execute(patcher, adapter, embeds, 1.0, 0.0, 1.0).result[0]
    got = comfy_denoised(model, noise, ctx, sigma)
    expected = trainer_denoised(trained, noise, ctx, clap, sigma)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_evaluate_scores_an_adapter(trained, tmp_path):
    import json
    import math

    r = subprocess.run([sys.executable, "-m", "training", "evaluate", "--config", str(trained / "config.toml"),
                        "--adapter", str(trained / "adapter.safetensors"), "--out", str(tmp_path / "scores.json"),
                        "--decode", "toy.task:latent_to_rgb",
                        "--set", "data.val_fraction=0.2", "--set", "eval.sample_steps=8"], cwd=REPO,
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    scores = json.loads((tmp_path / "scores.json").read_text())
    for k in ("loss_audio", "loss_null", "loss_shuffled", "audio_gain", "label_accuracy"):
        assert math.isfinite(scores[k]), k
    assert scores["loss_audio"] != scores["loss_shuffled"]          # the audio reaches the UNet
    assert scores["lora_layers_merged"] > 0 and scores["label_chance"] == 0.25
