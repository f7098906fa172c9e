"""Multi-process data parallel (DDP through accelerate, gloo on the CPU): two processes with batch B
train exactly what one process with batch 2B trains."""
import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file

from training.config_io import to_toml
from training.logs import RunLog

from .conftest import adamw_reach, assert_same_training

REPO = Path(__file__).resolve().parents[2]


def test_two_processes_match_one_process_with_twice_the_batch(tmp_path, make_config):
    runs = {}
    for name, batch in (("single", 4), ("ddp", 2)):
        cfg = make_config(tmp_path / name, steps=(3, 3, 2), train__batch_size=batch, stage__gates__eval_every=1)
        path = tmp_path / f"{name}.toml"
        path.write_text(to_toml(cfg))
        runs[name] = path
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run([sys.executable, "-m", "training", "train", "--config", str(runs["single"])], cwd=REPO,
                            capture_output=True, text=True, env=env)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "training",
                          "train", "--config", str(runs["ddp"])], cwd=REPO, capture_output=True, text=True, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    with safe_open(str(tmp_path / "ddp" / "adapter.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["training_config"])["run"]["processes"] == 2
    a = load_file(str(tmp_path / "single" / "adapter.safetensors"))
    b = load_file(str(tmp_path / "ddp" / "adapter.safetensors"))
    assert_same_training(b, a, adamw_reach(tmp_path / "single"))
    losses = [[float(r["loss"]) for r in RunLog.read(tmp_path / n / "logs" / "train.csv") if r["loss"]]
              for n in ("single", "ddp")]
    assert len(losses[0]) == 8 and losses[0] == __import__("pytest").approx(losses[1], rel=1e-5)
