import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from c2d_core.adapter_file import FORMAT, load_adapter, read_adapter_metadata, save_adapter
from c2d_core.config import AdapterConfig
from c2d_core.errors import AdapterFileError, AdapterMismatchError
from c2d_core.families import family_layout
from c2d_core.factory import new_adapter
from helpers import TINY_BLOCKS, tiny_adapter

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_reproduces_weights_and_config(tmp_path):
    a = tiny_adapter(gate=0.25, seed=3)
    path = tmp_path / "a.safetensors"
    save_adapter(path, a, lora={"diffusion_model.x.lora_up.weight": torch.ones(2, 2)}, training_config={"lr": 1e-4})
    loaded = load_adapter(path)
    assert loaded.adapter.config == a.config
    for k, v in a.state_dict().items():
        assert torch.equal(v, loaded.adapter.state_dict()[k]), k
    assert set(loaded.lora) == {"diffusion_model.x.lora_up.weight"}
    meta = loaded.metadata
    assert meta["format"] == FORMAT and meta["clap_dim"] == "16" and meta["context_dim"] == "24"
    assert '"lr": 0.0001' in meta["training_config"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_truncated_file(tmp_path):
    path = tmp_path / "a.safetensors"
    save_adapter(path, tiny_adapter())
    data = path.read_bytes()
    for cut in (len(data) // 2, 20, 4):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(AdapterFileError, match="truncated or corrupt"):
            load_adapter(bad)


def test_not_an_adapter(tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file({"lora_unet_x.lora_up.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(AdapterFileError, match="not a CLAP2Diffusion audio adapter"):
        load_adapter(path)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, I am not a tensor file")
    with pytest.raises(AdapterFileError, match="not a readable safetensors"):
        load_adapter(text)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_files_refused(tmp_path):
    path = tmp_path / "adapter.pt"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(AdapterFileError, match="unpickling"):
        load_adapter(path)


def test_weights_not_matching_config(tmp_path):
    a = tiny_adapter()
    path = tmp_path / "a.safetensors"
    save_adapter(path, a)
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors.pop("null_tokens")
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(AdapterFileError, match="missing"):
        load_adapter(path)


def test_newer_format_version_refused(tmp_path):
    path = tmp_path / "a.safetensors"
    save_adapter(path, tiny_adapter())
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["format_version"] = "99"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(AdapterFileError, match="update CLAP2Diffusion"):
        read_adapter_metadata(path)


def test_mismatch_messages():
    layout = family_layout("sd15")
    a = new_adapter(AdapterConfig(hidden_dim=8), seed=0)
    a.check_fits(layout.blocks(), 768, "sd15")  # fits
    with pytest.raises(AdapterMismatchError, match="context width 768.*context width 2048"):
        a.check_fits(layout.blocks(), 2048, "sdxl")
    with pytest.raises(AdapterMismatchError, match="expects 512-d CLAP"):
        a.check_clap(1024)
    t = tiny_adapter()
    with pytest.raises(AdapterMismatchError, match="does not have"):
        t.check_fits(TINY_BLOCKS[:1], 24, "sd15")


def test_sd15_layout_has_16_blocks():
    blocks = family_layout("sd15").blocks()
    assert len(blocks) == 16
    assert [b.key for b in blocks][:7] == ["input_1_0", "input_2_0", "input_4_0", "input_5_0", "input_7_0",
                                            "input_8_0", "middle_0_0"]
    assert blocks[-1].key == "output_11_0" and blocks[-1].query_dim == 320 and blocks[-1].dim_head == 40


def test_init_cli(tmp_path):
    out = tmp_path / "init.safetensors"
    r = subprocess.run([sys.executable, "-m", "training", "init", "--out", str(out), "--gate-init", "0.1",
                        "--placement", "mid_up", "--clap-dim", "1024", "--seed", "7", "--hidden-dim", "64"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = load_adapter(out)
    assert loaded.adapter.config.clap_dim == 1024
    assert set(loaded.adapter.blocks) == {b.key for b in family_layout("sd15").blocks() if b.stage != "input"}
    assert all(abs(g - 0.1) < 1e-7 for g in loaded.adapter.gates().values())
    # seeded: same seed → same weights, other seed → other weights
    out2 = tmp_path / "init2.safetensors"
    subprocess.run([sys.executable, "-m", "training", "init", "--out", str(out2), "--gate-init", "0.1",
                    "--placement", "mid_up", "--clap-dim", "1024", "--seed", "7", "--hidden-dim", "64"], cwd=REPO,
                   check=True, capture_output=True)
    w1 = loaded.adapter.projector.mlps[0][0].weight
    assert torch.equal(w1, load_adapter(out2).adapter.projector.mlps[0][0].weight)
    bad = subprocess.run([sys.executable, "-m", "training", "init", "--out", str(tmp_path / "x.safetensors"),
                          "--placement", "sideways"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "placement 'sideways'" in bad.stderr
