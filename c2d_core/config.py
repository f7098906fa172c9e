"""Declared configuration of an audio adapter: everything needed to rebuild it from its file."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .errors import AdapterFileError

@dataclass(frozen=True)
class PlacementRule:
    """A placement preset: the blocks of `stages`; first_layer_only keeps only the first transformer layer of each
    UNet SpatialTransformer (block_index 0)."""

    stages: tuple[str, ...]
    first_layer_only: bool = False

    def selects(self, block: "BlockSpec") -> bool:
        return block.stage in self.stages and (block.layer == 0 or not self.first_layer_only)


# Placement presets, one table per kind of model (a family's layout names its table). UNets: "sonic_mid_up" is
# SonicDiffusion's (the same blocks as mid_up; see placement.select_blocks); "light" is one block per
# SpatialTransformer: on SD1.5 (depth 1) the same as "all", on SDXL (depth 2 and 10) 11 of 70 blocks.
UNET_PLACEMENTS = {
    "all": PlacementRule(("input", "middle", "output")),
    "mid_up": PlacementRule(("middle", "output")),
    "up": PlacementRule(("output",)),
    "mid": PlacementRule(("middle",)),
    "down": PlacementRule(("input",)),
    "sonic_mid_up": PlacementRule(("middle", "output")),
    "light": PlacementRule(("input", "middle", "output"), first_layer_only=True),
}
# DiTs (Flux, Chroma): double-stream blocks (separate image and text streams) and single-stream blocks (one joint
# sequence; the branch acts on its image slice).
DIT_PLACEMENTS = {
    "all": PlacementRule(("double", "single")),
    "double": PlacementRule(("double",)),
    "single": PlacementRule(("single",)),
    # the placement ablation's choice on Flux (training/README.md): as accurate as all, a third of the parameters;
    # on families without single-stream blocks (SD3, Qwen-Image, Z-Image, Wan) it is all of them
    "light": PlacementRule(("double",)),
}
PLACEMENTS = tuple(dict.fromkeys([*UNET_PLACEMENTS, *DIT_PLACEMENTS]))  # every preset name of any family
PROJECTORS = ("mlp4", "sonic77")          # AudioProjector (n_mlps parallel MLPs) | SonicProjector (sonic_projector.py)
POSITIONS = ("before_text", "after_text")  # audio attention before the text cross-attention | after its residual
UNCONDS = ("null_tokens", "projector_zeros")  # CFG uncond rows: learned null tokens | projector(zeros) (SonicDiffusion)


@dataclass(frozen=True)
class BlockSpec:
    """One UNet transformer block that gets a gated audio cross-attention.

    key: block id as the patch sees it: UNets "<input|middle|output>_<number>_<index>" (e.g. "output_3_0"),
         DiTs "<double|single>_<index>" (e.g. "single_12").
    query_dim: width of the block's hidden states h: (B, T, query_dim).
    """

    key: str
    query_dim: int
    heads: int
    dim_head: int

    @property
    def stage(self) -> str:
        return self.key.split("_", 1)[0]

    @property
    def layer(self) -> int:
        """UNets: index of the block inside its SpatialTransformer (ComfyUI's block_index): "output_3_1" → 1;
        DiTs: the block's index in its stream ("single_12" → 12)."""
        return int(self.key.rsplit("_", 1)[1])


@dataclass(frozen=True)
class AdapterConfig:
    """Shape and provenance of an adapter. Frozen; stored as JSON in the adapter file's metadata."""

    clap_dim: int = 512            # CLAP embedding width D_clap
    context_dim: int = 768         # UNet cross-attention context width (768 = SD1.5, 2048 = SDXL)
    n_tokens: int = 8              # audio tokens N_a produced by the projector
    n_mlps: int = 4                # parallel projector MLPs; each makes n_tokens / n_mlps tokens
    hidden_dim: int = 1024         # hidden width of each projector MLP
    gate_init: float = 0.0         # initial α of every block (tanh(0) = 0 ⇒ patched model == base model)
    placement: str = "all"         # which blocks get audio attention (PLACEMENTS or comma-separated keys)
    base_family: str = "sd15"      # diffusion model family the block layout belongs to
    clap_model_id: str = ""        # CLAP model the projector was trained on ("" = unknown / any of clap_dim)
    blocks: tuple[BlockSpec, ...] = field(default_factory=tuple)
    # Added for SonicDiffusion's adapters; files written before these fields load with these defaults.
    projector: str = "mlp4"        # PROJECTORS: "sonic77" = SonicDiffusion's conv projector (n_mlps/hidden_dim unused)
    position: str = "before_text"  # POSITIONS: "before_text" (ComfyUI middle_patch) or "after_text" (SonicDiffusion:
                                   # h ← h + tanh(α)·Attn(LN(h), A) after the text cross-attention residual)
    uncond: str = "null_tokens"    # UNCONDS: what CFG's unconditional rows get

    def __post_init__(self):
        for name, allowed in (("projector", PROJECTORS), ("position", POSITIONS), ("uncond", UNCONDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if self.projector == "sonic77" and (self.clap_dim, self.context_dim) != (1024, 768):
            raise ValueError(f"projector 'sonic77' maps 1024-d CLAP embeddings to 768-d tokens; got clap_dim="
                             f"{self.clap_dim}, context_dim={self.context_dim}")
        if self.projector == "mlp4" and self.n_tokens % self.n_mlps:
            raise ValueError(f"n_tokens ({self.n_tokens}) must be divisible by n_mlps ({self.n_mlps})")
        for name in ("clap_dim", "context_dim", "n_tokens", "n_mlps", "hidden_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.blocks and len({b.key for b in self.blocks}) != len(self.blocks):
            raise ValueError("duplicate block keys in adapter config")

    @property
    def tokens_per_mlp(self) -> int:
        return self.n_tokens // self.n_mlps

    def to_json(self) -> str:
        """Fields added later (projector, position, uncond) are written only when not at their default,
        so an ordinary adapter's file stays readable by node packs that predate them."""
        raw = dataclasses.asdict(self)
        for name, default in _LATER_FIELDS.items():
            if raw[name] == default:
                del raw[name]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AdapterConfig":
        try:
            raw = json.loads(text)
            raw["blocks"] = tuple(BlockSpec(**b) for b in raw.get("blocks", ()))
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = set(raw) - known
            if unknown:
                raise AdapterFileError(
                    f"adapter config has unknown fields {sorted(unknown)}: it was written by a newer "
                    "CLAP2Diffusion; update the node pack")
            return cls(**raw)
        except AdapterFileError:
            raise
        except (ValueError, TypeError, KeyError) as e:
            raise AdapterFileError(f"adapter config metadata is unreadable ({e}); re-export the adapter") from e


_LATER_FIELDS = {"projector": "mlp4", "position": "before_text", "uncond": "null_tokens"}
