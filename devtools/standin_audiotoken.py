"""Random-weight stand-ins for AudioToken's released files (no download), for workflows, the demo and host tests.

- `BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt`: `{"cfg", "model", "label_dict"}` with the released cfg (12 × 768,
  deep norm, gated relative positions, the AudioSet classifier) and every tensor of `c2d_core.beats` at its real shape
  (0.36 GB fp32). Weights N(0, 1/fan_in), biases 0, norm scales 1 (c2d_core.seeded_init); `weight_g` and `grep_a`
  ones; the relative-position table shared by all layers, as BEATs saves it.
- `embedder_learned_embeds.bin`: AudioToken's FGA embedder (3·768 → 768).
(tests/unit/audiotoken_files.py builds the same layouts from AudioToken's own code for the parity tests.)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import torch

from devtools.standin_cache import write_torch_file

BEATS_CFG = dict(encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                 activation_fn="gelu", layer_norm_first=False, deep_norm=True, conv_bias=False, conv_pos=128,
                 conv_pos_groups=16, relative_position_embedding=True, num_buckets=320, max_distance=800,
                 gru_rel_pos=True, finetuned_model=True, predictor_class=527, input_patch_size=16, embed_dim=512)


def random_beats_file(path, seed: int = 0) -> Path:
    from c2d_core.beats.config import BEATsConfig
    from c2d_core.beats.encoder import expected_layout
    from c2d_core.seeded_init import seeded_tensor

    state = {}
    for key, shape in expected_layout(BEATsConfig.from_file_cfg(BEATS_CFG)).items():
        shared = re.sub(r"^encoder\.layers\.\d+\.", "encoder.layers.0.", key) if "relative_attention" in key else key
        if key.endswith(("weight_g", "grep_a")):
            state[key] = torch.ones(shape)
        elif shared in state:
            state[key] = state[shared]
        else:
            state[key] = seeded_tensor(shared, shape, seed)
    labels = {i: f"/m/{i:05d}" for i in range(527)}
    return write_torch_file({"cfg": dict(BEATS_CFG), "model": state, "label_dict": labels}, path)


def random_embedder_file(path, seed: int = 0) -> Path:
    from c2d_core.audiotoken.embedder import EmbedderConfig, expected_layout
    from c2d_core.seeded_init import seeded_tensor

    return write_torch_file({k: seeded_tensor(k, s, seed) for k, s in expected_layout(EmbedderConfig()).items()}, path)


def ensure_beats_standin(cache_dir=None, seed: int = 0) -> Path:
    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-beats-cpt2-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: random_beats_file(p, seed=seed), suffix=".pt", folder=cache_dir)


def ensure_embedder_standin(cache_dir=None, seed: int = 0) -> Path:
    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-audiotoken-embedder-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: random_embedder_file(p, seed=seed), suffix=".bin", folder=cache_dir)
