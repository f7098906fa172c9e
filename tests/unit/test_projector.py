import pytest
import torch

from c2d_core.errors import AdapterMismatchError
from c2d_core.projector import AudioProjector


@pytest.mark.parametrize("n_mlps", [4, 1])
def test_shapes(n_mlps):
    p = AudioProjector(clap_dim=512, context_dim=768, n_tokens=8, n_mlps=n_mlps, hidden_dim=64)
    out = p(torch.randn(3, 512))
    assert out.shape == (3, 8, 768)
    assert len(p.mlps) == n_mlps
    # LayerNorm over the context width: each token ~zero-mean
    assert out.mean(-1).abs().max() < 1e-4


def test_each_mlp_owns_its_two_tokens():
    p = AudioProjector(clap_dim=8, context_dim=6, n_tokens=8, n_mlps=4, hidden_dim=16)
    e = torch.randn(1, 8)
    base = p(e)
    with torch.no_grad():
        p.mlps[1][2].bias.add_(1.0)
    changed = (p(e) - base).abs().sum(-1)[0]
    assert changed[2:4].min() > 0 and changed[[0, 1, 4, 5, 6, 7]].max() == 0


def test_clap_width_mismatch():
    p = AudioProjector(clap_dim=512, context_dim=768, hidden_dim=16)
    with pytest.raises(AdapterMismatchError, match="1024"):
        p(torch.randn(1, 1024))


def test_tokens_not_divisible():
    with pytest.raises(AssertionError):
        AudioProjector(clap_dim=8, context_dim=8, n_tokens=8, n_mlps=3)


def test_block_weight_presets_and_custom_overrides():
    import pytest as _pytest

    from c2d_core.families import family_layout
    from c2d_core.placement import block_weights
    blocks = family_layout("sd15").blocks()
    w = block_weights(blocks, "up", "middle=1.5, output_11=0, output_3_0=0.25")
    assert w["input_1_0"] == 0 and w["middle_0_0"] == 1.5 and w["output_11_0"] == 0 and w["output_3_0"] == 0.25
    assert w["output_6_0"] == 1 and len(w) == 16
    assert set(block_weights(blocks).values()) == {1.0}
    for bad in ("middle", "mid=1", "output_12=1", "middle=x"):
        with _pytest.raises(ValueError, match="block weight"):
            block_weights(blocks, "all", bad)
