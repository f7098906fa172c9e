"""The adapter a run trains: a fresh one sized from the UNet and the cache, or `adapter.init` (our file or a
SonicDiffusion pair folder), checked against both."""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from c2d_core.adapter_file import load_adapter
from c2d_core.config import AdapterConfig
from c2d_core.factory import new_adapter
from c2d_core.placement import select_blocks
from c2d_core.families import family_layout

from .cache import CacheError
from .cache_reader import LatentCache
from .config import Config, ConfigError
from .model import Base


def build_adapter_for(cfg: Config, base: Base, cache: LatentCache) -> nn.Module:
    layout = family_layout(base.family)
    blocks, context_dim = layout.discover(base.unet)
    a = cfg.adapter
    clap_dim = cache.clap_dim
    if clap_dim != a.clap_dim:
        raise ConfigError(f"the cache holds {clap_dim}-d CLAP embeddings but adapter.clap_dim is {a.clap_dim}; "
                          f"set adapter.clap_dim={clap_dim} (or prepare with the CLAP model you mean)")
    text_dim = int(cache.text_shape[-1])
    if layout.attach == "unet_transformer" and text_dim != context_dim:   # a DiT's text width is its encoder's
        raise CacheError(f"the cache's text embeddings are {text_dim}-d but the UNet's context is {context_dim}-d: the "
                         "cache was prepared with another checkpoint; prepare again with this model.checkpoint")
    latent_c = int(cache.latent_shape[0])
    in_c = base.unet.in_channels if layout.attach == "unet_transformer" else base.model.latent_format.latent_channels
    if latent_c != in_c:
        raise CacheError(f"the cache's latents have {latent_c} channels but the UNet takes {in_c}; "
                         "inpainting (9-channel) UNets are not trainable yet: train on the base SD1.5 / SDXL checkpoint "
                         "(the adapter also loads on its inpainting version)")
    clap_id = a.clap_model_id or cache.encoders.get("clap_model_id", "")
    if a.init:
        if Path(a.init).is_dir():   # a SonicDiffusion pair folder (projector .pth + adapter .pt), converted here
            from c2d_core.sonic_convert import find_pair, load_sonicdiffusion
            loaded = load_sonicdiffusion(*find_pair(a.init))
        else:
            loaded = load_adapter(a.init)
        adapter = loaded.adapter
        adapter.check_fits(blocks, context_dim, base.family)
        adapter.check_clap(clap_dim)
        adapter.train()
        return adapter
    try:
        selected = select_blocks(blocks, a.placement, layout.placements)
    except ValueError as e:
        raise ConfigError(f"adapter.placement: {e}") from None
    shape = dict(n_tokens=a.n_tokens, n_mlps=a.n_mlps)
    if a.projector == "sonic77":   # SonicDiffusion's architecture (c2d_core/sonic_projector.py, sonic_convert.py)
        shape = dict(n_tokens=77, n_mlps=1, projector="sonic77", position="after_text", uncond="projector_zeros")
    try:
        adapter_cfg = AdapterConfig(clap_dim=clap_dim, context_dim=context_dim, hidden_dim=a.hidden_dim,
                                    gate_init=a.gate_init, placement=a.placement, base_family=base.family,
                                    clap_model_id=clap_id, blocks=selected, **shape)
    except ValueError as e:
        raise ConfigError(f"adapter.projector={a.projector}: {e} (the cache's CLAP embeddings are {clap_dim}-d, the "
                          f"UNet's context {context_dim}-d)") from None
    return new_adapter(adapter_cfg, seed=a.seed)
