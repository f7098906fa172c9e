"""The prepared-data cache: CLAP embeddings, VAE latents and text conditioning in safetensors files.

    <cache>/manifest.json          encoder identity + {sample id: shard, row, fingerprint, label, caption}
                                   + {text key: [text file, row]}: where each distinct caption's conditioning is
    <cache>/null_text.safetensors  "text": (L, D) embedding of the empty caption (CFG text dropout)
                                   [+ "pooled": (P,) its pooled embedding, SDXL / Flux / SD3 caches]
    <cache>/shards/NNNNNN.safetensors
        clap (n, clap_dim) f32 · latent (n, C, H, W) f16 [· size (n, 6) i64, SDXL: each image's geometry in
        training.adm.SIZE_FIELDS order (original height/width, crop top/left, target height/width)];
        metadata: the rows' sample ids and text keys
    <cache>/texts/NNNNNN[-L].safetensors
        text (u, L, D) f16 [· pooled (u, P) f16]: the conditioning of captions no earlier file holds, one file per
        caption length L (CLIP and T5 pad every caption to one length; Qwen-Image's and Z-Image's encoders do not);
        metadata: their keys (a hash of the conditioning)
    <cache>/skipped.json           samples that could not be read, with the reason

Each distinct caption's conditioning is stored once for the whole cache (a Flux T5 condition is 256 × 4096 values:
2 MB in f16), not once per sample. Files and the manifest are written atomically (temp file + rename) and the
manifest is rewritten after every shard, so a killed `prepare` keeps what it finished and a re-run only encodes
samples that are new or changed (by fingerprint).

Reading it: training/cache_reader.py (`load_cache`, on demand).
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

CACHE_VERSION = 2       # 2: text conditioning in texts/, once per distinct caption


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
    texts: dict = field(default_factory=dict)        # text key → [text file, row]
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
                   failed=raw.get("failed", {}), texts=raw.get("texts", {}))

    def write(self, cache: Path, part: str = "") -> None:
        """manifest.json (+ skipped.json); a prepare process of several writes its own manifest.r<rank>.json, which
        merge_parts folds into manifest.json."""
        data = {"version": self.version, "encoders": self.encoders, "samples": self.samples, "skipped": self.skipped,
                "failed": self.failed, "texts": self.texts}
        if part:
            atomic_write_bytes(cache / f"manifest.{part.rstrip('-')}.json", json.dumps(data, sort_keys=True).encode())
            return
        atomic_write_bytes(cache / "manifest.json", json.dumps(data, indent=1, sort_keys=True).encode())
        skipped = [{"id": k, "reason": v} for k, v in sorted(self.skipped.items())]
        atomic_write_bytes(cache / "skipped.json", json.dumps(skipped, indent=1).encode())


class CacheWriter:
    """Collects encoded samples and writes them shard by shard (see module docstring)."""

    def __init__(self, cache: Path, encoders: dict, shard_size: int = 256, part: str = ""):
        """part: this process's prefix when several prepare processes write one cache ("r1-"): its files are
        named <part>NNNNNN, its manifest manifest.r<rank>.json (merge_parts folds them together)."""
        self.cache = Path(cache)
        self.shard_size = shard_size
        self.part = part
        old = Manifest.read(self.cache)
        if old is not None and old.encoders != encoders:
            diff = {k: (old.encoders.get(k), encoders.get(k)) for k in set(old.encoders) | set(encoders)
                    if old.encoders.get(k) != encoders.get(k)}
            raise CacheError(f"the cache {self.cache} was made with other encoders ({diff}); delete it or set "
                             "another data.cache")
        self.manifest = old or Manifest(encoders=encoders)
        self._rows: list[dict] = []
        (self.cache / "shards").mkdir(parents=True, exist_ok=True)
        (self.cache / "texts").mkdir(parents=True, exist_ok=True)

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
        n = len(self.part)
        names = [int(p.stem[n:]) for p in (self.cache / "shards").glob(f"{self.part}*.safetensors")
                 if p.stem[n:].isdigit() and p.stem.startswith(self.part)]
        return f"{self.part}{(max(names) + 1) if names else 0:06d}"

    def flush(self) -> None:
        if not self._rows:
            self.manifest.write(self.cache, self.part)
            return
        shard = self._next_shard()
        for name in ("pooled", "size"):
            if len({r[name] is None for r in self._rows}) > 1:
                raise ValueError(f"cache rows disagree: some have {name} and some do not (one model per cache)")
        keys = [text_key(r["text"], r["pooled"]) for r in self._rows]
        new: dict[str, dict] = {}                     # conditioning no text file holds yet
        for k, r in zip(keys, self._rows):
            if k not in self.manifest.texts and k not in new:
                new[k] = r
        by_length: dict[int, list[str]] = {}         # one text file per caption length
        for k, r in new.items():
            by_length.setdefault(int(r["text"].shape[0]), []).append(k)
        for length, ks in sorted(by_length.items()):
            name = shard if len(by_length) == 1 else f"{shard}-{length}"
            texts = {"text": torch.stack([new[k]["text"].to(torch.float16) for k in ks])}
            if self._rows[0]["pooled"] is not None:
                texts["pooled"] = torch.stack([new[k]["pooled"] for k in ks]).to(torch.float16)
            atomic_save_tensors(self.cache / "texts" / f"{name}.safetensors", texts, metadata={"keys": json.dumps(ks)})
            for row, k in enumerate(ks):
                self.manifest.texts[k] = [name, row]
        tensors = {"clap": torch.stack([r["clap"] for r in self._rows]),
                   "latent": torch.stack([r["latent"] for r in self._rows]).to(torch.float16)}
        if self._rows[0]["size"] is not None:
            tensors["size"] = torch.stack([r["size"] for r in self._rows])
        atomic_save_tensors(self.cache / "shards" / f"{shard}.safetensors", tensors,
                            metadata={"ids": json.dumps([r["id"] for r in self._rows]), "text_keys": json.dumps(keys)})
        for row, r in enumerate(self._rows):
            self.manifest.samples[r["id"]] = {"shard": shard, "row": row, "fingerprint": r["fingerprint"],
                                              "label": r["label"], "caption": r["caption"]}
        self._rows = []
        self.manifest.write(self.cache, self.part)

    def close(self) -> None:
        self.flush()
        if not self.part:          # a part's files are pruned once merged (merge_parts)
            self.prune()

    def prune(self) -> None:
        """Delete shards no sample points to any more (all their samples changed or vanished), and text files no
        remaining shard refers to."""
        used = {s["shard"] for s in self.manifest.samples.values()}
        for p in (self.cache / "shards").glob("*.safetensors"):
            if p.stem not in used:
                p.unlink()
        from safetensors import safe_open

        keys = set()
        for shard in used:
            with safe_open(str(self.cache / "shards" / f"{shard}.safetensors"), "pt") as f:
                keys.update(json.loads(f.metadata()["text_keys"]))
        self.manifest.texts = {k: v for k, v in self.manifest.texts.items() if k in keys}
        files = {v[0] for v in self.manifest.texts.values()}
        for p in (self.cache / "texts").glob("*.safetensors"):
            if p.stem not in files:
                p.unlink()
        self.manifest.write(self.cache)


def merge_parts(cache: Path) -> Manifest:
    """Fold the manifests of a multi-process prepare (manifest.r<rank>.json) into manifest.json, delete them, prune.
    Every process saw the same earlier manifest and encoded its own slice: a sample's entry is the one a process
    changed, else the common one; texts, skipped and failed samples are the union."""
    cache = Path(cache)
    parts = sorted(cache.glob("manifest.r*.json"))
    if not parts:
        raise CacheError(f"no per-process manifests to merge in {cache}")
    old = Manifest.read(cache)
    before = old.samples if old else {}
    loaded = [json.loads(p.read_text()) for p in parts]
    merged = Manifest(encoders=loaded[0]["encoders"])
    for m in loaded:
        for sid, entry in m["samples"].items():
            if sid not in merged.samples or merged.samples[sid] == before.get(sid):
                merged.samples[sid] = entry
        merged.texts.update(m["texts"])
        merged.skipped.update(m["skipped"])
        merged.failed.update(m["failed"])
    for sid in merged.samples:
        merged.skipped.pop(sid, None)
    merged.write(cache)
    for p in parts:
        p.unlink()
    writer = CacheWriter(cache, merged.encoders)
    writer.prune()
    return writer.manifest


def text_key(text: torch.Tensor, pooled: torch.Tensor | None) -> str:
    """The identity of one caption's conditioning: a hash of its values (the same caption, the same key)."""
    h = hashlib.sha1(text.float().numpy().tobytes())
    if pooled is not None:
        h.update(pooled.float().numpy().tobytes())
    return h.hexdigest()
