"""The trainer on DiTs: flow matching through ComfyUI's own apply_model and extra_conds on tiny models of each family
(training/tiny_dit.py); the adapter it writes reproduces its prediction in the nodes; it learns the synthetic task
on a tiny Flux (toy/flux.py); bad settings fail with the fix."""
import csv
import math
import shutil

import pytest
import torch

from toy import flux as X
from toy import task as S
from training.cache import CacheError
from training.config import ConfigError
from training.loop import Trainer, train

CLAP_DIM = 64


def _cache(root, family_pooled: bool = True, n_per_class: int = 4):
    t = X.task(train_per_class=n_per_class)
    labels = [k for k in range(S.N_CLASSES) for _ in range(n_per_class)]
    embeds, x0 = S.fake_embed(labels, CLAP_DIM, seed=2), S.latents(labels, t, seed=1)
    if family_pooled:
        X.write_cache(root, t, embeds, labels, x0, "stand-in")
    else:
        S.write_cache(root, t, embeds, labels, x0, "stand-in")
    return root, t


def _config(run_dir, cache, t, family="flux", steps=(2, 0, 0), **over):
    base = {"adapter.clap_dim": CLAP_DIM, "model.tiny_weights": "", "train.batch_size": 4, "train.log_every": 1,
            "train.warmup_steps": 0, "data.val_fraction": 0.0, "model.tiny_dit.family": family,
            "stage.gates.early_stopping": False}
    base.update(over)
    return X.task_config(run_dir, cache, t, steps=steps, batch=4, lr=1e-2, overrides=base)


@pytest.fixture(scope="module")
def flux_run(tmp_path_factory, comfy_root):
    """Three stages with a large learning rate (adapter, gates and Flux's own LoRA far from their init)."""
    root = tmp_path_factory.mktemp("flux_train")
    cache, t = _cache(root / "cache")
    cfg = _config(root / "run", cache, t, steps=(3, 3, 2), **{"train.lr": 2e-2, "stage.align.gate_lr_mult": 10.0})
    train(cfg)
    return root / "run", cfg, t


def _inputs(t, B=2):
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(B, t.channels, t.latent_size, t.latent_size, generator=g)
    clap = torch.nn.functional.normalize(torch.randn(B, CLAP_DIM, generator=g), dim=-1)
    return noise, clap


def test_the_adapter_through_the_nodes_reproduces_the_trainer_on_flux(flux_run, pack_host):
    """C2DAudioAdapterLoader + C2DApplyAudioAdapter (the branch on Flux's double and single blocks, the LoRA on its
    attention applied by the node) and one Euler step of ComfyUI's sampler give the trainer's own prediction."""
    import comfy.model_patcher
    import comfy.sample
    import comfy.samplers

    from c2d_core.embeds import AudioEmbeds
    from training.checkpoints import list_checkpoints, load_checkpoint
    from training.export import build_adapter, split_trainable
    from training.lora import UNetLora, lora_targets
    from training.model import build_tiny
    from training.objective import predict_dit
    from c2d_core.families import family_layout

    run, cfg, t = flux_run
    noise, clap = _inputs(t)
    text, _ = S.caption(t)
    pooled, _ = X.pooled_caption()
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    sigma = float(base.model_sampling.sigmas[600])

    ck = load_checkpoint(list_checkpoints(run)[-1])
    adapter_state, lora_state = split_trainable(ck.trainable)
    assert lora_state, "the joint stage trained no LoRA: the test would not cover it"
    adapter = build_adapter(ck.config["adapter_config"], adapter_state)
    lora = UNetLora(base.unet, rank=cfg.lora.rank, alpha=cfg.lora.alpha,
                    targets=lora_targets(cfg.lora.targets, family_layout("flux")))
    lora.load_state_dict(lora_state)
    lora.attach(base.unet)
    B = noise.shape[0]
    with torch.no_grad():
        v = predict_dit(base.model, adapter, noise * sigma, torch.full((B,), sigma), text.expand(B, -1, -1), clap,
                        pooled=pooled.expand(B, -1), train=False)
        plain = predict_dit(base.model, None, noise * sigma, torch.full((B,), sigma), text.expand(B, -1, -1), None,
                            pooled=pooled.expand(B, -1))
    lora.detach()
    expected = base.model.latent_format.process_out(noise * sigma - sigma * v)   # what sample_custom returns
    assert (v - plain).abs().max() > 1e-2, "the adapter changes nothing: the test would prove nothing"

    name = "c2d_flux_trainer_parity.safetensors"
    shutil.copy(run / "adapter.safetensors", pack_host.models_dir / "audio_adapters" / name)
    pack_host.folder_paths.filename_list_cache.clear()
    fresh = build_tiny(cfg.model, seed=cfg.train.seed)
    cpu = torch.device("cpu")
    patcher = comfy.model_patcher.ModelPatcher(fresh.model, load_device=cpu, offload_device=cpu)
    loaded = pack_host.node_class("C2DAudioAdapterLoader").execute(name).result[0]
    embeds = AudioEmbeds(embeds=clap, clap_model_id="stand-in", clap_dim=CLAP_DIM)
    model = pack_host.node_class("C2DApplyAudioAdapter").execute(patcher, loaded, embeds, 1.0, 0.0, 1.0).result[0]
    cond = [[text[None], {"pooled_output": pooled[None], "guidance": 3.5}]]
    got = comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.ksampler("euler"), torch.tensor([sigma, 0.0]),
                                     cond, cond, torch.zeros_like(noise), disable_pbar=True, seed=0)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


