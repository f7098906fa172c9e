"""Embeddings preview: similarity matrix image, colour map, loudness strip, errors."""
import pytest
import torch

from c2d_core.embeds_preview import colormap, render_preview, similarity_matrix


def test_colormap_brightness_rises_with_similarity():
    rg = colormap(torch.linspace(0, 1, 101))[:, :2].sum(-1)
    assert (rg[1:] > rg[:-1]).all()


def test_two_sounds_make_two_blocks_and_the_strip_follows_loudness():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 32, generator=g), torch.randn(1, 32, generator=g)
    e = torch.cat([a + 0.05 * torch.randn(6, 32, generator=g), b + 0.05 * torch.randn(6, 32, generator=g)])
    sim = similarity_matrix(e)
    assert sim[:6, :6].min() > sim[:6, 6:].max()
    img = render_preview(e, torch.tensor([0.0] * 6 + [1.0] * 6), size=120)
    assert img.shape == (144, 120, 3) and 0 <= img.min() and img.max() <= 1
    strip = img[120:, :, 0]
    assert strip[:, :60].max() < 0.2 and strip[:, 60:].min() > 0.9   # silent half: no bars; loud half: full


def test_preview_errors():
    with pytest.raises(ValueError, match="loudness"):
        render_preview(torch.randn(4, 8), [0.5] * 3)
    with pytest.raises(ValueError, match="frames, dim"):
        render_preview(torch.randn(8), None)
