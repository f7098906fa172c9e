"""Reading a prepared cache (training/cache.py describes its files) on demand: `load_cache` reads the manifest and
the files' headers, `LatentCache.batch` the rows it is asked for from the memory-mapped safetensors files, so the
trainer's memory does not grow with the cache."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .cache import CacheError, Manifest


class LatentCache:
    """A prepared cache, read on demand. Sample i: clap (clap_dim,), latent (C, H, W), text (L, D) — its caption's
    conditioning; where captions differ in length a batch zero-pads them and gives each one's `text_len` —, and
    where the cache holds them pooled (P,) and size (6,) (training.adm.SIZE_FIELDS); null_text (L0, D) and
    null_pooled (P,) the empty caption's. Only the manifest, the files' headers and the empty caption
    are in memory; `batch` reads its rows from the memory-mapped files. The whole-array properties (clap, latent,
    text, pooled, size) read everything: for small caches and tests."""

    def __init__(self, root: Path, manifest: Manifest, null: dict):
        self.root = Path(root)
        self.encoders = manifest.encoders
        self.null_text = null["text"]
        self.null_pooled = null.get("pooled")
        self._texts = manifest.texts
        by_shard: dict[str, list[tuple[int, str]]] = {}
        for sid, s in manifest.samples.items():
            by_shard.setdefault(s["shard"], []).append((s["row"], sid))
        self.ids, self.labels, self._where, self._keys = [], [], [], []
        headers = []
        for shard in sorted(by_shard):
            meta, shapes = _header(self._shard_path(shard))
            shard_ids, shard_keys = json.loads(meta.get("ids", "[]")), json.loads(meta.get("text_keys", "[]"))
            for row, sid in sorted(by_shard[shard]):
                if row >= len(shard_ids) or shard_ids[row] != sid:
                    raise CacheError(f"cache shard {shard} row {row} does not hold {sid} as the manifest says; delete "
                                     f"{self.root} and prepare again")
                self.ids.append(sid)
                self.labels.append(manifest.samples[sid].get("label"))
                self._where.append((shard, row))
                self._keys.append(shard_keys[row])
            headers.append(shapes)
        for k in set(self._keys) - set(self._texts):
            raise CacheError(f"the cache {self.root} lacks the text conditioning {k[:12]}… a shard refers to; delete it "
                             "and prepare again")
        latent_shapes = {h["latent"][1:] for h in headers}
        if len(latent_shapes) != 1:
            raise CacheError(f"cache shards disagree on the latent shape {sorted(latent_shapes)}; delete {self.root} "
                             "and prepare again")
        if len({"size" in h for h in headers}) > 1:
            raise CacheError(f"some cache shards hold image sizes and some do not (prepared with two models); delete "
                             f"{self.root} and prepare again")
        text_headers = [_header(self._text_path(f))[1] for f in sorted({v[0] for v in self._texts.values()})]
        if len({"pooled" in h for h in text_headers}) > 1:
            raise CacheError(f"some cache text files hold pooled text embeddings and some do not (prepared with two "
                             f"models); delete {self.root} and prepare again")
        self.latent_shape = tuple(headers[0]["latent"][1:])                # (C, H, W)
        self.clap_dim = int(headers[0]["clap"][-1])                       # (n, clap_dim) or (n, frames, clap_dim)
        self.text_lengths = sorted({int(h["text"][1]) for h in text_headers})  # one, unless the encoder does not pad
        self.text_shape = (self.text_lengths[-1], int(text_headers[0]["text"][2]))   # (longest L, D)
        self.pooled_dim = int(text_headers[0]["pooled"][1]) if "pooled" in text_headers[0] else None
        self.has_size = "size" in headers[0]

    def __len__(self) -> int:
        return len(self.ids)

    def _shard_path(self, shard: str) -> Path:
        path = self.root / "shards" / f"{shard}.safetensors"
        if not path.is_file():
            raise CacheError(f"cache shard {path} is missing; run prepare again")
        return path

    def _text_path(self, name: str) -> Path:
        path = self.root / "texts" / f"{name}.safetensors"
        if not path.is_file():
            raise CacheError(f"cache text file {path} is missing; run prepare again")
        return path

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """clap (B, clap_dim), latent (B, C, H, W), text (B, L, D); pooled (B, P), size (B, 6) where stored. Reads
        only these rows (and each distinct caption among them once)."""
        from safetensors import safe_open

        rows = [int(i) for i in torch.as_tensor(idx).reshape(-1).tolist()]
        names = ["clap", "latent"] + (["size"] if self.has_size else [])
        got: dict[str, list] = {n: [None] * len(rows) for n in names}
        by_shard: dict[str, list[tuple[int, int]]] = {}
        for j, i in enumerate(rows):
            shard, row = self._where[i]
            by_shard.setdefault(shard, []).append((j, row))
        for shard, items in by_shard.items():
            with safe_open(str(self._shard_path(shard)), "pt") as f:
                for n in names:
                    sl = f.get_slice(n)
                    for j, row in items:
                        got[n][j] = sl[row:row + 1]
        out = {"clap": torch.cat(got["clap"]).float(), "latent": torch.cat(got["latent"]).float()}
        if self.has_size:
            out["size"] = torch.cat(got["size"])
        text, pooled, lengths = self._conditioning([self._keys[i] for i in rows])
        out["text"] = text
        if len(self.text_lengths) > 1:
            out["text_len"] = lengths
        if pooled is not None:
            out["pooled"] = pooled
        return out

    def _conditioning(self, keys: list[str]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(len(keys), L, D) text, zero-padded to the longest where captions differ in length, (len(keys), P) pooled
        (or None) and (len(keys),) each caption's length, of these text keys, each read once."""
        from safetensors import safe_open

        distinct = list(dict.fromkeys(keys))
        read: dict[str, tuple] = {}
        by_file: dict[str, list[str]] = {}
        for k in distinct:
            by_file.setdefault(self._texts[k][0], []).append(k)
        for name, ks in by_file.items():
            with safe_open(str(self._text_path(name)), "pt") as f:
                text = f.get_slice("text")
                pooled = f.get_slice("pooled") if self.pooled_dim is not None else None
                for k in ks:
                    row = self._texts[k][1]
                    read[k] = (text[row:row + 1], None if pooled is None else pooled[row:row + 1])
        lengths = torch.tensor([read[k][0].shape[1] for k in keys], dtype=torch.long)
        longest = int(lengths.max()) if len(keys) else 0
        text = torch.cat([torch.nn.functional.pad(read[k][0], (0, 0, 0, longest - read[k][0].shape[1]))
                          for k in keys]).float()
        pooled = None if self.pooled_dim is None else torch.cat([read[k][1] for k in keys]).float()
        return text, pooled, lengths

    # ---- whole arrays (small caches, tests) ------------------------------------------------------------
    @property
    def clap(self) -> torch.Tensor:
        return self.batch(torch.arange(len(self)))["clap"]

    @property
    def latent(self) -> torch.Tensor:
        return self.batch(torch.arange(len(self)))["latent"]

    @property
    def size(self) -> torch.Tensor | None:
        return self.batch(torch.arange(len(self)))["size"] if self.has_size else None

    @property
    def text(self) -> torch.Tensor:
        """(u, L, D) every distinct caption's conditioning, in the order samples first use it (zero-padded to the
        longest where lengths differ)."""
        return self._conditioning(list(dict.fromkeys(self._keys)))[0]

    @property
    def pooled(self) -> torch.Tensor | None:
        return self._conditioning(list(dict.fromkeys(self._keys)))[1]

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


def _header(path: Path) -> tuple[dict, dict]:
    """(metadata, {tensor name: shape}) of a safetensors file, from its header only."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return dict(f.metadata() or {}), {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def load_cache(cache: str | os.PathLike) -> LatentCache:
    from safetensors.torch import load_file

    cache = Path(cache)
    manifest = Manifest.read(cache)
    if manifest is None:
        raise CacheError(f"no prepared data in {cache}: run `python -m training prepare` with the same config first")
    if not manifest.samples:
        n_skip = len(manifest.skipped)
        raise CacheError(f"the cache {cache} holds no usable samples ({n_skip} skipped, see {cache / 'skipped.json'}); "
                         "check data.source")
    null_path = cache / "null_text.safetensors"
    if not null_path.is_file():
        raise CacheError(f"{null_path} is missing; run prepare again")
    return LatentCache(cache, manifest, load_file(str(null_path)))