@pytest.mark.parametrize("family", ["chroma", "sd3", "qwen_image", "z_image"])
def test_each_dit_family_trains_with_flow_matching(tmp_path, comfy_root, family):
    """Two steps on the family's tiny model: finite loss, the gates open from 0, the family's own LoRA targets."""
    from c2d_core.families import family_spec
    from training.model_kind import reads_pooled

    import comfy.supported_models
    if not hasattr(comfy.supported_models, "ZImage") and family == "z_image":
        pytest.skip("Z-Image needs ComfyUI 0.33+ (this host has no ZImage model config)")
    cache, t = _cache(tmp_path / "cache", family_pooled=True)
    tr = Trainer(_config(tmp_path / "run", cache, t, family, steps=(2, 1, 0)))
    assert tr.base.family == family and family_spec(family).objective == "flow"
    assert tr.trainable.lora is not None and tr.trainable.lora.paths
    assert all(p.endswith(family_spec(family).layout.lora_targets) for p in tr.trainable.lora.paths)
    result = tr.run()
    losses = [float(r["loss"]) for r in csv.DictReader(open(result.run_dir / "logs" / "train.csv"))]
    assert result.step == 3 and len(losses) == 3 and all(math.isfinite(x) for x in losses)
    gates = [float(b.gate.detach()) for b in tr.trainable.adapter.blocks.values()]
    assert max(abs(g) for g in gates) > 0, "the gates did not move: no gradient reached them"
    assert reads_pooled(tr.base.model) == (family == "sd3")


def test_flux_needs_pooled_vectors_and_plain_flow_matching(tmp_path, comfy_root):
    cache, t = _cache(tmp_path / "cache", family_pooled=False)          # an SD1.5-style cache: no pooled vectors
    with pytest.raises(CacheError, match="reads a pooled text vector.*prepare again"):
        Trainer(_config(tmp_path / "run", cache, t))
    cache, t = _cache(tmp_path / "cache2")
    with pytest.raises(ConfigError, match="snr_gamma=5.0.*flow matching: set train.snr_gamma=0"):
        Trainer(_config(tmp_path / "run2", cache, t, **{"train.snr_gamma": 5.0}))


