"""The prepared-data cache: CLAP embeddings, VAE latents and text embeddings in safetensors shards.

    <cache>/manifest.json          encoder identity + {sample id: shard, row, fingerprint, label, caption}
    <cache>/null_text.safetensors  "text": (L, D) embedding of the empty caption (CFG text dropout)
                                   [+ "pooled": (P,) its pooled embedding, SDXL caches]
    <cache>/shards/NNNNNN.safetensors
        clap (n, clap_dim) f32 · latent (n, C, H, W) f16 · text (u, L, D) f16 · text_index (n,) i64
        [SDXL caches: pooled (u, P) f16, the pooled embedding of each text row · size (n, 6) i64, each image's
         geometry in training.adm.SIZE_FIELDS order (original height/width, crop top/left, target height/width)]
    <cache>/skipped.json           samples that could not be read, with the reason

Shards and the manifest are written atomically (temp file + rename) and the manifest is rewritten
after every shard, so a killed `prepare` keeps what it finished and a re-run only encodes samples
that are new or changed (by fingerprint).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from c2d_core.errors import C2DError

log = logging.getLogger(__name__)

CACHE_VERSION = 1


class CacheError(C2DError):
    """The cache is missing, empty or made by other encoders."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save_tensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


@dataclass
class Manifest:
    encoders: dict                                   # identity of the encoders (checkpoint, CLAP, resolution)
    samples: dict = field(default_factory=dict)      # id → {"shard", "row", "fingerprint", "label", "caption"}
    skipped: dict = field(default_factory=dict)      # id → reason
    failed: dict = field(default_factory=dict)       # id → fingerprint of an unreadable sample (not retried)
    version: int = CACHE_VERSION

    @classmethod
    def read(cls, cache: Path) -> "Manifest | None":
        path = cache / "manifest.json"
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        if raw.get("version") != CACHE_VERSION:
            raise CacheError(f"{cache} was written by another version of the trainer (cache version "
                             f"{raw.get('version')}); delete it or choose another data.cache")
        return cls(encoders=raw["encoders"], samples=raw["samples"], skipped=raw.get("skipped", {}),
                   failed=raw.get("failed", {}))

    def write(self, cache: Path) -> None:
        data = {"version": self.version, "encoders": self.encoders, "samples": self.samples, "skipped": self.skipped,
                "failed": self.failed}
        atomic_write_bytes(cache / "manifest.json", json.dumps(data, indent=1, sort_keys=True).encode())
        skipped = [{"id": k, "reason": v} for k, v in sorted(self.skipped.items())]
        atomic_write_bytes(cache / "skipped.json", json.dumps(skipped, indent=1).encode())


