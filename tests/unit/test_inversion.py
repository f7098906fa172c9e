"""DDIM inversion math in float64 with a deterministic, nonlinear noise model."""
import pytest
import torch

from c2d_core.inversion import euler_sample, invert, keep_outside_mask, resize_mask


def make_denoiser(seed=0, dim=4 * 8 * 8):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim ** 0.5
    b = torch.randn(dim, generator=g, dtype=torch.float64)
    calls = []

    def denoise(x, sigma):  # eps(x, σ) = tanh(W x / sqrt(1+σ²) + b): smooth, nonlinear, σ-dependent
        calls.append(1)
        flat = x.reshape(x.shape[0], -1)
        s = sigma.reshape(-1, 1)
        eps = torch.tanh(flat @ W.T / torch.sqrt(1 + s ** 2) + b)
        return x - s.view(-1, 1, 1, 1) * eps.view_as(x)
    return denoise, calls


def karras(n, smin=0.03, smax=14.6, rho=7.0):
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    s = (smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)])


def test_refined_inversion_reconstructs_exactly_in_float64():
    denoise, _ = make_denoiser()
    x0 = torch.randn(2, 4, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sigmas = karras(20)
    traj = invert(denoise, x0, sigmas, refine_iters=60, keep_device=None)
    assert len(traj.latents) == 21 and torch.equal(traj.source, x0)
    assert traj.noise_latent.std() > 5  # it is a noise-level latent at sigma_max
    rec = euler_sample(denoise, traj.noise_latent, sigmas)
    plain = euler_sample(denoise, invert(denoise, x0, sigmas, refine_iters=0, keep_device=None).noise_latent, sigmas)
    err, err_plain = (rec - x0).abs().max().item(), (plain - x0).abs().max().item()
    assert err < 1e-8, err
    assert err_plain > 100 * err  # refinement is what makes it exact


def test_trajectory_latents_are_the_sampling_path():
    """Sampling from the noise latent passes through every kept latent (edit pass relies on it)."""
    denoise, _ = make_denoiser(3)
    x0 = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    sigmas = karras(8)
    traj = invert(denoise, x0, sigmas, refine_iters=60, keep_device=None)
    x = traj.noise_latent
    for i in range(8):
        x = euler_sample(denoise, x, sigmas[i:i + 2])
        torch.testing.assert_close(x, traj.at(i + 1), atol=1e-8, rtol=0)


def test_model_calls_per_step():
    denoise, calls = make_denoiser()
    invert(denoise, torch.zeros(1, 4, 8, 8, dtype=torch.float64), karras(10), refine_iters=2)
    assert len(calls) == 10 * 3


@pytest.mark.parametrize("sigmas", [torch.tensor([1.0]), torch.tensor([0.0, 1.0, 2.0]), torch.ones(2, 2)])
def test_bad_schedules(sigmas):
    denoise, _ = make_denoiser()
    with pytest.raises(ValueError, match="sigmas"):
        invert(denoise, torch.zeros(1, 4, 8, 8), sigmas)


def test_mask_blend_and_resize():
    latent = torch.zeros(2, 4, 8, 16)
    m = torch.zeros(64, 128)
    m[:, 64:] = 1
    small = resize_mask(m, latent)
    assert small.shape == (1, 1, 8, 16) and small[..., :7].max() == 0 and small[..., 9:].min() == 1
    x, src = torch.ones_like(latent), torch.zeros_like(latent)
    out = keep_outside_mask(x, src, small)
    assert out[..., :7].abs().max() == 0 and out[..., 9:].eq(1).all()
    with pytest.raises(ValueError, match="mask is 64×64"):
        resize_mask(torch.zeros(64, 64), latent)
    with pytest.raises(ValueError, match="3 masks"):
        resize_mask(torch.zeros(3, 64, 128), latent)


def test_inversion_reports_progress_per_step_including_repeated_sigmas():
    seen = []
    invert(lambda x, s: 0.5 * x, torch.randn(1, 4, 8, 8), torch.tensor([2.0, 1.0, 1.0, 0.5, 0.0]),
           on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