def test_gradient_checkpointing_on_flux_gives_the_same_gradients(tmp_path, comfy_root):
    """Flux's blocks update their inputs in place; recomputed through training.grad_checkpoint.RecomputeBlock they
    give the adapter and the LoRA inside the blocks the gradients of the plain backward pass."""
    from c2d_core.families import family_layout
    from training.grad_checkpoint import enable_gradient_checkpointing
    from training.host import differentiable_kernels
    from training.stages import apply_stage, resolve_stages

    cache, t = _cache(tmp_path / "cache")
    cfg = _config(tmp_path / "run", cache, t, steps=(0, 1, 0))
    tr = Trainer(cfg)
    apply_stage(resolve_stages(cfg)[1], tr.trainable.adapter, tr.trainable.lora, 0.0)    # the joint stage: + LoRA
    with torch.no_grad():
        for blk in tr.trainable.adapter.blocks.values():     # open gates: gradients reach the attention too
            blk.gate.fill_(0.5)
        for layer in tr.trainable.lora.layers.values():     # LoRA up weights start at 0: no gradient reaches down
            layer.up.normal_(0, 0.01)
    b = tr._batch(tr.sampler.indices(0, 0, 0))
    rnd = tr._noise(tuple(b["latent"].shape), 0, 0)

    def grads():
        tr.trainable.zero_grad(set_to_none=True)
        c = tr._cond(b)
        with differentiable_kernels():
            loss = tr.trainable.loss(b["latent"], b["text"], tr.null_text, b["clap"], rnd.noise, rnd.t,
                                     rnd.null_audio, rnd.null_text, c["pooled"], c["null_pooled"])
            loss.backward()
        return float(loss.detach()), {n: p.grad.clone() for n, p in tr.trainable.named_parameters()
                                      if p.grad is not None}

    loss0, g0 = grads()
    assert enable_gradient_checkpointing(tr.base.unet, family_layout("flux")) == 4     # 2 double + 2 single blocks
    loss1, g1 = grads()
    assert loss0 == pytest.approx(loss1, rel=1e-6)
    assert set(g0) == set(g1) and any("lora" in k for k in g0) and any("blocks" in k for k in g0)
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=1e-4, atol=1e-7)


def test_flux_toy_adapter_picks_the_colour_from_the_sound(tmp_path, comfy_root):
    """The learning proof on Flux's structure: a tiny Flux pretrained here with flow matching draws a square of a
    random colour; an adapter trained through the real trainer (QUICK: 400 steps) on random-weight CLAP embeddings of
    tones must pick the tone's colour on 64 held-out clips at audio CFG 4 (chance 25 %)."""
    results = X.run(tmp_path, X.QUICK)
    row = results["rows"][0]
    assert results["embedding_accuracy"] >= 0.75, "the random CLAP does not separate the tones: nothing to learn"
    assert results["base_accuracy"] <= 0.45                                 # without audio: a random colour
    assert row["acc_cfg4"] >= 0.45, f"held-out accuracy {row['acc_cfg4']:.0%} (chance 25%)"
    assert row["gate_mean"] > 0.01 and math.isfinite(row["gate_mean"])     # the gates opened
    assert row["steps"] == sum(X.QUICK.steps) and row["blocks"] == 4


def test_a_diffusion_model_only_file_trains_through_comfyuis_loader(tmp_path, comfy_root):
    """A DiT saved as ComfyUI's diffusion_models/ files are (a tiny SD3 in the real key layout) is found by ComfyUI's
    own detection and loaded by its UNET loader; the trainer runs on it, and prepare (which needs the text encoders
    and VAE such a file lacks) says what to do."""
    from safetensors.torch import save_file

    from c2d_core.errors import UnsupportedModelError
    from training.config import ModelConfig
    from training.model import load_checkpoint
    from training.tiny_dit import build_dit

    net = build_dit("sd3", seed=3).diffusion_model
    path = tmp_path / "tiny_sd3.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    cache, t = _cache(tmp_path / "cache")
    tr = Trainer(_config(tmp_path / "run", cache, t, "", **{"model.tiny": False, "model.checkpoint": str(path)}))
    assert tr.base.family == "sd3" and tr.base.kind == "checkpoint"
    assert torch.equal(tr.base.unet.state_dict()["x_embedder.proj.weight"], net.state_dict()["x_embedder.proj.weight"])
    assert tr.run().step == 2
    with pytest.raises(UnsupportedModelError, match="diffusion model alone.*prepare"):
        load_checkpoint(ModelConfig(checkpoint=str(path)), clip=True, vae=True)