class CacheWriter:
    """Collects encoded samples and writes them shard by shard (see module docstring)."""

    def __init__(self, cache: Path, encoders: dict, shard_size: int = 256):
        self.cache = Path(cache)
        self.shard_size = shard_size
        old = Manifest.read(self.cache)
        if old is not None and old.encoders != encoders:
            diff = {k: (old.encoders.get(k), encoders.get(k)) for k in set(old.encoders) | set(encoders)
                    if old.encoders.get(k) != encoders.get(k)}
            raise CacheError(f"the cache {self.cache} was made with other encoders ({diff}); delete it or set "
                             "another data.cache")
        self.manifest = old or Manifest(encoders=encoders)
        self._rows: list[dict] = []
        (self.cache / "shards").mkdir(parents=True, exist_ok=True)

    def is_current(self, sample_id: str, fingerprint: str) -> bool:
        s = self.manifest.samples.get(sample_id)
        return s is not None and s["fingerprint"] == fingerprint

    def skip(self, sample_id: str, reason: str, fingerprint: str | None = None) -> None:
        """A sample that cannot be read: listed in skipped.json; with its fingerprint it is not retried until
        its files change."""
        self.manifest.skipped[sample_id] = reason
        self.manifest.samples.pop(sample_id, None)
        if fingerprint is not None:
            self.manifest.failed[sample_id] = fingerprint

    def add(self, sample_id: str, fingerprint: str, *, clap: torch.Tensor, latent: torch.Tensor, text: torch.Tensor,
            caption: str = "", label: str | None = None, pooled: torch.Tensor | None = None,
            size: tuple[int, ...] | torch.Tensor | None = None) -> None:
        """clap: (clap_dim,), latent: (C, H, W), text: (L, D); SDXL: pooled (P,) and size, 6 ints in
        training.adm.SIZE_FIELDS order (without size the trainer uses the latent's pixel size, uncropped)."""
        if size is not None and len(size) != 6:
            raise ValueError(f"size must hold 6 integers (original h, w, crop top, left, target h, w), got {size}")
        self.manifest.skipped.pop(sample_id, None)
        self.manifest.failed.pop(sample_id, None)
        self._rows.append(dict(id=sample_id, fingerprint=fingerprint, clap=clap.float().cpu(),
                               latent=latent.cpu(), text=text.cpu(), caption=caption, label=label,
                               pooled=None if pooled is None else pooled.float().cpu().reshape(-1),
                               size=None if size is None else torch.as_tensor(size, dtype=torch.int64).reshape(6)))
        if len(self._rows) >= self.shard_size:
            self.flush()

    def set_null_text(self, text: torch.Tensor, pooled: torch.Tensor | None = None) -> None:
        """text: (L, D) the empty caption's embedding; SDXL: pooled (P,) its pooled embedding."""
        tensors = {"text": text.float().cpu()}
        if pooled is not None:
            tensors["pooled"] = pooled.float().cpu().reshape(-1)
        atomic_save_tensors(self.cache / "null_text.safetensors", tensors)

    def _next_shard(self) -> str:
        names = [int(p.stem) for p in (self.cache / "shards").glob("*.safetensors") if p.stem.isdigit()]
        return f"{(max(names) + 1) if names else 0:06d}"

    def flush(self) -> None:
        if not self._rows:
            self.manifest.write(self.cache)
            return
        shard = self._next_shard()
        for name in ("pooled", "size"):
            if len({r[name] is None for r in self._rows}) > 1:
                raise ValueError(f"cache rows disagree: some have {name} and some do not (one model per cache)")
        texts: dict[bytes, int] = {}
        text_index = []
        unique, unique_pooled = [], []
        for r in self._rows:
            h = hashlib.sha1(r["text"].float().numpy().tobytes())
            if r["pooled"] is not None:
                h.update(r["pooled"].numpy().tobytes())
            key = h.digest()
            if key not in texts:
                texts[key] = len(unique)
                unique.append(r["text"].to(torch.float16))
                unique_pooled.append(r["pooled"])
            text_index.append(texts[key])
        tensors = {"clap": torch.stack([r["clap"] for r in self._rows]),
                   "latent": torch.stack([r["latent"] for r in self._rows]).to(torch.float16),
                   "text": torch.stack(unique), "text_index": torch.tensor(text_index, dtype=torch.int64)}
        if self._rows[0]["pooled"] is not None:
            tensors["pooled"] = torch.stack(unique_pooled).to(torch.float16)
        if self._rows[0]["size"] is not None:
            tensors["size"] = torch.stack([r["size"] for r in self._rows])
        atomic_save_tensors(self.cache / "shards" / f"{shard}.safetensors", tensors,
                            metadata={"ids": json.dumps([r["id"] for r in self._rows])})
        for row, r in enumerate(self._rows):
            self.manifest.samples[r["id"]] = {"shard": shard, "row": row, "fingerprint": r["fingerprint"],
                                              "label": r["label"], "caption": r["caption"]}
        self._rows = []
        self.manifest.write(self.cache)

    def close(self) -> None:
        self.flush()
        self.prune()

    def prune(self) -> None:
        """Delete shards no sample points to any more (all their samples changed or vanished)."""
        used = {s["shard"] for s in self.manifest.samples.values()}
        for p in (self.cache / "shards").glob("*.safetensors"):
            if p.stem not in used:
                p.unlink()


