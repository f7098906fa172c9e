"""The trainer trains SonicDiffusion's architecture (adapter.projector=sonic77) and fine-tunes a released pair.

Tiny SD1.x-shaped UNet (4 levels, 8 heads, 768-d context: the same block widths as sonic_reference.SMALL) on a
small synthetic cache with 1024-d stand-in MS-CLAP embeddings.
"""
import pytest
import torch
from sonic_reference import SMALL, fake_adapter_tensors, their_projector

SD1X_TINY = {"model.tiny_unet.model_channels": 32, "model.tiny_unet.channel_mult": (1, 2, 2, 2),
             "model.tiny_unet.num_res_blocks": 2, "model.tiny_unet.num_heads": 8, "model.tiny_unet.context_dim": 768}


@pytest.fixture(scope="module")
def sonic_cache(tmp_path_factory, comfy_root):
    from toy import task as S

    root = tmp_path_factory.mktemp("sonic")
    task = S.Task(train_per_class=3, context_dim=768)
    labels = [k for k in range(4) for _ in range(task.train_per_class)]
    S.write_cache(root / "cache", task, S.fake_embed(labels, 1024, seed=2), labels, S.latents(labels, task, seed=1),
                  "stand-in")
    return root / "cache", task


def _config(run_dir, cache, task, **over):
    from toy import task as S

    base = {"model.tiny_weights": "", "adapter.clap_dim": 1024, "train.batch_size": 4, "train.log_every": 1,
            "train.warmup_steps": 1, "data.val_fraction": 0.1, "stage.gates.early_stopping": False, **SD1X_TINY}
    base.update(over)
    return S.task_config(run_dir, cache, task, steps=(2, 0, 0), batch=4, overrides=base)


def _state(adapter):
    return {k: v.detach().clone() for k, v in adapter.state_dict().items()}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_sonic77_trains_after_text_with_projector_zeros_uncond(tmp_path, sonic_cache, checkpointing):
    """With gradient checkpointing too: the recomputed SpatialTransformer runs both after-text hooks again, in order."""
    from training.loop import Trainer

    cache, task = sonic_cache
    cfg = _config(tmp_path / "run", cache, task, **{"adapter.projector": "sonic77", "adapter.placement": "sonic_mid_up",
                                                   "adapter.gate_init": 0.1, "model.gradient_checkpointing": checkpointing})
    tr = Trainer(cfg)
    a = tr.trainable.adapter
    assert (a.config.projector, a.config.position, a.config.uncond, a.config.n_tokens) == \
        ("sonic77", "after_text", "projector_zeros", 77)
    # SonicDiffusion's 10 blocks (this tiny UNet also has attention on its deepest level: output_0-2 come with them)
    assert set(SMALL) <= set(a.blocks) and {k.split("_")[0] for k in a.blocks} == {"middle", "output"}
    assert list(a.gates().values()) == pytest.approx([0.1] * len(a.blocks))
    before = _state(a)
    tr.run()
    after = _state(a)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "projector.cross_attention.3.to_q_adapter.weight" in changed
    assert "projector.audio_emb_projection.0.weight" in changed
    assert any(k.startswith("blocks.output_11_0.attn.") for k in changed)
    # the published quirk: projector attention layers 0-2 get no gradient (their outputs are unused)
    assert not any(k.startswith(("projector.cross_attention.0.", "projector.between_attention.2.")) for k in changed)


def test_sonic77_needs_1024d_clap(tmp_path, tiny_cache):
    from toy import task as S
    from training.config import ConfigError
    from training.loop import Trainer

    cfg = S.task_config(tmp_path / "run", tiny_cache, S.Task(), steps=(1, 0, 0), batch=4, overrides={
        "adapter.clap_dim": 64, "model.tiny_weights": "", "adapter.projector": "sonic77"})
    with pytest.raises(ConfigError, match="sonic77.*1024-d CLAP"):
        Trainer(cfg)


def test_init_from_a_released_pair_folder_fine_tunes_it(tmp_path, sonic_cache):
    from training.loop import Trainer

    cache, task = sonic_cache
    folder = tmp_path / "landscape"
    folder.mkdir()
    torch.save(their_projector(seed=4).state_dict(), folder / "audio_projector_landscape.pth")
    torch.save(fake_adapter_tensors(5, SMALL), folder / "landscape.pt")
    tr = Trainer(_config(tmp_path / "run", cache, task, **{"adapter.init": str(folder)}))
    a = tr.trainable.adapter
    assert a.config.clap_model_id == "msclap-2022" and a.config.position == "after_text"
    from c2d_core.sonic_convert import load_sonicdiffusion
    ref = load_sonicdiffusion(folder / "audio_projector_landscape.pth", folder / "landscape.pt").adapter
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in a.state_dict().items())   # starts from the release
    tr.run()
    assert any(not torch.equal(v, ref.state_dict()[k]) for k, v in a.state_dict().items())


def test_runs_saved_before_adapter_projector_existed_still_resume(tmp_path, make_config):
    import dataclasses

    from training.config import ConfigError
    from training.resume import check_resume_config

    cfg = make_config(tmp_path / "run")
    saved = cfg.to_dict()
    del saved["adapter"]["projector"]              # a config.toml written before the option
    check_resume_config(saved, cfg)                # default projector: same run
    sonic = dataclasses.replace(cfg, adapter=dataclasses.replace(cfg.adapter, projector="sonic77"))
    with pytest.raises(ConfigError, match="adapter.projector"):
        check_resume_config(saved, sonic)
