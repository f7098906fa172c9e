"""Random-weight stand-ins for GlueGen's released files (no download), for workflows, the demo and host tests.

- `AudioCLIP-Full-Training.pt`: a flat state dict as AudioCLIP saves it: its audio tower under `audio.*` at the real
  shapes (c2d_core.audioclip.tower.expected_layout, 0.13 GB fp32; weights N(0, 1/fan_in), biases 0, norm scales and
  running variances 1, running means 0; the FBSP basis m = 1, fb = 1, fc = 0…1024; the periodic Blackman-Harris
  window), plus one tensor of each CLIP tower under its real name at a reduced shape (the reader must ignore them).
- `gluenet_sound2img_audioclip_us8k.ckpt`: GlueGen's sound GlueNet (168 tensors).
(tests/unit/gluegen_reference builds the same layouts from their own code for the parity tests.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from devtools.standin_cache import write_torch_file

OTHER_KEYS = ("visual.conv1.weight", "transformer.resblocks.0.attn.in_proj_weight", "token_embedding.weight",
              "positional_embedding", "text_projection", "logit_scale", "logit_scale_ai", "logit_scale_at")


def random_audioclip_file(path, seed: int = 0) -> Path:
    from scipy.signal import get_window

    from c2d_core.audioclip.frontend import WIN
    from c2d_core.audioclip.tower import expected_layout
    from c2d_core.seeded_init import seeded_tensor

    state = {}
    for key, shape in expected_layout().items():
        if key.endswith("num_batches_tracked"):
            t = torch.tensor(0)
        elif key.endswith("running_mean"):
            t = torch.zeros(shape)
        elif key == "window":
            t = torch.from_numpy(get_window("blackmanharris", WIN, fftbins=True)).float()
        elif key == "fbsp.fc":
            t = torch.arange(shape[0], dtype=torch.float32)
        elif key in ("fbsp.m", "fbsp.fb"):
            t = torch.ones(shape)
        elif key == "fbsp.bias":
            t = torch.empty(0)
        else:
            t = seeded_tensor(key, shape, seed)
        state["audio." + key] = t
    for key in OTHER_KEYS:
        state[key] = torch.zeros(() if "scale" in key else (2, 2))
    return write_torch_file(state, path)


def random_gluenet_file(path, seed: int = 0) -> Path:
    from c2d_core.gluegen.translator import expected_layout
    from c2d_core.seeded_init import seeded_tensor
    return write_torch_file({k: seeded_tensor(k, s, seed) for k, s in expected_layout().items()}, path)


def ensure_audioclip_standin(cache_dir=None, seed: int = 0) -> Path:
    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-audioclip-full-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: random_audioclip_file(p, seed=seed), suffix=".pt", folder=cache_dir)


def ensure_gluenet_standin(cache_dir=None, seed: int = 0) -> Path:
    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-gluenet-sound-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: random_gluenet_file(p, seed=seed), suffix=".ckpt", folder=cache_dir)
