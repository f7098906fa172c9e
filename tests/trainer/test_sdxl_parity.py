"""Parity on SDXL: the adapter the trainer writes for the reduced-width SDXL, loaded in ComfyUI (the inference
patch + ComfyUI's LoRA loader, and the pack's own nodes), gives the trainer's prediction, with the pooled text and
size/crop conditioning going through ComfyUI's sampler (SDXL.extra_conds → encode_adm) on one side and the
trainer's training.adm on the other."""
import shutil
from pathlib import Path

import pytest
import torch

from training.adm import SIZE_FIELDS, adm_vector
from training.checkpoints import list_checkpoints, load_checkpoint
from training.config_io import load_config
from training.export import build_adapter, split_trainable
from training.lora import UNetLora
from training.loop import train
from training.model import build_tiny
from training.objective import predict_eps

from .conftest import sdxl_config

GEOMETRY = (1024, 768, 32, 0, 64, 64)     # original h, w; crop top, left; target h, w (SIZE_FIELDS order)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_sdxl_cache):
    """A 3-stage SDXL run with a large learning rate, so adapter, gates and LoRA are far from their init."""
    run = tmp_path_factory.mktemp("sdxl_parity") / "run"
    cfg = sdxl_config(run, tiny_sdxl_cache, steps=(3, 3, 2), train__lr=2e-2, stage__gates__early_stopping=False,
                      stage__align__gate_lr_mult=10.0, data__val_fraction=0.0)
    train(cfg)
    return run


def _inputs(B=2):
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(B, 4, 8, 8, generator=g)
    ctx = torch.randn(1, 4, 2048, generator=g) * 0.5
    pooled = torch.randn(1, 1280, generator=g)
    clap = torch.nn.functional.normalize(torch.randn(B, 64, generator=g), dim=-1)
    return noise, ctx, pooled, clap


def trainer_denoised(run: Path, noise, ctx, pooled, clap, sigma) -> torch.Tensor:
    """What the trainer computes (LoRA as forward hooks, patch in train mode, y from training.adm), as
    sample_custom's output (denoised latent through latent_format.process_out)."""
    cfg = load_config(run / "config.toml")
    ck = load_checkpoint(list_checkpoints(run)[-1])
    adapter_state, lora_state = split_trainable(ck.trainable)
    adapter = build_adapter(ck.config["adapter_config"], adapter_state)
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    lora = UNetLora(base.unet, rank=cfg.lora.rank, alpha=cfg.lora.alpha, targets=cfg.lora.targets)
    lora.load_state_dict(lora_state)
    lora.attach(base.unet)
    B = noise.shape[0]
    y = adm_vector(base.model, pooled.expand(B, -1), torch.tensor([GEOMETRY] * B))
    with torch.no_grad():
        eps = predict_eps(base.model, adapter, noise * sigma, torch.full((B,), sigma), ctx.expand(B, -1, -1), clap, y=y)
    lora.detach()
    return base.model.latent_format.process_out(noise * sigma - sigma * eps)


def comfy_denoised(patcher, noise, ctx, pooled, sigma) -> torch.Tensor:
    """One Euler step from sigma to 0 through ComfyUI's own sampling code, with a CLIPTextEncodeSDXL-style
    conditioning (pooled_output + sizes)."""
    import comfy.sample
    import comfy.samplers

    sampler = comfy.samplers.ksampler("euler")
    cond = [[ctx, {"pooled_output": pooled, **dict(zip(SIZE_FIELDS, GEOMETRY))}]]
    return comfy.sample.sample_custom(patcher, noise, 1.0, sampler, torch.tensor([sigma, 0.0]), cond, cond,
                                      torch.zeros_like(noise), disable_pbar=True, seed=0)


def tiny_patcher(run: Path):
    import comfy.model_patcher

    cfg = load_config(run / "config.toml")
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(base.model, load_device=cpu, offload_device=cpu), base