@dataclass
class LatentCache:
    """The cache in memory. Row i: clap[i] (clap_dim,), latent[i] (C, H, W), text[text_index[i]] (L, D);
    SDXL caches also pooled[text_index[i]] (P,) and size[i] (6,) (training.adm.SIZE_FIELDS), null_pooled (P,)."""

    ids: list[str]
    clap: torch.Tensor
    latent: torch.Tensor
    text: torch.Tensor
    text_index: torch.Tensor
    null_text: torch.Tensor
    labels: list
    encoders: dict
    pooled: torch.Tensor | None = None
    size: torch.Tensor | None = None
    null_pooled: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """clap (B, clap_dim), latent (B, C, H, W), text (B, L, D); SDXL caches: pooled (B, P), size (B, 6) when
        stored."""
        out = {"clap": self.clap[idx], "latent": self.latent[idx].float(),
               "text": self.text[self.text_index[idx]].float()}
        if self.pooled is not None:
            out["pooled"] = self.pooled[self.text_index[idx]].float()
        if self.size is not None:
            out["size"] = self.size[idx]
        return out

    def split(self, val_fraction: float, val_max: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(train rows, validation rows), chosen by a hash of the sample id (stable when samples are added)."""
        if val_fraction <= 0 or len(self) < 2:
            return torch.arange(len(self)), torch.zeros(0, dtype=torch.long)
        h = [int(hashlib.sha1(i.encode()).hexdigest()[:8], 16) / 2 ** 32 for i in self.ids]
        order = sorted(range(len(self)), key=lambda r: h[r])
        n_val = min(val_max, max(1, round(val_fraction * len(self))), len(self) - 1)
        val = sorted(order[:n_val])
        val_set = set(val)
        train = [r for r in range(len(self)) if r not in val_set]
        return torch.tensor(train, dtype=torch.long), torch.tensor(val, dtype=torch.long)


def load_cache(cache: str | os.PathLike) -> LatentCache:
    from safetensors import safe_open
    from safetensors.torch import load_file

    cache = Path(cache)
    manifest = Manifest.read(cache)
    if manifest is None:
        raise CacheError(f"no prepared data in {cache}: run `python -m training prepare` with the same config first")
    if not manifest.samples:
        n_skip = len(manifest.skipped)
        raise CacheError(f"the cache {cache} holds no usable samples ({n_skip} skipped, see {cache / 'skipped.json'}); "
                         "check data.source")
    by_shard: dict[str, list[tuple[int, str]]] = {}
    for sid, s in manifest.samples.items():
        by_shard.setdefault(s["shard"], []).append((s["row"], sid))
    ids, claps, latents, texts, text_index, labels, pooled, sizes = [], [], [], [], [], [], [], []
    n_text = 0
    for shard in sorted(by_shard):
        path = cache / "shards" / f"{shard}.safetensors"
        if not path.is_file():
            raise CacheError(f"cache shard {path} is missing; run prepare again")
        t = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            shard_ids = json.loads((f.metadata() or {}).get("ids", "[]"))
        rows = sorted(by_shard[shard])
        sel = torch.tensor([r for r, _ in rows])
        for r, sid in rows:
            assert shard_ids[r] == sid, f"cache shard {shard} row {r} holds {shard_ids[r]}, manifest says {sid}"
        ids += [sid for _, sid in rows]
        claps.append(t["clap"][sel])
        latents.append(t["latent"][sel])
        texts.append(t["text"])
        pooled.append(t.get("pooled"))
        sizes.append(t["size"][sel] if "size" in t else None)
        text_index.append(t["text_index"][sel] + n_text)
        n_text += t["text"].shape[0]
        labels += [manifest.samples[sid].get("label") for _, sid in rows]
    null_path = cache / "null_text.safetensors"
    if not null_path.is_file():
        raise CacheError(f"{null_path} is missing; run prepare again")
    shapes = {tuple(x.shape[1:]) for x in latents}
    if len(shapes) != 1:
        raise CacheError(f"cache shards disagree on the latent shape {sorted(shapes)}; delete {cache} and prepare again")
    null = load_file(str(null_path))
    for name, parts in (("pooled text embeddings", pooled), ("image sizes", sizes)):
        if len({p is None for p in parts}) > 1:
            raise CacheError(f"some cache shards hold {name} and some do not (prepared with two models); delete "
                             f"{cache} and prepare again")
    return LatentCache(ids=ids, clap=torch.cat(claps), latent=torch.cat(latents), text=torch.cat(texts),
                       text_index=torch.cat(text_index), null_text=null["text"], labels=labels,
                       encoders=manifest.encoders, pooled=None if pooled[0] is None else torch.cat(pooled),
                       size=None if sizes[0] is None else torch.cat(sizes), null_pooled=null.get("pooled"))
