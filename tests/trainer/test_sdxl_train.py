"""The trainer on the reduced-width SDXL (ComfyUI's model_base.SDXL, 70 blocks, context 2048, ADM 2816): the
UNet gets ComfyUI's own ADM vector (pooled text + size/crop embeddings) per sample, steps lower the loss and
reach gates and projector, gradient checkpointing and bf16 work, runs resume exactly and export an SDXL adapter."""
import pytest
import torch
from safetensors.torch import load_file

from training.adm import SIZE_FIELDS, adm_vector, default_sizes
from training.cache import CacheError
from training.grad_checkpoint import enable_gradient_checkpointing
from training.logs import RunLog
from training.loop import Trainer, train

from .conftest import sdxl_config


def test_adm_vector_is_comfyuis_encode_adm_per_sample(comfy_root):
    import comfy.model_base
    from training.config_io import load_config
    from training.model import build_tiny

    base = build_tiny(load_config(None, {"model.tiny": True, "model.tiny_unet.family": "sdxl",
                                         "model.tiny_unet.context_dim": 64}).model)
    assert isinstance(base.model, comfy.model_base.SDXL) and base.model.adm_channels == 2816
    pooled = torch.randn(3, 1280)
    sizes = torch.tensor([[1024, 768, 0, 32, 512, 512], [600, 800, 8, 0, 512, 512], [1024, 768, 0, 32, 512, 512]])
    y = adm_vector(base.model, pooled, sizes)
    assert y.shape == (3, 2816)
    for i in range(3):
        want = base.model.encode_adm(pooled_output=pooled[i:i + 1], **dict(zip(SIZE_FIELDS, sizes[i].tolist())))
        torch.testing.assert_close(y[i:i + 1], want, rtol=0, atol=0)
    assert not torch.equal(y[0, 1280:], y[1, 1280:])          # the geometry reaches y
    assert default_sizes((8, 16), 2).tolist() == [[64, 128, 0, 0, 64, 128]] * 2   # ComfyUI's sampler default


def test_steps_lower_the_loss_and_reach_gates_and_projector(tmp_path, tiny_sdxl_cache):
    cfg = sdxl_config(tmp_path / "run", tiny_sdxl_cache, adapter__gate_init=0.2, train__lr=3e-3,
                      train__stages=("align",), train__audio_dropout=0.0)
    tr = Trainer(cfg)
    assert tr.base.family == "sdxl" and tr.uses_adm and len(tr.trainable.adapter.blocks) == 11
    run = tr.begin_stage(tr.stages[0])
    seen = {}
    unet_forward = tr.base.unet.forward

    def spy(x, timesteps=None, context=None, y=None, **kw):
        seen["y"] = y
        return unet_forward(x, timesteps, context=context, y=y, **kw)

    tr.base.unet.forward = spy
    params = dict(tr.trainable.adapter.named_parameters())
    before = {k: v.detach().clone() for k, v in params.items()}
    losses = [tr.train_step(run)[0] for _ in range(6)]        # the same batch and noise (state.step stays 0)
    assert seen["y"].shape == (cfg.train.batch_size, 2816)
    assert losses[-1] < losses[0], losses
    moved = {k for k, v in params.items() if not torch.equal(v.detach(), before[k])}
    assert any(k.endswith(".gate") for k in moved) and any(k.startswith("projector.") for k in moved), moved


def test_pooled_text_and_sizes_change_the_loss(tmp_path, tiny_sdxl_cache):
    tr = Trainer(sdxl_config(tmp_path / "run", tiny_sdxl_cache))
    b = tr._batch(tr.sampler.indices(0, 0, 0))
    rnd = tr._noise(tuple(b["latent"].shape), 0, 0)

    def loss(**change):
        c = dict(tr._cond(b), **change)
        with torch.no_grad():
            return float(tr.trainable.loss(b["latent"], b["text"], tr.null_text, b["clap"], rnd.noise, rnd.t,
                                           rnd.null_audio, rnd.null_text, c["pooled"], c["null_pooled"], c["sizes"]))

    ref = loss()
    assert loss(pooled=b["pooled"] + 1.0) != ref
    assert loss(sizes=b["size"] + 64) != ref
    # a dropped caption takes the empty caption's pooled embedding: then the caption's pooled no longer matters
    rnd.null_text[:] = True
    assert loss(pooled=b["pooled"] + 1.0) == loss()