def test_sdxl_trainer_forward_matches_comfyui_sampler(trained):
    import comfy.lora

    from c2d_core.adapter_file import load_adapter
    from c2d_core.patch import AudioAttentionPatch

    noise, ctx, pooled, clap = _inputs()
    patcher, base = tiny_patcher(trained)
    sigma = float(base.model_sampling.sigmas[500])
    expected = trainer_denoised(trained, noise, ctx, pooled, clap, sigma)
    plain = comfy_denoised(patcher, noise, ctx, pooled, sigma)
    loaded = load_adapter(trained / "adapter.safetensors")
    assert loaded.adapter.config.base_family == "sdxl" and loaded.lora
    patched = patcher.clone()
    patched.set_model_patch(AudioAttentionPatch(loaded.adapter, clap), "middle_patch")
    patched.add_patches(comfy.lora.load_lora(loaded.lora, comfy.lora.model_lora_keys_unet(patched.model, {})), 1.0)
    got = comfy_denoised(patched, noise, ctx, pooled, sigma)
    assert (expected - plain).abs().max() > 1e-2, "the adapter changes nothing: the test would prove nothing"
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    # the size conditioning matters: another geometry gives another prediction in ComfyUI
    other = [[ctx, {"pooled_output": pooled, **dict(zip(SIZE_FIELDS, (512, 512, 0, 0, 64, 64)))}]]
    import comfy.sample
    import comfy.samplers
    moved = comfy.sample.sample_custom(patched, noise, 1.0, comfy.samplers.ksampler("euler"), torch.tensor([sigma, 0.0]),
                                       other, other, torch.zeros_like(noise), disable_pbar=True, seed=0)
    assert (moved - got).abs().max() > 1e-4




def test_exported_sdxl_adapter_through_the_nodes_reproduces_the_trainer(trained, pack_host):
    """C2DAudioAdapterLoader + C2DApplyAudioAdapter (real ComfyUI, LoRA applied by the node) on the SDXL model give
    the trainer's prediction."""
    from c2d_core.embeds import AudioEmbeds

    name = "c2d_trainer_parity_sdxl.safetensors"
    folder = pack_host.models_dir / "audio_adapters"
    shutil.copy(trained / "adapter.safetensors", folder / name)
    pack_host.folder_paths.filename_list_cache.clear()
    noise, ctx, pooled, clap = _inputs()
    patcher, base = tiny_patcher(trained)
    sigma = float(base.model_sampling.sigmas[300])
    adapter = pack_host.node_class("C2DAudioAdapterLoader").execute(name).result[0]
    embeds = AudioEmbeds(embeds=clap, clap_model_id="stand-in", clap_dim=64)
    model = pack_host.node_class("C2DApplyAudioAdapter").execute(patcher, adapter, embeds, 1.0, 0.0, 1.0).result[0]
    got = comfy_denoised(model, noise, ctx, pooled, sigma)
    expected = trainer_denoised(trained, noise, ctx, pooled, clap, sigma)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_evaluate_and_the_sampler_run_on_sdxl(trained, monkeypatch):
    """evaluate's losses and generated samples on SDXL: the sampler gives the UNet y for cond rows and the empty
    caption's y for uncond rows (a y that ignored the pooled embedding would not change the samples)."""
    import dataclasses
    import math

    import training.sampling
    from training.evaluate import evaluate

    cfg = load_config(trained / "config.toml")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, val_fraction=0.25),
                              eval=dataclasses.replace(cfg.eval, sample_steps=3))
    seen = []
    real = training.sampling.guided_eps

    def spy(*args, y=None, uncond_y=None, **kw):
        seen.append((y, uncond_y))
        return real(*args, y=y, uncond_y=uncond_y, **kw)

    monkeypatch.setattr(training.sampling, "guided_eps", spy)
    from toy.task import latent_to_rgb

    scores = evaluate(cfg, adapter_path=str(trained / "adapter.safetensors"), decode=latent_to_rgb)
    for k in ("loss_audio", "loss_null", "loss_shuffled", "label_accuracy"):
        assert math.isfinite(scores[k]), k
    assert scores["loss_audio"] != scores["loss_shuffled"]
    y, uncond_y = seen[0]
    assert y.shape[-1] == uncond_y.shape[-1] == 2816
    assert not torch.equal(y[:, :1280], uncond_y[:, :1280]) and torch.equal(y[:, 1280:], uncond_y[:, 1280:])
