"""Log-likelihood: exact log Z against brute force, AIS against exact log Z, normalisation, PPCA."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from facerbm.likelihood import (
    NRELU_MESSAGE,
    AISResult,
    ais_beta_schedule,
    ais_log_partition,
    exact_log_partition,
    log_likelihood,
    mean_log_likelihood,
    ppca_log_likelihood,
)
from facerbm.rbm import RBM, RBMConfig


@pytest.fixture(autouse=True)
def one_thread():
    # The AIS loops are thousands of tiny matrix products: extra threads only contend on a shared machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def random_model(visible, V, H, *, w_std=0.7, sigma=1.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    model = RBM(RBMConfig(V, H, hidden="binary", visible=visible, sigma=sigma), dtype=dtype)
    with torch.no_grad():
        model.W.normal_(0, w_std, generator=g)
        model.b.normal_(0, 0.5, generator=g)
        model.c.normal_(0, 0.5, generator=g)
    return model


def all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def grid_integral_of_exp(log_f, centres, half_width, step):
    """∫ exp(log_f(v)) dv over a V-dim cube by the trapezoid rule on a uniform grid.

    For integrands that are smooth and negligible at the edges (Gaussian mixtures here) the trapezoid
    rule converges geometrically in 1/step, so a step of σ/4 is accurate far beyond 1e-6.
    """
    axes = [
        torch.arange(c - half_width, c + half_width + step / 2, step, dtype=torch.float64) for c in centres
    ]
    grid = torch.cartesian_prod(*axes)  # (G, V)
    log_vals = torch.cat([log_f(chunk) for chunk in grid.split(1 << 16)])
    return torch.logsumexp(log_vals, 0).item() + len(centres) * math.log(step)


def exact_samples(model, n, generator):
    """n exact draws from a small binary-hidden RBM: h from its marginal by enumeration, then v | h."""
    hs = all_binary(model.config.n_hidden)
    Wh = hs @ model.W.T  # (2^H, V)
    if model.config.visible == "gaussian":
        log_p_h = hs @ model.c + Wh @ model.b / model.sigma + 0.5 * (Wh**2).sum(1)
    else:
        log_p_h = hs @ model.c + torch.nn.functional.softplus(model.b + Wh).sum(1)
    idx = torch.multinomial(torch.softmax(log_p_h, 0), n, replacement=True, generator=generator)
    return model.sample_visible(hs[idx], generator)


# -- exact log Z ---------------------------------------------------------------------------------------
def test_exact_log_partition_bernoulli_matches_sum_over_both_layers():
    model = random_model("bernoulli", V=6, H=5)
    vs, hs = all_binary(6), all_binary(5)
    pairs_v = vs.repeat_interleave(len(hs), dim=0)  # every (v, h) pair: (64 * 32, V) and (64 * 32, H)
    pairs_h = hs.repeat(len(vs), 1)
    brute = torch.logsumexp(-model.energy(pairs_v, pairs_h), 0).item()
    for over in ("hidden", "visible", "auto"):
        assert exact_log_partition(model, over=over) == pytest.approx(brute, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 0.7])
def test_exact_log_partition_gaussian_matches_numerical_integral(sigma):
    model = random_model("gaussian", V=3, H=4, sigma=sigma, seed=1)
    means = model.mean_visible(all_binary(4))  # (16, V): centres b + σWh of the mixture components
    centre = ((means.max(0).values + means.min(0).values) / 2).tolist()
    half = ((means.max(0).values - means.min(0).values) / 2).max().item() + 9 * sigma
    integral = grid_integral_of_exp(lambda v: -model.free_energy(v), centre, half, sigma / 4)
    assert exact_log_partition(model) == pytest.approx(integral, rel=1e-6)


def test_exact_log_partition_float32_model_is_computed_in_float64():
    model64 = random_model("gaussian", V=8, H=6, sigma=0.5)
    model32 = RBM(model64.config, dtype=torch.float32)
    model32.load_state_dict({k: t.float() for k, t in model64.state_dict().items()})
    # The float32 rounding of the parameters moves log Z by ~1e-7 relative, not the 1e-3 of float32 sums.
    assert exact_log_partition(model32) == pytest.approx(exact_log_partition(model64), rel=1e-6)


# -- log-likelihood ------------------------------------------------------------------------------------
def test_likelihood_of_bernoulli_model_sums_to_one():
    model = random_model("bernoulli", V=6, H=5, seed=2)
    log_p = log_likelihood(model, all_binary(6), exact_log_partition(model))
    assert log_p.shape == (64,) and log_p.dtype == torch.float64
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-12)


def test_likelihood_of_gaussian_model_integrates_to_one():
    sigma = 0.6
    model = random_model("gaussian", V=2, H=5, sigma=sigma, seed=3)
    log_z = exact_log_partition(model)
    means = model.mean_visible(all_binary(5))
    centre = ((means.max(0).values + means.min(0).values) / 2).tolist()
    half = ((means.max(0).values - means.min(0).values) / 2).max().item() + 9 * sigma
    total = grid_integral_of_exp(lambda v: log_likelihood(model, v, log_z), centre, half, sigma / 4)
    assert total == pytest.approx(0.0, abs=1e-9)


def test_mean_log_likelihood_batches_agree_and_accept_ais_result():
    model = random_model("gaussian", V=4, H=3)
    v = torch.randn(37, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_z = exact_log_partition(model)
    expected = log_likelihood(model, v, log_z).mean().item()
    assert mean_log_likelihood(model, v, log_z, batch_size=5) == pytest.approx(expected, rel=1e-14)
    fake = AISResult(log_z, 0.0, log_z, log_z, 0.0, torch.zeros(2), 2, 1)
    assert mean_log_likelihood(model, v, fake) == pytest.approx(expected, rel=1e-14)


# -- AIS -----------------------------------------------------------------------------------------------
def test_ais_is_exact_without_interactions():
    # W = 0 and b = b_A: every intermediate model differs only by the constant Σ softplus(βc), so every
    # chain has the same weight Σ softplus(c) − H log 2 and the estimate is exact with zero spread.
    model = random_model("bernoulli", V=7, H=4)
    data = (torch.rand(500, 7, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    with torch.no_grad():
        model.W.zero_()
        p = data.mean(0).clamp(1e-3, 1 - 1e-3)
        model.b.copy_(torch.log(p) - torch.log1p(-p))
    res = ais_log_partition(
        model,
        n_chains=10,
        n_betas=50,
        base="data",
        base_data=data,
        generator=torch.Generator().manual_seed(0),
    )
    assert res.log_z == pytest.approx(exact_log_partition(model), abs=1e-10)
    assert res.log_z_std_err == pytest.approx(0.0, abs=1e-12)
    assert res.effective_sample_size == pytest.approx(10.0)


@pytest.mark.parametrize(
    "visible,V,H,w_std,sigma",
    [("bernoulli", 40, 14, 1.5, 1.0), ("gaussian", 25, 12, 0.5, 1.0), ("gaussian", 20, 10, 0.8, 0.5)],
)
def test_ais_agrees_with_exact_log_partition(visible, V, H, w_std, sigma):
    model = random_model(visible, V, H, w_std=w_std, sigma=sigma, seed=4)
    exact = exact_log_partition(model)
    g = torch.Generator().manual_seed(5)
    data = exact_samples(model, 2000, g)
    res = ais_log_partition(model, n_chains=100, n_betas=3000, base="data", base_data=data, generator=g)
    print(
        f"{visible} V={V} H={H}: exact {exact:.4f}, AIS {res.log_z:.4f} ± {res.log_z_std_err:.4f} "
        f"[{res.log_z_lower:.4f}, {res.log_z_upper:.4f}], base {res.log_z_base:.4f}, "
        f"ESS {res.effective_sample_size:.1f}"
    )
    # The problem is not trivial: plain importance sampling from the base (a single step, β: 0 -> 1)
    # has log weights spread over about a nat or more, so AIS's intermediate distributions do real work.
    one_step = ais_log_partition(
        model, n_chains=1000, n_betas=1, schedule="linear", base_data=data, generator=g
    )
    print(f"one-step log-weight std {one_step.log_weights.std():.2f}")
    assert one_step.log_weights.std() > 0.8
    # Over repeated seeds the AIS error here is about 0.01 nats (its reported standard error).
    assert abs(res.log_z - exact) < 0.05
    # The reported spread is positive, small, and matches the spread of the log weights: when they vary
    # by much less than a nat, std(exp w)/mean(exp w) ≈ std(w), so the delta-method error ≈ std(w)/√M.
    assert 0 < res.log_z_std_err < 0.05
    naive = res.log_weights.std().item() / math.sqrt(res.n_chains)
    assert 0.7 * naive < res.log_z_std_err < 1.5 * naive
    assert res.log_z_lower < res.log_z < res.log_z_upper
    assert res.log_weights.shape == (100,) and res.n_betas == 3000


def test_ais_standard_error_predicts_spread_between_independent_runs():
    # A statistical check: two independent estimates should differ by a few combined standard errors.
    model = random_model("bernoulli", V=30, H=12, w_std=1.0, seed=6)
    data = exact_samples(model, 2000, torch.Generator().manual_seed(7))
    runs = [
        ais_log_partition(
            model,
            n_chains=50,
            n_betas=1000,
            base="data",
            base_data=data,
            generator=torch.Generator().manual_seed(s),
        )
        for s in (8, 9)
    ]
    combined = math.hypot(runs[0].log_z_std_err, runs[1].log_z_std_err)
    assert abs(runs[0].log_z - runs[1].log_z) < 5 * combined


def test_ais_uniform_base_and_explicit_schedule():
    model = random_model("bernoulli", V=20, H=10, w_std=0.3, seed=10)
    betas = torch.linspace(0, 1, 2001, dtype=torch.float64) ** 0.5  # finer near β = 0
    res = ais_log_partition(
        model, n_chains=100, n_betas=betas, base="uniform", generator=torch.Generator().manual_seed(0)
    )
    assert res.n_betas == 2000
    assert res.log_z_base == pytest.approx(30 * math.log(2.0))
    assert abs(res.log_z - exact_log_partition(model)) < 0.05


def test_ais_is_reproducible_with_the_same_generator_seed():
    model = random_model("gaussian", V=5, H=4, w_std=0.3)
    data = torch.randn(100, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = [
        ais_log_partition(
            model, n_chains=4, n_betas=20, base_data=data, generator=torch.Generator().manual_seed(3)
        )
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0].log_weights, runs[1].log_weights, rtol=0, atol=0)


@pytest.mark.parametrize("n", [3, 100, 14500])
def test_paper_schedule_shape(n):
    betas = ais_beta_schedule(n)
    assert betas.shape == (n + 1,) and betas[0] == 0 and betas[-1] == 1
    assert (betas.diff() > 0).all()
    if n == 14500:  # the paper's three stretches, steps of 1e-3, 1e-4, 1e-5
        steps = betas.diff()
        for (lo, hi), step in zip([(0, 500), (500, 4500), (4500, 14500)], [1e-3, 1e-4, 1e-5], strict=True):
            torch.testing.assert_close(steps[lo:hi], torch.full((hi - lo,), step, dtype=torch.float64))


# -- refusals ------------------------------------------------------------------------------------------
def test_nrelu_models_are_refused_with_the_reason():
    model = RBM(RBMConfig(4, 3, hidden="nrelu", visible="gaussian"), dtype=torch.float64)
    v = torch.zeros(2, 4, dtype=torch.float64)
    calls = [
        lambda: exact_log_partition(model),
        lambda: ais_log_partition(model, base="uniform", generator=torch.Generator()),
        lambda: log_likelihood(model, v, 0.0),
        lambda: mean_log_likelihood(model, v, 0.0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="no tractable form") as info:
            call()
        assert NRELU_MESSAGE in str(info.value)


def test_too_many_units_for_enumeration_are_refused():
    model = RBM(RBMConfig(3, 25, hidden="binary", visible="gaussian"))
    with pytest.raises(ValueError, match=r"n_hidden=25 .*ais_log_partition"):
        exact_log_partition(model)
    big_v = RBM(RBMConfig(30, 25, hidden="binary", visible="bernoulli"))
    with pytest.raises(ValueError, match=r"n_visible=30 .*ais_log_partition"):
        exact_log_partition(big_v, over="visible")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"base": "data"}, "base_data"),
        ({"base": "data", "base_data": torch.zeros(5, 3)}, "base_data"),
        ({"base": "data", "base_data": torch.full((5, 4), 2.0)}, r"base_data must lie in \[0, 1\]"),
        ({"base": "uniform", "base_data": torch.zeros(5, 4)}, "base_data"),
        ({"base": "gaussian"}, "base"),
        ({"base": "uniform", "n_chains": 1}, "n_chains"),
        ({"base": "uniform", "n_betas": 0, "schedule": "linear"}, "n_betas"),
        ({"base": "uniform", "n_betas": 2}, "n_betas"),
        ({"base": "uniform", "schedule": "geometric"}, "schedule"),
        ({"base": "uniform", "n_betas": torch.tensor([0.0, 0.7, 0.5, 1.0])}, "n_betas"),
        ({"base": "uniform", "n_betas": torch.tensor([0.1, 1.0])}, "n_betas"),
    ],
)
def test_ais_rejects_bad_arguments(kwargs, match):
    model = RBM(RBMConfig(4, 3, hidden="binary", visible="bernoulli"), dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        ais_log_partition(model, generator=torch.Generator(), **kwargs)


def test_other_bad_arguments_name_themselves():
    model = RBM(RBMConfig(4, 3, hidden="binary", visible="gaussian"), dtype=torch.float64)
    with pytest.raises(TypeError, match="generator"):
        ais_log_partition(model, base="uniform", generator=0)
    with pytest.raises(ValueError, match="over"):
        exact_log_partition(model, over="visible")
    with pytest.raises(ValueError, match="v must have shape"):
        log_likelihood(model, torch.zeros(2, 5), 0.0)
    with pytest.raises(ValueError, match="log_z"):
        log_likelihood(model, torch.zeros(2, 4), float("nan"))


# -- PPCA ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N, V", [(60, 6), (8, 12)])  # more rows than columns (eigh) and fewer (SVD)
def test_ppca_log_likelihood_matches_scipy_multivariate_normal(N, V):
    rng = np.random.default_rng(0)
    q = 2
    train = rng.normal(size=(N, 3)) @ rng.normal(size=(3, V)) + 0.3 * rng.normal(size=(N, V)) + 1.5
    test = rng.normal(size=(9, 3)) @ rng.normal(size=(3, V)) + 0.3 * rng.normal(size=(9, V))
    # Tipping & Bishop's ML solution written out from the 1/N covariance.
    mu = train.mean(0)
    lam, U = np.linalg.eigh(np.cov(train.T, bias=True))
    lam, U = lam[::-1], U[:, ::-1]
    sigma2 = lam[q:].mean()
    W = U[:, :q] * np.sqrt(lam[:q] - sigma2)
    C = W @ W.T + sigma2 * np.eye(V)
    expected = multivariate_normal(mu, C).logpdf(test).mean()
    assert ppca_log_likelihood(train, test, q) == pytest.approx(expected, rel=1e-10)
    got = ppca_log_likelihood(torch.from_numpy(train), torch.from_numpy(test), q)
    assert got == pytest.approx(expected, rel=1e-10)


def test_ppca_rejects_bad_arguments():
    x = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(ValueError, match="n_components"):
        ppca_log_likelihood(x, x, 4)
    with pytest.raises(ValueError, match="test must have shape"):
        ppca_log_likelihood(x, x[:, :3], 2)
    rank2 = x[:, :2] @ np.random.default_rng(1).normal(size=(2, 4))  # rank 2: no noise variance for q = 2
    with pytest.raises(ValueError, match="n_components=2"):
        ppca_log_likelihood(rank2, x, 2)