def test_gradient_checkpointing_and_bf16_unet(tmp_path, tiny_sdxl_cache):
    tr = Trainer(sdxl_config(tmp_path / "run", tiny_sdxl_cache, adapter__gate_init=0.3))
    b = tr._batch(tr.sampler.indices(0, 0, 0))
    rnd = tr._noise(tuple(b["latent"].shape), 0, 0)
    c = tr._cond(b)

    def grads():
        tr.trainable.zero_grad(set_to_none=True)
        loss = tr.trainable.loss(b["latent"], b["text"], tr.null_text, b["clap"], rnd.noise, rnd.t, rnd.null_audio,
                                 rnd.null_text, c["pooled"], c["null_pooled"], c["sizes"])
        loss.backward()
        return float(loss.detach()), {n: p.grad.clone() for n, p in tr.trainable.named_parameters()
                                      if p.grad is not None}

    loss0, g0 = grads()
    assert enable_gradient_checkpointing(tr.base.unet) == 11 + 17   # SDXL's SpatialTransformers + ResBlocks
    loss1, g1 = grads()
    assert loss0 == pytest.approx(loss1, rel=1e-6) and set(g0) == set(g1) and g0
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=1e-4, atol=1e-7)
    cfg = sdxl_config(tmp_path / "bf16", tiny_sdxl_cache, steps=(2, 0, 0), train__stages=("align",),
                      model__unet_dtype="bf16", train__mixed_precision="bf16", model__gradient_checkpointing=True)
    result = train(cfg)
    assert result.step == 2
    rows = [r for r in RunLog.read(tmp_path / "bf16" / "logs" / "train.csv") if r["loss"]]
    assert rows and all(0 < float(r["loss"]) < 10 for r in rows)


def test_an_sd15_cache_on_sdxl_is_refused(tmp_path, tiny_cache):
    cfg = sdxl_config(tmp_path / "run", tiny_cache, model__tiny_unet__context_dim=32)
    with pytest.raises(CacheError, match="holds no pooled text embeddings: it was prepared for SD1.5"):
        Trainer(cfg)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_sdxl_cache):
    run = tmp_path_factory.mktemp("sdxl_ref") / "run"
    cfg = sdxl_config(run, tiny_sdxl_cache)
    result = train(cfg)
    assert not result.interrupted and result.step == 7
    return {"run": run, "adapter": load_file(str(run / "adapter.safetensors")),
            "log": RunLog.read(run / "logs" / "train.csv")}


def test_three_stages_resume_exactly_and_export_an_sdxl_adapter(tmp_path, tiny_sdxl_cache, reference):
    from c2d_core.adapter_file import load_adapter

    cfg = sdxl_config(tmp_path / "run", tiny_sdxl_cache)
    first = train(cfg, stop_after=4)                    # stops in stage 2 (joint, with the LoRA)
    assert first.interrupted and first.step == 4
    second = train(cfg, resume="latest")
    assert not second.interrupted and second.step == 7
    got = load_file(str(tmp_path / "run" / "adapter.safetensors"))
    assert set(got) == set(reference["adapter"])
    diff = [k for k in got if not torch.equal(got[k], reference["adapter"][k])]
    assert not diff, f"{len(diff)} tensors differ from the uninterrupted run, e.g. {diff[:3]}"
    loaded = load_adapter(tmp_path / "run" / "adapter.safetensors")
    cfg_a = loaded.adapter.config
    assert (cfg_a.base_family, cfg_a.context_dim, len(cfg_a.blocks)) == ("sdxl", 2048, 11)
    assert loaded.lora and all(".lora_" in k or k.endswith(".alpha") for k in loaded.lora)
    # `training export` of the final checkpoint writes the same adapter file
    from training.checkpoints import list_checkpoints
    from training.export import export_checkpoint

    out = export_checkpoint(list_checkpoints(tmp_path / "run")[-1], tmp_path / "exported.safetensors")
    exported = load_file(str(out))
    assert set(exported) == set(got) and all(torch.equal(exported[k], got[k]) for k in got)


