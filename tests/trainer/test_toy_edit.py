"""Audio editing on the shipped toy bundle through the pack's nodes (python -m toy.edit, small):
the sound recolours the picture, preservation keeps its layout, a mask keeps the rest of the source."""
import pytest
import torch

from c2d_core.errors import EditInputError

CLIPS = 3   # held-out clips per target class (9 edits per mode); the README figure uses 8


@pytest.fixture(scope="module")
def host(tmp_path_factory, comfy_root):
    from toy.edit import toy_host

    return toy_host(tmp_path_factory.mktemp("toy_edit"))


@pytest.fixture(scope="module")
def result(host):
    from toy.edit import EditSettings, run

    return run(EditSettings(clips=CLIPS), host=host)


def test_pnp_blocks_are_asked_from_the_toy_unet(result):
    # SD1.5's block 4 of 12 decoder blocks does not exist in the toy's 4: the same relative depth is block 1
    assert result["decoder_blocks"] == 4
    assert (result["feature_block"], result["attention_block"]) == (1, 1)
    assert result["reconstruction_error"] < 0.02, result["reconstruction_error"]   # the inversion is usable


def test_the_edit_moves_the_classifier_to_the_target_class(result):
    assert result["source_class"] == 0                                   # the source is read as the 300 Hz class
    assert result["accuracy_preserved"] >= 0.75, result                  # chance 25 %; the unedited source scores 0 %
    assert result["accuracy_unpreserved"] >= 0.75, result


def test_preservation_keeps_the_structure_closer(result):
    on, off = result["structure_preserved"], result["structure_unpreserved"]
    assert on < 0.8 * off, (on, off)


def test_outside_the_mask_the_source_is_kept(result):
    assert result["max_change_outside_mask"] < 1e-5, result["max_change_outside_mask"]
    assert result["max_change_inside_mask"] > 0.5, result["max_change_inside_mask"]
    assert result["accuracy_masked_outside_source"] == 1.0
    assert result["accuracy_masked_inside"] >= 0.5, result["accuracy_masked_inside"]


def test_structure_distance_ignores_a_pure_recolouring():
    from toy import task as S
    from toy.edit import structure_distance

    task = S.Task()
    src = S.latents([0], task, seed=5)
    c = S.colours(task.channels)
    # swap the class-0 and class-1 components of every pixel (a reflection: orthogonal colours of equal length)
    a, b = (torch.einsum("nchw,c->nhw", src, c[k]) / c[k].dot(c[k]) for k in (0, 1))
    recoloured = src + (a - b)[:, None] * (c[1] - c[0]).view(1, -1, 1, 1)
    clf = S.CentroidClassifier(S.latents([0, 1, 2, 3], task, seed=6), [0, 1, 2, 3])
    assert clf.predict(recoloured).tolist() == [1]
    shifted = src.roll(2, dims=-1)
    assert float(structure_distance(recoloured, src)) < 1e-5
    assert float(structure_distance(shifted, src)) > 0.5


def test_attention_injection_acts_and_missing_blocks_are_errors(host, result):
    from toy import task as S
    from toy.edit import EditSettings, ToyEditor

    ed = ToyEditor(host)
    s = EditSettings(steps=6, refine_steps=2)
    sigmas = ed.sigmas(s.steps)
    inverted = ed.invert(S.latents([0], ed.task, s.seed), sigmas, s.refine_steps)
    embeds = ed.embed([2], s.seed)
    with_attn = ed.edit(inverted, embeds, sigmas, s, preserve=True)
    no_attn = ed.edit(inverted, embeds, sigmas, EditSettings(steps=6, attention_fraction=0.0), preserve=True)
    assert (with_attn - no_attn).abs().max() > 1e-3          # the q/k copy at the asked block changes the edit
    ed.feature_block = 4                                      # SD1.5's default: no such block in the toy UNet
    with pytest.raises(EditInputError, match="feature_block 4 does not exist in this model: its UNet has 4 decoder"):
        ed.edit(inverted, embeds, sigmas, s, preserve=True)
    ed.feature_block, ed.attention_block = 1, 4
    with pytest.raises(EditInputError, match="attention_block 4 does not exist"):
        ed.edit(inverted, embeds, sigmas, s, preserve=True)
