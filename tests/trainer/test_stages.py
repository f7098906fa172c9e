"""Stages are data: each stage trains its own parameter groups and nothing else."""
import pytest
import torch

from training.loop import Trainer
from training.stages import lr_lambda, param_groups


def _unet_state(tr):
    return {k: v.detach().clone() for k, v in tr.base.unet.state_dict().items()}


def _changed(before: dict, after: dict) -> set:
    return {k for k in before if not torch.equal(before[k], after[k])}


def _group_of(tr) -> dict:
    """trainable state-dict key → parameter group."""
    out = {}
    for g, items in param_groups(tr.trainable.adapter, tr.trainable.lora).items():
        for name, _ in items:
            out[name if name.startswith("lora.") else f"adapter.{name}"] = g
    return out


def test_only_the_current_stage_changes(tmp_path, make_config):
    cfg = make_config(tmp_path / "run", steps=(3, 3, 3), train__audio_dropout=0.5, stage__gates__early_stopping=False,
                      train__keep_checkpoints=10)
    expected = {0: {"projector", "attention", "gates", "null_tokens"},
                1: {"projector", "attention", "gates", "null_tokens", "lora"},
                2: {"gates"}}
    resume = ""
    for stage in range(3):
        tr = Trainer(cfg, resume=resume, stop_after=3)
        assert tr.state.stage == stage or (stage > 0 and tr.state.stage_done)
        before, unet_before = tr._trainable_state(), _unet_state(tr)
        groups = _group_of(tr)
        tr.run()
        after = tr._trainable_state()
        changed_groups = {groups[k] for k in _changed(before, after)}
        assert changed_groups == expected[stage], f"stage {stage}: changed {changed_groups}"
        # the frozen UNet's own weights never move (LoRA lives outside them)
        assert not _changed(unet_before, _unet_state(tr))
        resume = "latest"


def test_gate_learning_rate_multiplier(tmp_path, make_config):
    cfg = make_config(tmp_path / "run", stage__joint__gate_lr_mult=0.25, train__lr=2e-3)
    from training.stages import apply_stage, resolve_stages

    joint = resolve_stages(cfg)[1]
    assert joint.lr["gates"] == pytest.approx(2e-3 * 0.5 * 0.25)   # synthetic config: joint lr_mult 0.5
    tr = Trainer(cfg)
    groups = apply_stage(joint, tr.trainable.adapter, tr.trainable.lora, 0.01)
    by_name = {g["name"]: g for g in groups}
    assert by_name["gates"]["lr"] == pytest.approx(joint.lr["gates"])
    assert by_name["gates"]["weight_decay"] == 0.0 and by_name["projector"]["weight_decay"] == 0.01
    trainable = {id(p) for g in groups for p in g["params"]}
    assert all(p.requires_grad == (id(p) in trainable) for p in tr.trainable.parameters())


def test_lr_schedule_shape():
    lrs = [lr_lambda(s, 100, 10, "cosine", 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.1) and all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lr_lambda(50, 100, 0, "constant", 0.1) == 1.0
    assert lr_lambda(99, 100, 0, "linear", 0.2) == pytest.approx(0.2)
