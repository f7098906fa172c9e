"""Frame-local audio for video families (Wan): each latent frame's tokens attend only to the audio of the video
frames it encodes, so the picture at second 7 follows the sound at second 7.

Wan's VAE packs `stride` = 4 video frames into one latent frame, the first frame alone: latent frame 0 ↔ video
frame 0, latent frame t ≥ 1 ↔ video frames 4t−3 … 4t; a clip of F = 4(T−1)+1 frames has T latent frames. With one
CLAP embedding per video frame (an Audio Timeline at the video's fps), latent frame t's audio tokens are its
window's tokens, concatenated (frame 0's single frame repeated to the same length: attention over identical copies
of the same keys and values gives exactly the single copy's output). The video tokens are frame-major
(T × H' × W', as Wan patchifies), so frames become rows: x (B, T·S, C) → (B·T, S, C).
ComfyUI 0.33 tells the latent frame count (`transformer_options["grid_sizes"]`) and, when it samples a long clip
in context windows, which latent frames of the whole clip a call holds (`transformer_options["context_window"]`:
`index_list`, `total_frames`), so each window hears its own part of the timeline. Pure torch.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .errors import AudioInputError, UnsupportedModelError
from .rows import AUDIO, PLAIN, SOURCE_NULL, RowPlan


def latent_frames(options: dict, tokens: int) -> tuple[list[int], int] | None:
    """(the clip's latent frames in this model call, the clip's latent frame count), None where the host does not
    say (Wan: grid_sizes = (T, H', W'); a context window's index_list / total_frames when sampling in windows).
    tokens: the video tokens the branch sees, which must be the grid's T·H'·W'."""
    grid = options.get("grid_sizes")
    if grid is None:
        return None
    grid = tuple(int(g) for g in grid)
    count = grid[0]
    if tokens != math.prod(grid):
        raise UnsupportedModelError(
            f"this Wan call carries {tokens} tokens but its video grid {grid} has {math.prod(grid)}: a reference "
            "image or in-context latents ride along, so per-frame audio cannot tell which tokens are which frame; "
            "remove the reference / context latents, or give one audio embedding for the whole clip")
    window = options.get("context_window")
    if window is None:
        return list(range(count)), count
    indices = [int(i) for i in window.index_list]
    anchor = getattr(window, "causal_anchor_index", None)   # core's causal_window_fix prepends the frame before
    if anchor is not None and anchor >= 0:
        indices = [int(anchor)] + indices
    if len(indices) != count:
        raise UnsupportedModelError(
            f"this context window holds {count} latent frames but names {len(indices)} of the clip; per-frame audio "
            "cannot tell which part of the timeline it hears: turn off latent_retain_index_list / retain_first_frame, "
            "or give one audio embedding for the whole clip")
    return indices, int(getattr(window, "total_frames", 0) or max(indices) + 1)


def video_frames(latent: int, stride: int) -> int:
    return stride * (latent - 1) + 1


def frame_windows(latent: int, stride: int) -> torch.Tensor:
    """(T, stride) video frame indices of each latent frame: [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8], …]."""
    rows = [[0] * stride] + [[stride * (t - 1) + 1 + j for j in range(stride)] for t in range(1, latent)]
    return torch.tensor(rows, dtype=torch.long)


def _gather(source: torch.Tensor, index: torch.Tensor, heads: int) -> torch.Tensor:
    """Per-frame K or V → per row of the call, its window's frames concatenated along the tokens of each head, in
    one index_select. source: (R, heads, N, d); index: (M, W) rows of source → (M, heads, W·N, d)."""
    M, W = index.shape
    per_head = source.reshape(source.shape[0] * heads, -1)                       # (R·heads, N·d): row r·heads + h
    flat = index.to(source.device)[:, None, :] * heads + torch.arange(heads, device=source.device)[None, :, None]
    return per_head.index_select(0, flat.flatten()).view(M, heads, -1, source.shape[-1])   # (M·heads·W) rows


def _heard(plan: RowPlan, null_rows: torch.Tensor | None) -> list[int | None]:
    """Per row, the video whose timeline it hears, None for the null row (uncond rows, plain / source rows, videos
    whose audio null_rows drops)."""
    dropped = set() if null_rows is None else {i for i, d in enumerate(null_rows.tolist()) if d}
    return [i if k == AUDIO and i not in dropped else None for k, i in zip(plan.kinds, plan.images)]


def hears_audio(plan: RowPlan, null_rows: torch.Tensor | None = None) -> bool:
    """Whether any row of the call hears the audio (an uncond call, or one whose videos all drop it, does not)."""
    return any(i is not None for i in _heard(plan, null_rows))


def call_rows(n_audio: int, frames: tuple[list[int], int], stride: int,
              n_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which per-frame embeddings a model call needs: (rows of the embeddings to project, (F_call,) the video frames
    they are, per timeline). A call (a context window) needs only its latent frames' windows, so the audio K/V a
    block computes is bounded by the window, not the clip: a 10-minute timeline costs what its window's frames do.
    n_audio: embeddings given (one timeline, or one per video stacked); raises when they do not fit the video."""
    indices, total = frames
    want = video_frames(total, stride)
    timelines = n_audio // want
    if n_audio % want or timelines not in (1, n_images):
        raise AudioInputError(
            f"the audio has {n_audio} per-frame embeddings but this video has {want} frames ({total} latent "
            f"frames); make the Audio Timeline at the video's frame count ({want}) and fps, or give one embedding "
            "for the whole clip")
    needed = torch.unique(frame_windows(total, stride)[torch.tensor(indices)])
    return torch.cat([needed + j * want for j in range(timelines)]), needed


def frame_local_branch(run: Callable, x: torch.Tensor, kv: tuple, plan: RowPlan, frames: tuple[list[int], int],
                       stride: int, heads: int, needed: torch.Tensor, schedule: list[float] | None = None,
                       null_rows: torch.Tensor | None = None) -> torch.Tensor:
    """The branch with each latent frame attending to its own frames' audio.

    x: (B, T·S, C) video tokens of one block; kv: (audio k, audio v, null k, null v), (R, heads, N, d) each, from
    the block's K/V path (audio: one row per `needed` video frame (call_rows) of one timeline shared by every video,
    or of one timeline per video, stacked — none where no row hears the audio (hears_audio); null: one row);
    run(x, k, v) the block's branch function (the residual; inference folds the windows' K/V there);
    frames: latent_frames(...) (the call's T latent frames of the clip, the clip's latent frame count);
    schedule: per video frame strength multipliers (the timeline's loudness), averaged over each window;
    null_rows: (videos,) bool, training: videos whose audio is dropped (null tokens) for CFG.
    Rows hearing the null row attend to it alone (the same keys in every frame: no windows).
    Returns the residual (B, T·S, C)."""
    a_k, a_v, n_k, n_v = kv
    indices, total = frames
    latent = len(indices)
    B, L, C = x.shape
    S = L // latent                     # latent_frames checked L = T·H'·W'
    windows = frame_windows(total, stride)[torch.tensor(indices)]
    local = torch.searchsorted(needed, windows)                        # (T, W): the windows' rows among the given
    per_timeline = len(needed) if a_k.shape[0] > len(needed) else 0    # row offset of video i's timeline: i · this
    groups: dict = {}                   # what rows hear (a video's timeline, None: the null row) → those rows
    for r, i in enumerate(_heard(plan, null_rows)):
        groups.setdefault(i, []).append(r)
    pieces: list = [None] * B           # per row: its (1, T·S, C) residual
    for i, rows in groups.items():
        xs = x[rows[0]:rows[-1] + 1] if rows == list(range(rows[0], rows[-1] + 1)) else x[rows]
        n = len(rows)
        if i is None:                   # every frame hears the same null keys: no windows
            out = run(xs.reshape(1, n * L, C), n_k, n_v)
        else:
            index = (local + i * per_timeline).repeat(n, 1)                 # (n·T, W)
            out = run(xs.reshape(n * latent, S, C), _gather(a_k, index, heads), _gather(a_v, index, heads))
        out = out.reshape(n, L, C)
        for j, r in enumerate(rows):
            pieces[r] = out[j:j + 1]
    if len(groups) > 1:                 # rows of several groups: put them back in order
        out = torch.cat(pieces)
    out = out.view(B * latent, S, C)
    if plan.indices(PLAIN) or schedule:
        weights = torch.ones(latent)
        if schedule:
            s = torch.tensor(schedule, dtype=torch.float32)
            weights = s[windows.clamp(max=len(s) - 1)].mean(1)
        per_row = torch.cat([torch.zeros(latent) if k == PLAIN else torch.ones(latent) if k == SOURCE_NULL
                             else weights for k in plan.kinds])
        out = out * per_row.to(out.device, out.dtype).view(-1, 1, 1)
    return out.reshape(B, L, C)
