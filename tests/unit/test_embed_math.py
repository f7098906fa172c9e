import re

import pytest
import torch
import torch.nn.functional as F

from c2d_core.embed_math import blend, slerp
from c2d_core.embeds import AudioEmbeds
from c2d_core.errors import AdapterMismatchError, AudioInputError


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_blend_is_normalised_weighted_sum():
    a, b = unit(1, 8, seed=1), unit(1, 8, seed=2)
    out = blend([a, b], [0.7, 0.3])
    torch.testing.assert_close(out, F.normalize(0.7 * a + 0.3 * b, dim=-1))
    assert torch.allclose(blend([a, b], [1.0, 0.0]), a)
    assert F.cosine_similarity(blend([a, b], [1.0, -0.5]), b).item() < F.cosine_similarity(a, b).item()
    with pytest.raises(AudioInputError, match="cancel"):
        blend([a, a], [1.0, -1.0])
    with pytest.raises(AdapterMismatchError, match="same CLAP"):
        blend([a, unit(1, 16)], [1, 1])


def test_slerp_endpoints_and_constant_angle_steps():
    a, b = unit(1, 8, seed=3), unit(1, 8, seed=4)
    torch.testing.assert_close(slerp(a, b, 0.0), a, atol=1e-6, rtol=0)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-6, rtol=0)
    mids = [slerp(a, b, t) for t in (0.25, 0.5, 0.75)]
    angles = [torch.acos(F.cosine_similarity(x, y).clamp(-1, 1)).item() for x, y in zip([a, *mids], [*mids, b])]
    assert max(angles) - min(angles) < 1e-4 and all(abs(m.norm() - 1) < 1e-6 for m in mids)


@pytest.mark.parametrize("shape", [(512,), (2, 1024), (1, 2, 512)])
def test_audio_embeds_of_the_wrong_shape_get_a_clear_error(shape):
    with pytest.raises(AudioInputError, match=rf"shape {re.escape(str(shape))} .*expected \(N, 512\)"):
        AudioEmbeds(torch.zeros(shape), "clap", 512)