def test_a_video_adapter_through_the_nodes_reproduces_the_trainer_on_wan(tmp_path, comfy_root, pack_host):
    """Frame-local audio: a Wan adapter trained on per-frame embeddings (one timeline per video) gives, through the
    Load + Apply nodes with that timeline and one Euler step of ComfyUI's sampler, the trainer's own prediction.
    ComfyUI 0.33+ (the latent frame count in transformer_options)."""
    import inspect

    import comfy.ldm.wan.model
    import comfy.model_patcher
    import comfy.sample
    import comfy.samplers

    from c2d_core.embeds import AudioEmbeds
    from toy import video_sync as V
    from training.model import build_tiny
    from training.objective import predict_dit

    if 'transformer_options["grid_sizes"]' not in inspect.getsource(comfy.ldm.wan.model.WanModel.forward_orig):
        pytest.skip("frame-local audio needs ComfyUI 0.33+")
    t = V.task()
    items = V.clips(8, seed=3)
    embeds = torch.nn.functional.normalize(torch.randn(len(items), V.VIDEO_FRAMES, CLAP_DIM,
                                                       generator=torch.Generator().manual_seed(5)), dim=-1)
    V.write_cache(tmp_path / "cache", t, embeds, items, V.latents(items, t, seed=1), "stand-in")
    cfg = _config(tmp_path / "run", tmp_path / "cache", t, "wan", steps=(4, 0, 0),
                  **{"train.lr": 2e-2, "stage.align.gate_lr_mult": 10.0})
    train(cfg)
    from c2d_core.adapter_file import load_adapter

    adapter = load_adapter(tmp_path / "run" / "adapter.safetensors").adapter
    clap = embeds[:1]                                                        # one video, 13 per-frame embeddings
    base = build_tiny(cfg.model, seed=cfg.train.seed)
    noise = torch.randn(1, V.CHANNELS, V.LATENT_FRAMES, 8, 8, generator=torch.Generator().manual_seed(6))
    text, _ = S.caption(t)
    sigma = float(base.model_sampling.sigmas[600])
    with torch.no_grad():
        v = predict_dit(base.model, adapter, noise * sigma, torch.full((1,), sigma), text[None], clap, train=False)
        plain = predict_dit(base.model, None, noise * sigma, torch.full((1,), sigma), text[None], None)
    assert (v - plain).abs().max() > 1e-3, "the adapter changes nothing: the test would prove nothing"
    expected = base.model.latent_format.process_out(noise * sigma - sigma * v)

    name = "c2d_wan_trainer_parity.safetensors"
    shutil.copy(tmp_path / "run" / "adapter.safetensors", pack_host.models_dir / "audio_adapters" / name)
    pack_host.folder_paths.filename_list_cache.clear()
    cpu = torch.device("cpu")
    patcher = comfy.model_patcher.ModelPatcher(build_tiny(cfg.model, seed=cfg.train.seed).model, load_device=cpu,
                                               offload_device=cpu)
    loaded = pack_host.node_class("C2DAudioAdapterLoader").execute(name).result[0]
    timeline = AudioEmbeds(embeds=clap[0], clap_model_id="stand-in", clap_dim=CLAP_DIM)
    model = pack_host.node_class("C2DApplyAudioAdapter").execute(patcher, loaded, timeline, 1.0, 0.0, 1.0).result[0]
    cond = [[text[None], {}]]
    got = comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.ksampler("euler"), torch.tensor([sigma, 0.0]),
                                     cond, cond, torch.zeros_like(noise), disable_pbar=True, seed=0)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
