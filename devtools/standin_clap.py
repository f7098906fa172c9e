"""Random-weight CLAP models in Hugging Face format, built from configs (no download).

`make_random_clap_folder` writes what `laion/clap-htsat-unfused` looks like on disk (config.json,
model.safetensors, preprocessor_config.json) so the real loading code path runs in tests and the demo.
"""
from __future__ import annotations

from pathlib import Path

import torch


def clap_config(projection_dim: int = 512, tiny: bool = True, fused: bool = False):
    """transformers.ClapConfig: tiny (a few M params, fast on CPU) or the real HTSAT-tiny size."""
    from transformers import ClapConfig
    text = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=80) if tiny else {}
    audio = dict(patch_embeds_hidden_size=32, hidden_size=256, depths=[1, 1, 1, 1],
                 num_attention_heads=[2, 4, 8, 16]) if tiny else {}
    audio["enable_fusion"] = fused
    return ClapConfig(text_config=text, audio_config=audio, projection_dim=projection_dim)


def make_random_clap_folder(path, seed: int = 0, projection_dim: int = 512, tiny: bool = True,
                            fused: bool = False) -> Path:
    """Writes a random-weight ClapModel folder at `path` (created) and returns it."""
    from transformers import ClapFeatureExtractor, ClapModel
    path = Path(path)
    torch.manual_seed(seed)
    model = ClapModel(clap_config(projection_dim, tiny, fused)).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    ClapFeatureExtractor(truncation="fusion" if fused else "rand_trunc").save_pretrained(str(path))
    return path
