"""Stand-ins of several GB are written tensor by tensor (devtools.safetensors_stream; devtools.standin_sdxl stores
its meta entries as fp16 through it); the file must be what safetensors reads."""
import pytest
import torch
from safetensors import safe_open

from devtools.safetensors_stream import write_streamed
from devtools.standin_sdxl import write_streamed_safetensors


def _read(path):
    with safe_open(str(path), "pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def test_streamed_file_reads_back_with_safetensors(tmp_path):
    values = {"b.weight": torch.randn(3, 5).half(), "a.bias": torch.zeros(7).half(),
              "c.ids": torch.arange(77).expand(1, -1), "d.scale": torch.tensor(2.0).half()}
    layout = {k: (v if v.dtype == torch.int64 else torch.empty(v.shape, device="meta")) for k, v in values.items()}
    path = tmp_path / "x.safetensors"
    write_streamed_safetensors(path, layout, lambda k: values[k], {"what": "test"})
    meta, read = _read(path)
    assert meta == {"what": "test"} and set(read) == set(values)
    for k, v in values.items():
        assert torch.equal(read[k], v) and read[k].dtype == v.dtype


def test_fp8_bf16_and_byte_tensors_keep_their_dtype(tmp_path):
    """The text-encoder stand-ins are fp8 e4m3fn with a uint8 tokenizer blob; numpy has neither fp8 nor bf16."""
    values = {"w8": (torch.randn(4, 6) / 4).to(torch.float8_e4m3fn), "wb": torch.randn(2, 3).bfloat16(),
              "spiece_model": torch.frombuffer(bytearray(b"\x00\x01tokenizer"), dtype=torch.uint8),
              "zero_d": torch.tensor(0.5, dtype=torch.float8_e4m3fn)}
    layout = {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in values.items()}
    _meta, read = _read(write_streamed(tmp_path / "x.safetensors", layout, lambda k: values[k], {"n": 1}))
    for k, v in values.items():
        assert read[k].dtype == v.dtype and torch.equal(read[k].view(torch.uint8), v.view(torch.uint8)), k


def test_a_tensor_that_does_not_match_its_header_is_refused(tmp_path):
    layout = {"w": torch.empty(2, 2, device="meta")}
    with pytest.raises(RuntimeError, match="layout says"):
        write_streamed_safetensors(tmp_path / "x.safetensors", layout, lambda k: torch.zeros(2, 3).half(), {})
    with pytest.raises(RuntimeError, match="layout says"):   # right shape, wrong dtype
        write_streamed(tmp_path / "y.safetensors", {"w": torch.empty(2, 2, dtype=torch.float8_e4m3fn, device="meta")},
                       lambda k: torch.zeros(2, 2).half(), {})
