"""Config files, overrides, the resolved config and the CLI's documentation and error messages."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.config import ConfigError
from training.config_io import iter_options, load_config, to_toml
from training.stages import resolve_stages

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=cwd, capture_output=True, text=True)


def test_defaults_are_the_seed_stages():
    cfg = load_config()
    stages = resolve_stages(cfg)
    assert [(s.name, s.steps) for s in stages] == [("align", 3000), ("joint", 7000), ("gates", 2000)]
    assert "lora" not in stages[0].groups and "lora" in stages[1].groups and stages[2].groups == ("gates",)
    assert stages[1].lr["gates"] == pytest.approx(cfg.train.lr * 0.1)   # gates slower in stage 2
    assert stages[0].lr["gates"] == stages[0].lr["projector"]
    assert stages[2].early_stopping and not stages[0].early_stopping


def test_toml_yaml_and_overrides(tmp_path):
    toml = tmp_path / "a.toml"
    toml.write_text('[train]\nlr = 3e-4\nstages = ["align", "gates"]\n[stage.align]\nsteps = 10\n[lora]\nrank = 8\n')
    yaml = tmp_path / "a.yaml"
    yaml.write_text("train:\n  lr: 3.0e-4\n  stages: [align, gates]\nstage:\n  align: {steps: 10}\nlora: {rank: 8}\n")
    a, b = load_config(toml), load_config(yaml)
    assert a == b
    assert a.train.lr == 3e-4 and a.lora.rank == 8 and a.stage["align"].steps == 10
    assert a.stage["joint"].steps == 7000   # untouched defaults survive
    c = load_config(toml, ["train.lr=1e-5", "stage.gates.patience=9", "lora.targets=attn2.to_k,attn2.to_v"])
    assert c.train.lr == 1e-5 and c.stage["gates"].patience == 9 and c.lora.targets == ("attn2.to_k", "attn2.to_v")


def test_resolved_toml_round_trips(tmp_path):
    cfg = load_config(None, ["train.lr=2e-5", "model.tiny=true", "stage.joint.gate_lr_mult=0.05",
                             "data.default_caption=a \"quoted\" caption"])
    path = tmp_path / "config.toml"
    path.write_text(to_toml(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "unknown config key train.lrr"),
    ("train.lr=fast", "config train.lr"),
    ("stage.joint.speed=2", "unknown config key stage.joint.speed"),
    ("train.stages=align,warp", "stage 'warp', which is not defined"),
    ("train.mixed_precision=fp8", "mixed_precision must be no, bf16 or fp16"),
    ("stage.align.train=projector,wings", "unknown parameter group"),
    ("adapter.n_tokens=6", "divisible by adapter.n_mlps"),
])
def test_bad_options_have_clear_messages(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, [override])


def test_unknown_key_in_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[train]\nbatchsize = 3\n")
    with pytest.raises(ConfigError, match="unknown config key train.batchsize"):
        load_config(p)
    p.write_text("[train\nlr = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_help_documents_every_option_and_errors_are_one_line(tmp_path):
    r = run_cli("train", "--help")
    assert r.returncode == 0
    for key, _, _, help_text in iter_options():
        assert f"--{key}" in r.stdout, key
        assert help_text, f"{key} has no help text"
    for cmd in ("prepare", "export", "evaluate", "init"):
        assert run_cli(cmd, "--help").returncode == 0
    bad = run_cli("train", "--set", "train.lrr=1")
    assert bad.returncode == 2 and "unknown config key train.lrr" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli("train", "--set", f"data.cache={tmp_path / 'nowhere'}", "--set", "model.tiny=true")
    assert missing.returncode == 2 and "no prepared data" in missing.stderr and "Traceback" not in missing.stderr
    nodata = run_cli("prepare", "--data", str(tmp_path / "no_such_folder"), "--set", "model.tiny=true",
                     "--run-dir", str(tmp_path / "run"))
    assert nodata.returncode == 2 and "Traceback" not in nodata.stderr
    assert "no_such_folder" in nodata.stderr
    assert len([ln for ln in nodata.stderr.splitlines() if ln.startswith("ERROR")]) == 1


def test_options_json_is_serialisable():
    json.dumps(load_config().to_dict())
