"""AudioAdapter: every trainable audio module of one adapter (projector, null tokens, gated blocks)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .audio_attention import GatedAudioAttention
from .config import AdapterConfig, BlockSpec
from .families import family_name
from .errors import AdapterMismatchError
from .projector import AudioProjector
from .sonic_projector import SonicProjector


class AudioAdapter(nn.Module):
    """Built from an AdapterConfig alone (the file's metadata is enough to rebuild it).

    projector:   (B, clap_dim) → (B, n_tokens, context_dim); AudioProjector ("mlp4") or SonicProjector ("sonic77")
    null_tokens: (n_tokens, context_dim) — the "no audio" condition for CFG's unconditional rows; only when
                 config.uncond == "null_tokens" ("projector_zeros": the uncond rows get projector(zeros), no parameter)
    blocks:      block key → GatedAudioAttention
    """

    def __init__(self, config: AdapterConfig):
        super().__init__()
        if not config.blocks:
            raise ValueError("AdapterConfig.blocks is empty: resolve the model's blocks first (see families.py)")
        self.config = config
        if config.projector == "sonic77":
            self.projector = SonicProjector(clap_dim=config.clap_dim, context_dim=config.context_dim,
                                            n_tokens=config.n_tokens)
        else:
            self.projector = AudioProjector(
                clap_dim=config.clap_dim, context_dim=config.context_dim, n_tokens=config.n_tokens,
                n_mlps=config.n_mlps, hidden_dim=config.hidden_dim)
        if config.uncond == "null_tokens":
            self.null_tokens = nn.Parameter(torch.zeros(config.n_tokens, config.context_dim))
        self.blocks = nn.ModuleDict({
            b.key: GatedAudioAttention(query_dim=b.query_dim, context_dim=config.context_dim, heads=b.heads,
                                       dim_head=b.dim_head, gate_init=config.gate_init)
            for b in config.blocks
        })

    def tokens(self, embeds: torch.Tensor) -> torch.Tensor:
        """embeds: (B, clap_dim) → (B, n_tokens, context_dim)."""
        return self.projector(embeds)

    def uncond_tokens(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """The tokens of CFG's unconditional rows: (1, n_tokens, context_dim).

        "null_tokens": the learned null tokens; "projector_zeros": projector(0), as SonicDiffusion's app.py:93-94
        (`audio_projector(torch.zeros(1, 1024).unsqueeze(1))`)."""
        if self.config.uncond == "projector_zeros":
            return self.projector(torch.zeros(1, self.config.clap_dim, device=device, dtype=dtype)).to(dtype)
        return self.null_tokens.to(device=device, dtype=dtype)[None]

    def gates(self) -> dict[str, float]:
        return {k: float(m.gate.detach()) for k, m in self.blocks.items()}

    def check_fits(self, model_blocks: tuple[BlockSpec, ...], model_context_dim: int, family: str) -> None:
        """Raise AdapterMismatchError naming exactly what does not fit the model."""
        cfg = self.config
        if cfg.base_family == family and cfg.context_dim != model_context_dim:
            raise AdapterMismatchError(
                f"this audio adapter has context width {cfg.context_dim} but the {family_name(family)} model has "
                f"context width {model_context_dim}: the adapter was made for another UNet; load an adapter made for this model")
        if cfg.base_family != family or cfg.context_dim != model_context_dim:
            ours, theirs = family_name(cfg.base_family), family_name(family)
            raise AdapterMismatchError(
                f"this audio adapter is for {ours} (context width {cfg.context_dim}) but the model is {theirs} "
                f"(context width {model_context_dim}); load an {theirs} audio adapter for this model (or make a fresh "
                f"one: python -m training init --family {family}), or load an {ours} checkpoint for this adapter")
        by_key = {b.key: b for b in model_blocks}
        for b in cfg.blocks:
            mb = by_key.get(b.key)
            if mb is None:
                raise AdapterMismatchError(
                    f"adapter has audio attention for block {b.key}, which this model does not have "
                    f"(model blocks: {sorted(by_key)}); the adapter was made for another UNet layout")
            if (mb.query_dim, mb.heads, mb.dim_head) != (b.query_dim, b.heads, b.dim_head):
                raise AdapterMismatchError(
                    f"block {b.key}: adapter expects width {b.query_dim} ({b.heads}×{b.dim_head}) but the model has "
                    f"{mb.query_dim} ({mb.heads}×{mb.dim_head}); the adapter was made for another UNet")

    def check_clap(self, clap_dim: int, clap_model_id: str | None = None) -> None:
        cfg = self.config
        if clap_dim != cfg.clap_dim:
            hint = f" ({cfg.clap_model_id})" if cfg.clap_model_id else ""
            raise AdapterMismatchError(
                f"audio embeddings are {clap_dim}-d but the adapter expects {cfg.clap_dim}-d CLAP embeddings; "
                f"encode the audio with the CLAP model the adapter was trained with{hint}")
