"""Audio embeddings → CLIP ViT-H image embeddings (unCLIP, IP-Adapter): direction kept, length set, wrong sources
refused with the fix."""
import pytest
import torch

from c2d_core.errors import AdapterMismatchError
from c2d_core.image_space import DEFAULT_SCALE, image_embeds, image_space_of


def test_rows_keep_their_direction_and_get_the_scale():
    e = torch.randn(3, 1024) * torch.tensor([[0.3], [1.0], [7.0]])  # blends are not unit length
    out = image_embeds(e, "imagebind_huge")
    torch.testing.assert_close(out.norm(dim=-1), torch.full((3,), DEFAULT_SCALE))
    torch.testing.assert_close(torch.cosine_similarity(out, e, dim=-1), torch.ones(3))
    torch.testing.assert_close(image_embeds(e, "imagebind_huge", scale=5.0), out / 4)
    assert image_space_of("imagebind_huge").startswith("OpenCLIP ViT-H/14") and image_space_of("msclap-2022") is None


def test_clap_embeddings_wrong_widths_and_empty_rows_are_refused():
    with pytest.raises(AdapterMismatchError, match=r"made by 'msclap-2022' \(1024-d\), which does not live in a CLIP "
                                                   r"image space.*imagebind_huge.pth"):
        image_embeds(torch.randn(1, 1024), "msclap-2022")
    with pytest.raises(AdapterMismatchError, match=r"1024-d, but these embeddings have shape \(1, 512\)"):
        image_embeds(torch.randn(1, 512), "imagebind_huge")
    with pytest.raises(AdapterMismatchError, match="zero or not finite"):
        image_embeds(torch.zeros(2, 1024), "imagebind_huge")
