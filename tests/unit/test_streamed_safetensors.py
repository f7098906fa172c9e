"""devtools.standin_sdxl writes its 6.9 GB stand-in tensor by tensor; the file must be what safetensors reads."""
import pytest
import torch
from safetensors import safe_open

from devtools.standin_sdxl import write_streamed_safetensors


def test_streamed_file_reads_back_with_safetensors(tmp_path):
    values = {"b.weight": torch.randn(3, 5).half(), "a.bias": torch.zeros(7).half(),
              "c.ids": torch.arange(77).expand(1, -1), "d.scale": torch.tensor(2.0).half()}
    layout = {k: (v if v.dtype == torch.int64 else torch.empty(v.shape, device="meta")) for k, v in values.items()}
    path = tmp_path / "x.safetensors"
    write_streamed_safetensors(path, layout, lambda k: values[k], {"what": "test"})
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == {"what": "test"} and set(f.keys()) == set(values)
        for k, v in values.items():
            assert torch.equal(f.get_tensor(k), v) and f.get_tensor(k).dtype == v.dtype


def test_a_tensor_that_does_not_match_its_header_is_refused(tmp_path):
    layout = {"w": torch.empty(2, 2, device="meta")}
    with pytest.raises(RuntimeError, match="header says"):
        write_streamed_safetensors(tmp_path / "x.safetensors", layout, lambda k: torch.zeros(2, 3).half(), {})
