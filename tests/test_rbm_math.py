"""Exact identities of the RBM maths: brute-force sums over tiny models, autograd, closed forms."""

import itertools
import math

import pytest
import torch
from scipy import integrate

from facerbm import units
from facerbm.rbm import RBM, RBMConfig


def tiny_model(visible="gaussian", hidden="binary", V=5, H=4, sigma=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = RBM(RBMConfig(V, H, hidden=hidden, visible=visible, sigma=sigma), dtype=torch.float64)
    with torch.no_grad():
        model.W.normal_(0, 0.7, generator=g)
        model.b.normal_(0, 0.5, generator=g)
        model.c.normal_(0, 0.5, generator=g)
    return model, g


def all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


@pytest.mark.parametrize("visible,sigma", [("gaussian", 1.0), ("gaussian", 0.4), ("bernoulli", 1.0)])
def test_free_energy_matches_sum_over_hidden_states(visible, sigma):
    model, g = tiny_model(visible=visible, sigma=sigma)
    v = torch.randn(7, 5, generator=g, dtype=torch.float64)
    hs = all_binary(4)  # (16, H)
    # E for every (v, h) pair: (7, 16)
    E = torch.stack([model.energy(v, h.expand(7, -1)) for h in hs], dim=1)
    expected = -torch.logsumexp(-E, dim=1)
    torch.testing.assert_close(model.free_energy(v), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("visible", ["gaussian", "bernoulli"])
def test_hidden_conditional_matches_energy(visible):
    model, g = tiny_model(visible=visible)
    v = torch.randn(3, 5, generator=g, dtype=torch.float64)
    hs = all_binary(4)
    E = torch.stack([model.energy(v, h.expand(3, -1)) for h in hs], dim=1)  # (3, 16)
    p = torch.softmax(-E, dim=1)
    marginal = p @ hs  # (3, H): P(h_j = 1 | v) by enumeration
    torch.testing.assert_close(model.mean_hidden(v), marginal, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 0.3])
def test_gaussian_visible_conditional_matches_energy(sigma):
    # E(v, h) is quadratic in v with minimum at b + σWh and curvature 1/σ²:
    # E(v, h) − E(m, h) = ‖v − m‖² / 2σ² for every v.
    model, g = tiny_model(sigma=sigma)
    h = all_binary(4)[[3, 9, 14]]
    m = model.mean_visible(h)
    v = torch.randn(3, 5, generator=g, dtype=torch.float64)
    lhs = model.energy(v, h) - model.energy(m, h)
    rhs = ((v - m) ** 2).sum(1) / (2 * sigma**2)
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hidden", ["binary", "nrelu"])
@pytest.mark.parametrize("visible", ["gaussian", "bernoulli"])
def test_free_energy_gradient_matches_autograd(visible, hidden):
    sigma = 0.7 if visible == "gaussian" else 1.0
    model, g = tiny_model(visible=visible, hidden=hidden, sigma=sigma)
    v = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    for p in model.parameters():
        p.requires_grad_(True)
    model.free_energy(v).sum().backward()
    x = model.hidden_input(v).detach()
    act = torch.sigmoid(x) if hidden == "binary" else torch.nn.functional.softplus(x)
    vs = v / model.sigma
    torch.testing.assert_close(model.W.grad, -(vs.T @ act), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(model.c.grad, -act.sum(0), rtol=1e-9, atol=1e-10)
    if visible == "gaussian":
        expected_b = -((v - model.b.detach()) / sigma**2).sum(0)
    else:
        expected_b = -v.sum(0)
    torch.testing.assert_close(model.b.grad, expected_b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("x", [-30.0, -5.0, -1.0, -1e-3, 0.0, 0.4, 1.0, 3.0, 10.0, 40.0])
def test_nrelu_log_partition_is_integral_of_softplus(x):
    quad, _ = integrate.quad(
        lambda u: math.log1p(math.exp(u)) if u < 30 else u,
        -60,
        x,
        epsabs=1e-13,
        epsrel=1e-13,
        limit=200,
    )
    got = units.nrelu_log_partition(torch.tensor(x, dtype=torch.float64)).item()
    assert got == pytest.approx(quad, rel=1e-10, abs=1e-12)


def test_nrelu_log_partition_derivative_is_softplus_and_close_to_stepped_sigmoid():
    x = torch.linspace(-8, 12, 81, dtype=torch.float64, requires_grad=True)
    phi = units.nrelu_log_partition(x)
    (grad,) = torch.autograd.grad(phi.sum(), x)
    torch.testing.assert_close(grad, torch.nn.functional.softplus(x.detach()), rtol=1e-10, atol=1e-12)
    # The midpoint rule for ∫ softplus(x − t) dt over t ≥ 0 errs by about sigmoid(x)/24.
    n = torch.arange(1, 200, dtype=torch.float64)
    stepped = torch.nn.functional.softplus(x.detach()[:, None] - n + 0.5).sum(1)
    assert (stepped - phi.detach()).abs().max() < 0.05


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.7, 2.5, 8.0])
def test_nrelu_sample_mean_and_variance_match_theory(x):
    n = 200_000
    g = torch.Generator().manual_seed(1)
    xs = torch.full((n,), x, dtype=torch.float64)
    h = units.hidden_sample(xs, "nrelu", g)
    assert (h >= 0).all()
    mean, var = units.nrelu_mean(xs[:1]).item(), units.nrelu_variance(xs[:1]).item()
    # Tolerances from the sampling distribution: 5 standard errors of the mean and variance.
    se_mean = math.sqrt(var / n)
    m4 = ((h - h.mean()) ** 4).mean().item()
    se_var = math.sqrt(max(m4 - var**2, 1e-30) / n)
    assert h.mean().item() == pytest.approx(mean, abs=5 * se_mean + 1e-12)
    assert h.var().item() == pytest.approx(var, abs=5 * se_var + 1e-12)


def test_binary_sample_frequency_matches_sigmoid():
    n = 100_000
    x = torch.tensor([-2.0, 0.0, 1.5], dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    h = units.hidden_sample(x.expand(n, 3), "binary", g)
    p = torch.sigmoid(x)
    se = (p * (1 - p) / n).sqrt()
    assert ((h.mean(0) - p).abs() < 5 * se).all()


def test_gibbs_chain_reaches_exact_distribution_of_tiny_bernoulli_rbm():
    model, g = tiny_model(visible="bernoulli", V=4, H=3)
    vs = all_binary(4)
    log_p = -model.free_energy(vs)
    p = torch.softmax(log_p, 0)  # exact p(v) over all 16 visible states
    chains = 20_000
    v = (torch.rand(chains, 4, generator=g, dtype=torch.float64) < 0.5).double()
    v = model.gibbs(v, 60, g)
    idx = (v * torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=torch.float64)).sum(1).long()
    freq = torch.bincount(idx, minlength=16).double() / chains
    tv = 0.5 * (freq - p).abs().sum().item()
    # Expected TV from sampling noise alone is about 0.5 Σ sqrt(2 p (1 − p) / (π n)) ≈ 0.01.
    assert tv < 0.03


def test_gaussian_visible_samples_have_conditional_mean_and_sigma():
    model, g = tiny_model(sigma=0.5)
    h = all_binary(4)[[5]].expand(50_000, -1)
    v = model.sample_visible(h, g)
    mean = model.mean_visible(h[:1])[0]
    assert ((v.mean(0) - mean).abs() < 5 * 0.5 / math.sqrt(50_000)).all()
    assert ((v.std(0) - 0.5).abs() < 0.01).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_visible": 0}, "n_visible"),
        ({"n_visible": 4, "n_hidden": 2.5}, "n_hidden"),
        ({"n_visible": 4, "hidden": "relu"}, "hidden"),
        ({"n_visible": 4, "visible": "poisson"}, "visible"),
        ({"n_visible": 4, "sigma": -1.0}, "sigma"),
        ({"n_visible": 4, "sigma": float("nan")}, "sigma"),
        ({"n_visible": 4, "visible": "bernoulli", "sigma": 2.0}, "sigma"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RBMConfig(**kwargs)
