"""The two-factor task's own scoring (toy/two_factor.py) reads both factors back from real latents; its sounds carry
the hiss in the named band. The experiment itself (4 MLPs vs 1) is benchmarks/train_synthetic_flux.py."""
import numpy as np
import torch

from toy import task as S
from toy import two_factor as T
from toy.flux import task


def test_tint_is_orthogonal_to_every_colour_and_both_factors_read_back():
    t = task()
    assert torch.allclose(S.colours(t.channels) @ T.tint_direction(t.channels), torch.zeros(S.N_CLASSES), atol=1e-6)
    colours = [k for k in range(S.N_CLASSES) for _ in range(2 * T.N_TINTS)]
    tints = [i % T.N_TINTS for i in range(len(colours))]
    x = T.latents(colours, tints, t, seed=3)
    assert T.predict_tint(x, t).tolist() == tints
    assert S.CentroidClassifier(x, colours).predict(x).tolist() == colours
    flipped = T.latents(colours, [1 - k for k in tints], t, seed=3)
    assert T.predict_tint(flipped, t).tolist() == [1 - k for k in tints]


def test_the_hiss_sits_in_its_band():
    for tint, (lo, hi) in enumerate(T.HISS_BANDS):
        x = T.clip(3, tint, np.random.default_rng(0), (1.0, 1.0))[0]      # 2400 Hz tone + hiss
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / S.SAMPLE_RATE)
        other_lo, other_hi = T.HISS_BANDS[1 - tint]
        assert power[(f >= lo) & (f <= hi)].sum() > 100 * power[(f >= other_lo) & (f <= other_hi)].sum()
