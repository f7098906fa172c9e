"""The edit pass's source row: one row per UNet call that regenerates the source image beside the edit rows.

The edit sampler's batch is [source, edit…] and ComfyUI repeats it per CFG chunk. The source needs only its
cond row (it regenerates the source like the cfg-1 inversion), so `SourceRowOnce` drops its uncond copy before
the UNet call and fills it with the cond output after it (CFG then leaves the source at its cond prediction).
Rows are described to the patches by a `c2d_rows` plan (rows.py): the source is PLAIN (no audio; or SOURCE_NULL,
the unconditional audio, for SonicDiffusion's preset), edit rows AUDIO (cond) or NULL (uncond).

Other packs' patches (IPAdapter's attn2 replacement, a ControlNet, …) assume B = rows per chunk × chunks; with
one of them present the uncond source row is kept (and is PLAIN too), so their batch arithmetic holds. Patches
of this pack say they read the plan with `c2d_row_aware = True`.
"""
from __future__ import annotations

import torch

from .rows import AUDIO, NULL, PLAIN, SOURCE_KINDS


def source_row_plan(chunks: list[int], per: int, source: str = PLAIN,
                    keep_all: bool = False) -> tuple[list[int], list[tuple[str, int]]]:
    """chunks: cond_or_uncond of the call (0 = cond, 1 = uncond), per: rows per chunk (source + edits),
    source: the source row's kind (PLAIN or SOURCE_NULL).

    → (rows to keep, their plan): every edit row, and the source row of the first cond chunk only (keep_all:
    every source row too).
    """
    cond_src = next((k * per for k, cu in enumerate(chunks) if cu == 0), 0)
    keep, plan = [], []
    for k, cu in enumerate(chunks):
        for j in range(per):
            r = k * per + j
            if j == 0 and r != cond_src and not keep_all:
                continue
            keep.append(r)
            plan.append((source, -1) if j == 0 else (NULL if cu == 1 else AUDIO, j - 1))
    return keep, plan


def foreign_patches(c: dict) -> bool:
    """Whether the call's conditioning carries a ControlNet or a transformer patch not of this pack."""
    if c.get("control") is not None:
        return True
    to = c.get("transformer_options") or {}
    if any(to.get("patches_replace", {}).values()):
        return True
    return any(not getattr(p, "c2d_row_aware", False) for ps in (to.get("patches") or {}).values() for p in ps)


class SourceRowOnce:
    """ComfyUI `model_function_wrapper`: (apply_model, args) → the UNet output for every row of args["input"].

    args: {"input": (N, C, H, W), "timestep": (N,), "c": conditioning dict, "cond_or_uncond": chunk list}.
    inner: a wrapper that was already installed (called with the reduced batch), or None.
    source: the source row's kind in the plan: PLAIN (no audio) or SOURCE_NULL (the unconditional audio).
    """

    def __init__(self, inner=None, source: str = PLAIN):
        if source not in SOURCE_KINDS:
            raise ValueError(f"source row kind {source!r}: expected one of {SOURCE_KINDS}")
        self.inner, self.source = inner, source

    def to(self, device_or_dtype) -> "SourceRowOnce":
        """ComfyUI moves a model_function_wrapper with `.to()`: pass it on to the wrapped one, hold no tensors."""
        if self.inner is not None and hasattr(self.inner, "to"):
            self.inner = self.inner.to(device_or_dtype)
        return self

    def __call__(self, apply_model, args):
        x, t, c, chunks = args["input"], args["timestep"], dict(args["c"]), list(args["cond_or_uncond"])
        N, per = x.shape[0], x.shape[0] // len(chunks)
        keep, plan = source_row_plan(chunks, per, self.source, keep_all=foreign_patches(c))
        cond_src = next((k * per for k, cu in enumerate(chunks) if cu == 0), 0)   # the source's cond row
        idx = torch.tensor(keep, device=x.device)
        c = {k: (v.index_select(0, idx.to(v.device)) if torch.is_tensor(v) and v.ndim and v.shape[0] == N else v)
             for k, v in c.items()}
        c["transformer_options"] = {**c.get("transformer_options", {}), "c2d_rows": plan}
        sub = {"input": x.index_select(0, idx), "timestep": t.index_select(0, idx.to(t.device)), "c": c,
               "cond_or_uncond": chunks}
        out_kept = self.inner(apply_model, sub) if self.inner else apply_model(sub["input"], sub["timestep"], **c)
        out = out_kept.new_empty((N, *out_kept.shape[1:]))
        out[idx] = out_kept
        for k in range(len(chunks)):
            if k * per != cond_src:
                out[k * per] = out_kept[keep.index(cond_src)]
        return out
