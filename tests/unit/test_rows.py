"""Row plans for context windows (AnimateDiff-Evolved names the window's frames in ad_params)."""
import pytest

from c2d_core.errors import AudioInputError
from c2d_core.rows import AUDIO, NULL, row_plan


def test_a_context_window_maps_rows_to_its_frames():
    opts = {"cond_or_uncond": [0, 1], "ad_params": {"sub_idxs": [8, 9, 10, 11], "full_length": 12}}
    plan = row_plan(opts, 8)
    assert plan.kinds == (AUDIO,) * 4 + (NULL,) * 4
    assert plan.images == (8, 9, 10, 11) * 2 and plan.n_images == 12


def test_without_a_window_rows_are_the_batch():
    plan = row_plan({"cond_or_uncond": [0], "ad_params": {"sub_idxs": None, "full_length": 4}}, 4)
    assert plan.images == (0, 1, 2, 3) and plan.n_images == 4


def test_a_window_that_does_not_fit_the_chunk_is_ignored_and_sizes_still_checked():
    plan = row_plan({"cond_or_uncond": [0], "ad_params": {"sub_idxs": [0, 1, 2], "full_length": 3}}, 4)
    assert plan.images == (0, 1, 2, 3)
    with pytest.raises(AudioInputError):
        row_plan({"cond_or_uncond": [0, 1]}, 5)


def test_the_uncond_source_row_is_kept_when_another_pack_patches_the_model():
    from c2d_core.pnp import PnPAttentionPatch, PnPState
    from c2d_core.source_row import foreign_patches, source_row_plan
    keep, plan = source_row_plan([0, 1], 2)
    assert keep == [0, 1, 3] and [k for k, _ in plan] == ["plain", "audio", "null"]
    keep, plan = source_row_plan([0, 1], 2, keep_all=True)
    assert keep == [0, 1, 2, 3] and [k for k, _ in plan] == ["plain", "audio", "plain", "null"]
    ours = {"transformer_options": {"patches": {"attn1_patch": [PnPAttentionPatch(PnPState())]}}}
    assert not foreign_patches(ours)
    assert foreign_patches({"transformer_options": {"patches_replace": {"attn2": {("input", 1, 0): object()}}}})
    assert foreign_patches({"transformer_options": {"patches": {"attn1_patch": [lambda *a: a]}}})
    assert foreign_patches({"control": object()})
