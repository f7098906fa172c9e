"""Which audio each row of a UNet batch gets.

ComfyUI batches CFG chunks: `cond_or_uncond` lists them (0 = cond, 1 = uncond), each with B / len rows.
Cond rows hear the audio (image i of the chunk gets embedding i, or the single shared one), uncond
rows get the null tokens. The edit sampler instead passes an explicit plan in `c2d_rows` (it drops
the source row from the uncond chunk), where "plain" rows (the source) get no audio at all, or with the
SonicDiffusion edit preset "source_null" rows (the source with the unconditional audio, as their pnp.py:111-114);
the audio guider names a kind per conditioning in `c2d_chunk_kinds`.

Context windows (AnimateDiff-Evolved's context options) run the UNet on a subset of the frames; they name the
frames in `ad_params["sub_idxs"]` (and the whole length in `ad_params["full_length"]`), so row j of a chunk is
frame sub_idxs[j] and hears that frame's embedding.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import AudioInputError

AUDIO, NULL, PLAIN = "audio", "null", "plain"
SOURCE_NULL = "source_null"          # the edit's source row, hearing the null (unconditional) audio
SOURCE_KINDS = (PLAIN, SOURCE_NULL)  # what an edit's source row may be


@dataclass(frozen=True)
class RowPlan:
    kinds: tuple[str, ...]    # per row: AUDIO | NULL | PLAIN | SOURCE_NULL
    images: tuple[int, ...]   # per row: index of the image among the chunk's edit rows (for per-image audio)
    total: int | None = None  # images in the whole batch when the rows are a context window of it

    @property
    def n_images(self) -> int:
        if self.total is not None:
            return self.total
        return max((i for k, i in zip(self.kinds, self.images) if k not in SOURCE_KINDS), default=-1) + 1

    def indices(self, kind: str) -> list[int]:
        return [r for r, k in enumerate(self.kinds) if k == kind]


def row_plan(extra_options: dict, batch: int) -> RowPlan:
    explicit = extra_options.get("c2d_rows")
    if explicit is not None:
        if len(explicit) != batch:
            raise AudioInputError(f"row plan has {len(explicit)} rows for a batch of {batch}")
        return RowPlan(tuple(k for k, _ in explicit), tuple(i for _, i in explicit))
    chunks = list(extra_options.get("cond_or_uncond") or [0])
    chunk_kinds = extra_options.get("c2d_chunk_kinds")  # e.g. the audio guider: cond list index → kind
    if batch % len(chunks):
        raise AudioInputError(f"batch of {batch} rows does not split into {len(chunks)} cond/uncond chunks")
    per = batch // len(chunks)
    frames, total = _window(extra_options, per)
    kinds, images = [], []
    for c in chunks:
        kind = chunk_kinds[c] if chunk_kinds is not None else (NULL if c == 1 else AUDIO)
        kinds += [kind] * per
        images += frames
    return RowPlan(tuple(kinds), tuple(images), total)


def _window(extra_options: dict, per: int) -> tuple[list[int], int | None]:
    """The frame index of each row of a chunk: 0..per-1, or a context window's sub_idxs (see the docstring)."""
    ad = extra_options.get("ad_params")
    sub = ad.get("sub_idxs") if isinstance(ad, dict) else None
    if sub is None or len(sub) != per:
        return list(range(per)), None
    full = ad.get("full_length")
    return [int(i) for i in sub], int(full) if full else max(int(i) for i in sub) + 1
