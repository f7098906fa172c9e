"""Loop mechanics: exact resume, atomic pruned checkpoints, kill -9, Ctrl-C, logs, checkpointing, bf16."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from training.checkpoints import MARKER, Checkpointer, list_checkpoints, resolve_resume
from training.config import ConfigError
from training.config_io import load_config, to_toml
from training.logs import RunLog
from training.grad_checkpoint import enable_gradient_checkpointing
from training.loop import Trainer, train

from .conftest import adamw_reach, assert_same_training

REPO = Path(__file__).resolve().parents[2]
STEPS = (4, 4, 4)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_cache):
    """An uninterrupted run of STEPS: its adapter file and CSV log."""
    from toy import task as S

    run = tmp_path_factory.mktemp("ref") / "run"
    over = {"adapter.clap_dim": 64, "model.tiny_weights": "", "train.batch_size": 4, "train.log_every": 1,
            "train.checkpoint_every": 2, "train.keep_checkpoints": 2, "train.warmup_steps": 2,
            "stage.gates.eval_every": 2, "data.val_fraction": 0.1}
    cfg = S.task_config(run, tiny_cache, S.Task(), steps=STEPS, batch=4, overrides=over)
    result = train(cfg)
    assert not result.interrupted and result.step == sum(STEPS)
    return {"cfg": cfg, "run": run, "adapter": load_file(str(run / "adapter.safetensors")),
            "log": RunLog.read(run / "logs" / "train.csv")}


def _same_adapter(path: Path, ref: dict):
    got = load_file(str(path))
    assert set(got) == set(ref)
    diff = [k for k in ref if not torch.equal(got[k], ref[k])]
    assert not diff, f"{len(diff)} tensors differ from the uninterrupted run, e.g. {diff[:3]}"


def _losses(rows):
    return [(r["step"], r["loss"], r["val_loss"]) for r in rows]


def test_resume_continues_exactly(tmp_path, make_config, reference):
    cfg = make_config(tmp_path / "run", steps=STEPS)
    first = train(cfg, stop_after=5)                        # stops mid stage 2, saves step 5
    assert first.interrupted and first.step == 5
    assert [p.name for p in list_checkpoints(tmp_path / "run")][-1] == "step_00000005"
    with pytest.raises(ConfigError, match="already holds checkpoints"):   # a fresh run never mixes with an old one
        train(cfg)
    second = train(cfg, resume="latest")
    assert not second.interrupted and second.step == sum(STEPS)
    _same_adapter(tmp_path / "run" / "adapter.safetensors", reference["adapter"])
    assert _losses(RunLog.read(tmp_path / "run" / "logs" / "train.csv")) == _losses(reference["log"])


def test_outputs_logs_and_resolved_config(reference):
    run, cfg = reference["run"], reference["cfg"]
    assert load_config(run / "config.toml") == cfg
    png = (run / "loss_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    rows = reference["log"]
    assert {r["stage"] for r in rows} == {"align", "joint", "gates"}
    assert all(float(r["loss"]) > 0 for r in rows if r["loss"])
    assert any(r["val_loss"] for r in rows if r["stage"] == "gates")          # early stopping evaluated
    with safe_open(str(run / "adapter.safetensors"), "pt") as f:
        meta = f.metadata()
    tc = json.loads(meta["training_config"])
    assert tc["train"]["lr"] == cfg.train.lr and tc["stage"]["joint"]["steps"] == STEPS[1]
    assert tc["run"]["step"] == sum(STEPS) and tc["run"]["base_kind"] == "tiny"
    assert any(k.startswith("lora.diffusion_model.") for k in reference["adapter"])


def test_checkpoints_are_atomic_and_pruned(tmp_path, reference):
    run = reference["run"]
    done = list_checkpoints(run)
    assert len(done) == 2 and done[-1].name == f"step_{sum(STEPS):08d}"   # keep_checkpoints = 2
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    ck = copy / "checkpoints"
    # a half-written checkpoint (killed while writing) and a folder without the completion marker
    (ck / ".tmp-step_00000099").mkdir()
    (ck / ".tmp-step_00000099" / "trainable.safetensors").write_bytes(b"\x00" * 10)
    shutil.copytree(done[-1], ck / "step_00000100")
    (ck / "step_00000100" / MARKER).unlink()
    assert resolve_resume(copy, "latest").name == done[-1].name
    Checkpointer(copy, keep=2)                     # a new run cleans temp folders up
    assert not (ck / ".tmp-step_00000099").exists()


def _write_cfg(cfg, path: Path) -> Path:
    path.write_text(to_toml(cfg))
    return path


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "training", "train", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_9_resumes_and_loses_only_uncheckpointed_steps(tmp_path, make_config):
    # the uninterrupted reference runs as a process too (bit-for-bit equality needs the same kind of process:
    # thread settings and imported libraries of the pytest process can change the last bits)
    ref_path = _write_cfg(make_config(tmp_path / "ref", steps=STEPS), tmp_path / "ref.toml")
    r = subprocess.run([sys.executable, "-m", "training", "train", "--config", str(ref_path)], cwd=REPO,
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    reference = {"adapter": load_file(str(tmp_path / "ref" / "adapter.safetensors")),
                 "log": RunLog.read(tmp_path / "ref" / "logs" / "train.csv")}
    cfg = make_config(tmp_path / "run", steps=STEPS, train__checkpoint_every=1)
    path = _write_cfg(cfg, tmp_path / "cfg.toml")
    ck = tmp_path / "run" / "checkpoints"
    rng = random.Random(0)
    for attempt in range(2):
        proc = _spawn("--config", str(path), "--resume", "latest")
        deadline = time.time() + 180

        def newest():
            found = list_checkpoints(tmp_path / "run")
            return found[-1].name if found else None

        start = newest()
        while time.time() < deadline and proc.poll() is None and newest() == start:
            time.sleep(0.005)                     # until this process has saved a checkpoint of its own
        time.sleep(rng.uniform(0.0, 0.15))        # somewhere in the following steps / checkpoint writes
        assert proc.poll() is None, "the run ended before it could be killed (make STEPS longer)"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        found = list_checkpoints(tmp_path / "run")
        assert found, "no checkpoint survived"
        last = int(found[-1].name.split("_")[1])
        # every complete checkpoint loads (a half-written one never looks complete)
        for c in found:
            load_file(str(c / "trainable.safetensors"))
            assert json.loads((c / "state.json").read_text())["state"]["step"] == int(c.name.split("_")[1])
        assert not any(p.name.startswith("step_") and not (p / MARKER).exists() for p in ck.iterdir())
    r = subprocess.run([sys.executable, "-m", "training", "train", "--config", str(path), "--resume", "latest"],
                       cwd=REPO, capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"from step {last}" in r.stderr and last < sum(STEPS)
    _same_adapter(tmp_path / "run" / "adapter.safetensors", reference["adapter"])
    assert _losses(RunLog.read(tmp_path / "run" / "logs" / "train.csv")) == _losses(reference["log"])


def test_ctrl_c_saves_and_exits_cleanly(tmp_path, make_config):
    cfg = make_config(tmp_path / "run", steps=(200, 0, 0), train__checkpoint_every=1000,
                      train__stages=("align",))
    path = _write_cfg(cfg, tmp_path / "cfg.toml")
    proc = _spawn("--config", str(path))
    csv = tmp_path / "run" / "logs" / "train.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if csv.is_file() and len(csv.read_text().splitlines()) >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "--resume latest" in err
    found = list_checkpoints(tmp_path / "run")
    assert len(found) == 1
    step = int(found[0].name.split("_")[1])
    assert 3 <= step < 200
    assert int(RunLog.read(csv)[-1]["step"]) == step       # nothing trained after the saved step
    assert not (tmp_path / "run" / "adapter.safetensors").exists()


def test_gradient_checkpointing_gives_the_same_gradients(tmp_path, make_config):
    cfg = make_config(tmp_path / "run")
    tr = Trainer(cfg)
    from training.stages import apply_stage, resolve_stages
    apply_stage(resolve_stages(cfg)[1], tr.trainable.adapter, tr.trainable.lora, 0.0)
    with torch.no_grad():
        for b in tr.trainable.adapter.blocks.values():
            b.gate.fill_(0.5)
        for layer in tr.trainable.lora.layers.values():
            layer.up.normal_(0, 0.01)
    idx = tr.sampler.indices(0, 0, 0)
    b = tr._batch(idx)
    rnd = tr._noise(tuple(b["latent"].shape), 0, 0)

    def grads():
        tr.trainable.zero_grad(set_to_none=True)
        loss = tr.trainable.loss(b["latent"], b["text"], tr.null_text, b["clap"], rnd.noise, rnd.t, rnd.null_audio,
                                 rnd.null_text)
        loss.backward()
        return float(loss.detach()), {n: p.grad.clone() for n, p in tr.trainable.named_parameters()
                                      if p.grad is not None}

    loss0, g0 = grads()
    assert enable_gradient_checkpointing(tr.base.unet) > 0
    loss1, g1 = grads()
    assert loss0 == pytest.approx(loss1, rel=1e-6)
    assert set(g0) == set(g1) and any("lora" in k for k in g0)
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=1e-4, atol=1e-7)


def test_bf16_mixed_precision_runs(tmp_path, make_config):
    cfg = make_config(tmp_path / "run", steps=(2, 2, 0), train__mixed_precision="bf16",
                      train__stages=("align", "joint"))
    result = train(cfg)
    assert result.step == 4
    rows = [r for r in RunLog.read(tmp_path / "run" / "logs" / "train.csv") if r["loss"]]
    assert rows and all(0 < float(r["loss"]) < 10 for r in rows)
    assert all(torch.isfinite(t).all() for t in load_file(str(tmp_path / "run" / "adapter.safetensors")).values())


def test_gradient_accumulation_equals_the_larger_batch(tmp_path, make_config):
    """Samples, noise and dropout come from positions in the sample stream: accumulating 2 micro-batches of 2
    trains what one batch of 4 trains."""
    out = {}
    for name, batch, accum in (("big", 4, 1), ("accum", 2, 2), ("half", 2, 1)):
        cfg = make_config(tmp_path / name, steps=(3, 2, 0), train__batch_size=batch, train__grad_accum=accum,
                          train__stages=("align", "joint"))
        train(cfg)
        out[name] = load_file(str(tmp_path / name / "adapter.safetensors"))
    reach = adamw_reach(tmp_path / "big")
    tol = assert_same_training(out["accum"], out["big"], reach)
    assert any(float(v.abs().max()) > 0 for k, v in out["big"].items() if ".lora_up." in k)
    # the tolerance still tells trainings apart: batch 2 without accumulation sees half the samples per step
    trained = [k for k in out["big"] if not torch.equal(out["half"][k], out["big"][k])]
    apart = [k for k in trained if float((out["half"][k] - out["big"][k]).abs().max()) > tol]
    assert trained and len(apart) >= 0.9 * len(trained), f"only {len(apart)} of {len(trained)} tensors exceed {tol:.3g}"


def _save(ck: Checkpointer, step: int, value: float):
    from training.checkpoints import TrainState

    return ck.save(TrainState(step=step), {"w": torch.full((2,), value)}, None, None, {"config": {}})


def test_checkpoint_swaps_and_pruning_survive_a_crash_at_any_point(tmp_path, monkeypatch, caplog):
    """A re-save of the same step and the pruning of old checkpoints rename before they delete: a crash
    between the renames never leaves a half checkpoint listed, nor loses the last complete one."""
    import training.checkpoints as C

    ck = Checkpointer(tmp_path, keep=2)
    for step in (1, 2):
        _save(ck, step, float(step))
    real_replace = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the two renames")
        real_replace(src, dst)

    monkeypatch.setattr(C.os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _save(ck, 2, 20.0)                       # step 2 again (e.g. after a resume): step_2 → .old, then killed
    monkeypatch.setattr(C.os, "replace", real_replace)
    assert calls[0] == ("step_00000002", ".old-step_00000002")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000001"]   # nothing half-done is listed
    Checkpointer(tmp_path, keep=2)               # the next run puts the old step 2 back
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000001", "step_00000002"]
    assert float(C.load_checkpoint(list_checkpoints(tmp_path)[-1]).trainable["w"][0]) == 2.0
    # pruning: the oldest is renamed out of the step_* names before it is deleted
    monkeypatch.setattr(C.shutil, "rmtree", lambda *a, **k: None)   # "killed" before any deletion finished
    _save(ck, 3, 3.0)
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002", "step_00000003"]
    assert (tmp_path / "checkpoints" / ".tmp-del-step_00000001").is_dir()
    Checkpointer(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000002", "step_00000003"]
    # an unreadable newest checkpoint (e.g. a full disk) falls back to the one before it
    (tmp_path / "checkpoints" / "step_00000003" / "trainable.safetensors").write_bytes(b"\x00" * 7)
    with caplog.at_level("WARNING"):
        loaded = C.load_latest(tmp_path)
    assert loaded.state.step == 2 and "step_00000003" in caplog.text
