"""The DiT branch in pure torch: block replacement entries, the image slice of a single-stream block (text tokens
untouched bit for bit), and the DiT placement presets."""
import pytest
import torch

from c2d_core.config import DIT_PLACEMENTS, AdapterConfig, BlockSpec
from c2d_core.dit_patch import TEXT_TOKENS, DiTBlockBranch
from c2d_core.errors import UnsupportedModelError
from c2d_core.factory import new_adapter
from c2d_core.families import family_layout
from c2d_core.patch import AudioAttentionPatch
from c2d_core.placement import select_blocks

BLOCKS = (BlockSpec("double_0", 8, 2, 4), BlockSpec("single_0", 8, 2, 4))


def _patch(blocks=BLOCKS, family="flux") -> AudioAttentionPatch:
    cfg = AdapterConfig(clap_dim=16, context_dim=8, hidden_dim=8, gate_init=0.5, base_family=family, blocks=blocks)
    return AudioAttentionPatch(new_adapter(cfg, seed=0), torch.randn(1, 16))


def _run(entry, img, options, txt=None):
    args = {"img": img, "txt": txt, "transformer_options": options}
    return entry(args, {"original_block": lambda a: {"img": a["img"] * 1.0, "txt": a["txt"]}})["img"]


def test_entries_of_a_dit_adapter():
    entries = _patch().transformer_patches()["patches_replace"]["dit"]
    assert {k: (e.stream, e.key, e.owner) for k, e in entries.items()} == {
        ("double_block", 0): ("double", "double_0", True), ("single_block", 0): ("single", "single_0", False)}
    only_single = _patch(BLOCKS[1:]).transformer_patches()["patches_replace"]["dit"]
    assert only_single[("double_block", 0)].key is None           # records the text length only
    assert _patch().hooks() == {}                                   # no UNet hooks for a DiT family


@pytest.mark.parametrize("options", [{"img_slice": [3, 8]}, {TEXT_TOKENS: 3}], ids=["img_slice", "recorded"])
def test_single_stream_branch_acts_on_the_image_slice_only(options):
    entries = _patch().transformer_patches()["patches_replace"]["dit"]
    joint = torch.randn(2, 8, 8)
    out = _run(entries[("single_block", 0)], joint, dict(options, cond_or_uncond=[0, 1]))
    assert torch.equal(out[:, :3], joint[:, :3]) and (out[:, 3:] - joint[:, 3:]).abs().min() > 0
    recorded = {"cond_or_uncond": [0]}
    _run(entries[("double_block", 0)], torch.randn(1, 5, 8), recorded, txt=torch.randn(1, 3, 8))
    assert recorded[TEXT_TOKENS] == 3                               # double blocks tell the single ones


def test_single_stream_block_without_the_text_length_is_a_clear_error():
    entry = DiTBlockBranch(_patch(), "single", "single_0")
    with pytest.raises(UnsupportedModelError, match="where its image tokens start"):
        _run(entry, torch.randn(1, 8, 8), {"cond_or_uncond": [0]})


def test_dit_placement_presets():
    blocks = family_layout("flux").blocks()
    assert [len(select_blocks(blocks, p, DIT_PLACEMENTS)) for p in ("all", "double", "single", "light")] == \
        [57, 19, 38, 19]
    assert len(select_blocks(family_layout("sd3").blocks(), "light", DIT_PLACEMENTS)) == 38   # double blocks only
    with pytest.raises(ValueError, match=r"'mid_up'.*\['double_0'"):
        select_blocks(blocks, "mid_up", DIT_PLACEMENTS)


def test_z_image_attaches_after_each_layer():
    """Z-Image calls patches["double_block"] after every layer with its image tokens; {} leaves the layer as it is."""
    (entry,) = _patch(BLOCKS[:1], family="z_image").transformer_patches()["patches"]["double_block"]
    img = torch.randn(1, 5, 8)
    options = {"cond_or_uncond": [0]}
    out = entry({"img": img, "txt": None, "block_index": 0, "transformer_options": options})
    assert out["img"].shape == img.shape and (out["img"] - img).abs().min() > 0
    assert entry({"img": img, "txt": None, "block_index": 1, "transformer_options": options}) == {}
