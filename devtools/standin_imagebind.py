"""A random-weight `imagebind_huge.pth` in the released layout (no download), for host tests and workflows.

The audio modality is complete at imagebind_huge's sizes (`c2d_core.imagebind.tower.expected_layout`, 0.35 GB
fp32) with random weights (c2d_core.seeded_init: weights N(0, 1/fan_in), biases 0, norm scales 1; class token and
positions N(0, 0.02²); key/value bias tokens N(0, 0.02²)) and the fixed log 20 logit scale. The other modalities
are represented by one tensor each under its real name at a reduced shape: the pack's reader must ignore them.
(tests/unit/test_imagebind.py builds the reference from ImageBind's own classes.)
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

OTHER_MODALITY_KEYS = ("modality_preprocessors.vision.cls_token", "modality_trunks.text.blocks.0.attn.in_proj_weight",
                       "modality_heads.depth.2.weight", "modality_postprocessors.thermal.1.log_logit_scale",
                       "modality_trunks.imu.blocks.0.mlp.fc1.weight")


def random_imagebind_state(seed: int = 0) -> dict[str, torch.Tensor]:
    from c2d_core.imagebind.tower import IMAGEBIND_HUGE, expected_layout
    from c2d_core.seeded_init import seeded_generator, seeded_tensor

    state = {}
    for key, shape in expected_layout(IMAGEBIND_HUGE).items():
        if key.endswith(("cls_token", "pos_embed", "bias_k", "bias_v")):
            state[key] = 0.02 * torch.randn(shape, generator=seeded_generator(seed, key))
        elif key.endswith("log_logit_scale"):
            state[key] = torch.tensor(math.log(20.0))
        else:
            state[key] = seeded_tensor(key, shape, seed)
    for key in OTHER_MODALITY_KEYS:
        state[key] = torch.zeros(() if key.endswith("scale") else (2, 2))
    return state


def make_random_imagebind_file(path, seed: int = 0) -> Path:
    """Write `{key: tensor}` as `torch.save` does for the released file (zip format, weights_only-readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(random_imagebind_state(seed), tmp)
    tmp.replace(path)
    return path


def ensure_imagebind_standin(cache_dir=None, seed: int = 0) -> Path:
    """The random `imagebind_huge.pth` (0.35 GB) in the stand-in cache, written once and named by a hash of this recipe
    (devtools.standin_cache); link it under the released name."""
    import sys

    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-imagebind-huge-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: make_random_imagebind_file(p, seed=seed), suffix=".pth", folder=cache_dir)