def _fake_loader(v_pred: bool):
    """comfy.sd.load_checkpoint_guess_config's result for an SDXL checkpoint (eps, or v-prediction as ComfyUI detects
    it from the file's `v_pred` key), built at the reduced width so no multi-GB file is needed; ComfyUI's detection
    of a real SDXL file is the host tests' job (full-size stand-in)."""
    import comfy.model_patcher
    import comfy.supported_models
    from training.config import TinyUNetConfig
    from training.model import tiny_unet_config

    def load(*args, **kwargs):
        mc = comfy.supported_models.SDXL(tiny_unet_config(TinyUNetConfig(family="sdxl", context_dim=64)))
        mc.unet_config.update(num_heads=2, num_head_channels=-1)
        mc.set_inference_dtype(torch.float32, None)
        model = mc.get_model({"v_pred": torch.zeros(0)} if v_pred else {})
        cpu = torch.device("cpu")
        return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu), None, None, None

    return load


def test_load_checkpoint_takes_sdxl_and_refuses_v_prediction(tmp_path, monkeypatch, comfy_root):
    import comfy.sd
    from c2d_core.errors import UnsupportedModelError
    from training.config import ModelConfig
    from training.model import load_checkpoint

    ckpt = tmp_path / "sdxl.safetensors"
    ckpt.write_bytes(b"stand-in")
    monkeypatch.setattr(comfy.sd, "load_checkpoint_guess_config", _fake_loader(v_pred=False))
    base = load_checkpoint(ModelConfig(checkpoint=str(ckpt)))
    assert (base.family, base.kind) == ("sdxl", "checkpoint") and base.model.adm_channels == 2816
    monkeypatch.setattr(comfy.sd, "load_checkpoint_guess_config", _fake_loader(v_pred=True))
    with pytest.raises(UnsupportedModelError, match="sdxl.safetensors is a v-prediction model; the trainer trains "
                                                    "eps-prediction SD1.5 and SDXL checkpoints only"):
        load_checkpoint(ModelConfig(checkpoint=str(ckpt)))


def test_the_trainer_asks_comfyui_for_static_weights_where_it_can(tmp_path, monkeypatch, comfy_root):
    """ComfyUI 0.33's loader takes disable_dynamic (a server on a GPU may otherwise give dynamic-VRAM, file-backed
    weights); the trainer, which moves and calls the UNet itself, passes True where the loader has it."""
    import inspect

    import comfy.sd

    from comfy_locator import comfyui_version, version_key
    from training.config import ModelConfig
    from training.model import load_checkpoint

    real = inspect.signature(comfy.sd.load_checkpoint_guess_config).parameters
    assert ("disable_dynamic" in real) == (version_key(comfyui_version(comfy_root)) >= (0, 33))
    fake, seen = _fake_loader(v_pred=False), []

    def load(ckpt_path, output_vae=True, output_clip=True, model_options={}, disable_dynamic=False):
        seen.append(disable_dynamic)
        return fake(ckpt_path)

    monkeypatch.setattr(comfy.sd, "load_checkpoint_guess_config", load)
    ckpt = tmp_path / "sdxl.safetensors"
    ckpt.write_bytes(b"stand-in")
    assert load_checkpoint(ModelConfig(checkpoint=str(ckpt))).family == "sdxl" and seen == [True]
