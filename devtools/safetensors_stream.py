"""A safetensors file written tensor by tensor (stand-ins larger than memory would like: a 5.7 B-parameter text
encoder is 23 GB in fp32, its fp8 file 5.7 GB, and building it this way needs one tensor at a time).

    write_streamed(path, {key: torch.empty(shape, dtype=torch.float8_e4m3fn, device="meta"), ...}, make, metadata)

The header comes from the layout (each meta tensor's shape and dtype), then `make(key)` is called for each key in
file order and must return a CPU tensor of exactly that shape and dtype. The format (an 8-byte little-endian header
length, the JSON header, the raw little-endian data aligned to 8 bytes) is what safetensors' own `safe_open` reads;
tests read these files back with it.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Callable

import torch

ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float8_e4m3fn: "F8_E4M3",
             torch.float8_e5m2: "F8_E5M2", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def write_streamed(path: str | Path, layout: dict, make: Callable[[str], torch.Tensor], metadata: dict) -> Path:
    path, header, offset, order = Path(path), {}, 0, sorted(layout)
    for key in order:
        t = layout[key]
        if t.dtype not in ST_DTYPES:
            raise ValueError(f"{key}: no safetensors dtype for {t.dtype}")
        nbytes = math.prod(t.shape) * t.element_size()
        header[key] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for key in order:
            t = make(key)
            want = layout[key]
            if tuple(t.shape) != tuple(want.shape) or t.dtype != want.dtype:
                raise RuntimeError(f"{key}: made {tuple(t.shape)} {t.dtype}, the layout says {tuple(want.shape)} "
                                   f"{want.dtype}")
            f.write(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        if f.tell() != 8 + len(blob) + offset:
            raise RuntimeError(f"{path}: wrote {f.tell()} bytes, expected {8 + len(blob) + offset}")
    return path
