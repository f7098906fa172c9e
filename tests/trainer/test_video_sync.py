"""Sound → video in sync without real weights (toy/video_sync.py): on a tiny Wan built from ComfyUI's own classes, an
adapter trained through the real trainer with frame-local audio (Audio Timeline embeddings, one per video frame)
changes the square's colour at the frame where the tone's pitch changes, on held-out clips. ComfyUI 0.33+ (which
tells the model call its latent frame count)."""
import math

import pytest

from toy import video_sync as V

QUICK = V.Budget(train_clips=48, test_clips=16)


def test_the_picture_changes_where_the_sound_changes(tmp_path, comfy_root):
    import comfy.ldm.wan.model as wan
    import inspect

    if 'transformer_options["grid_sizes"]' not in inspect.getsource(wan.WanModel.forward_orig):
        pytest.skip("frame-local audio needs ComfyUI 0.33+ (grid_sizes in transformer_options); this host is older")
    r = V.run(tmp_path, QUICK)
    base, ours = r["rows"]["base, no audio"], r["rows"]["adapter"]
    assert base["frame_accuracy"] <= 0.45                                   # without audio: random colours
    assert ours["frame_accuracy"] >= 0.5, f"per-latent-frame accuracy {ours['frame_accuracy']:.0%} (chance 25%)"
    assert ours["switch_error_frames"] <= 2.5 < base["switch_error_frames"], (ours, base)
    assert r["steps"] == QUICK.steps and r["gate_mean"] > 0.01 and math.isfinite(r["gate_mean"])
