"""Reconstruction, free energy, likelihood wiring, identification and the report on toy models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facerbm.evaluate import (
    identification_split,
    identification_task,
    markdown_report,
    psnr,
    reconstruction_errors,
)
from facerbm.evaluate.density import (
    ais_heldout_log_likelihood,
    log_jacobian_to_unit_pixels,
    pooled_log_z,
    ppca_reference,
)
from facerbm.evaluate.reconstruction import free_energy_gap
from facerbm.likelihood import ais_log_partition, exact_log_partition, ppca_log_likelihood
from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator


def toy_model(V=5, H=3, hidden="binary", seed=0, dtype=torch.float64):
    g = make_generator(seed)
    m = RBM(RBMConfig(n_visible=V, n_hidden=H, hidden=hidden), dtype=dtype)
    with torch.no_grad():
        m.W.normal_(0, 0.5, generator=g)
        m.b.normal_(0, 0.3, generator=g)
        m.c.normal_(0, 0.3, generator=g)
    return m


def test_psnr_formula():
    assert psnr(0.01) == pytest.approx(20.0)
    assert psnr(1e-4) == pytest.approx(40.0)
    assert psnr(0.01, peak=255.0) == pytest.approx(20 + 20 * math.log10(255))
    assert psnr(0.0) == math.inf
    with pytest.raises(ValueError, match="mse must be a finite number"):
        psnr(-1.0)


def test_reconstruction_errors_match_a_hand_computation():
    rng = np.random.default_rng(0)
    V, H = 5, 3
    model = toy_model(V, H, dtype=torch.float32)
    train = torch.from_numpy(rng.uniform(0, 255, (40, V)).astype(np.float32))
    held = torch.from_numpy(rng.uniform(0, 255, (7, V)).astype(np.float32))
    norm = Normalizer("standardize").fit(train)
    out = reconstruction_errors(model, norm, train, held, make_generator(1))

    # Mean-field by hand in float64 numpy: x = (p − μ)/s, h = sigmoid(c + xW), x' = b + Wh, p' = x's + μ.
    W, b, c = (t.double().numpy() for t in (model.W, model.b, model.c))
    mu, s = norm.mean.double().numpy(), norm.std.double().numpy()
    x = (held.double().numpy() - mu) / s
    h = 1 / (1 + np.exp(-(c + x @ W)))
    rec = (b + h @ W.T) * s + mu
    mse = np.mean(((rec - held.double().numpy()) / 255) ** 2)
    assert out["mean_field"]["mse"] == pytest.approx(mse, rel=1e-5)
    assert out["mean_field"]["psnr"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    face = train.double().numpy().mean(0)
    assert out["mean_face"]["mse"] == pytest.approx(np.mean(((held.double().numpy() - face) / 255) ** 2))
    # Gibbs-1 uses sampled binary h: a different, still finite error.
    assert 0 < out["gibbs_1"]["mse"] < 1
    # PCA with as many components as hidden units (3 of 5), as scikit-learn computes it.
    from sklearn.decomposition import PCA

    pca = PCA(3).fit(train.double().numpy() / 255)
    u = held.double().numpy() / 255
    assert out["pca"]["n_components"] == 3
    assert out["pca"]["mse"] == pytest.approx(np.mean((pca.inverse_transform(pca.transform(u)) - u) ** 2))
    assert out["n_heldout"] == 7 and out["pixel_max"] == 255.0


def test_pca_baseline_with_enough_components_is_exact():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(2, 6))
    train = torch.from_numpy(rng.normal(size=(30, 2)) @ basis * 20 + 100)
    held = torch.from_numpy(rng.normal(size=(5, 2)) @ basis * 20 + 100)
    model = toy_model(6, 2, dtype=torch.float32)
    out = reconstruction_errors(model, Normalizer("scale").fit(train.float()), train, held, make_generator(0))
    assert out["pca"]["mse"] < 1e-12


def test_free_energy_gap_is_the_difference_of_means():
    model = toy_model()
    g = make_generator(0)
    a = torch.randn(20, 5, generator=g, dtype=torch.float64)
    b = torch.randn(9, 5, generator=g, dtype=torch.float64)
    out = free_energy_gap(model, a, b, batch_size=4)
    assert out["train"] == pytest.approx(float(model.free_energy(a).mean()))
    assert out["heldout"] == pytest.approx(float(model.free_energy(b).mean()))
    assert out["gap"] == pytest.approx(out["heldout"] - out["train"])


def test_pooled_log_z_equals_the_single_call_estimate():
    model = toy_model(6, 4)
    data = torch.randn(30, 6, generator=make_generator(3), dtype=torch.float64)
    r = ais_log_partition(model, n_chains=12, n_betas=50, base_data=data, generator=make_generator(4))
    pooled = pooled_log_z(r.log_weights, r.log_z_base)
    assert pooled["log_z"] == pytest.approx(r.log_z, abs=1e-12)
    assert pooled["log_z_std_err"] == pytest.approx(r.log_z_std_err, abs=1e-12)
    assert pooled["log_z_lower"] == pytest.approx(r.log_z_lower, abs=1e-12)


def test_ais_wiring_agrees_with_exact_log_z_on_a_small_model():
    model = toy_model(8, 6)
    g = make_generator(5)
    train = torch.randn(200, 8, generator=g, dtype=torch.float64) + model.b
    held = torch.randn(50, 8, generator=g, dtype=torch.float64) + model.b
    ticks = []
    out = ais_heldout_log_likelihood(
        model, train, held, n_chains=40, n_betas=2000, chains_per_batch=10, generator=g, progress=ticks.append
    )
    exact = exact_log_partition(model)
    assert out["available"] and sum(ticks) == 40 and len(ticks) == 4
    # Statistical check: AIS within its own ±3σ bounds (the 0.05-nat agreement is test_likelihood's).
    assert out["log_z_lower"] - 0.02 <= exact <= out["log_z_upper"] + 0.02
    assert abs(out["log_z"] - exact) < 0.05
    ll_exact = float((-model.free_energy(held)).mean()) - exact
    assert out["heldout_log_likelihood"] == pytest.approx(ll_exact + exact - out["log_z"], abs=1e-9)


def test_nrelu_likelihood_is_reported_unavailable_not_an_error():
    model = toy_model(hidden="nrelu")
    x = torch.zeros(3, 5, dtype=torch.float64)
    out = ais_heldout_log_likelihood(model, x, x, n_chains=2, n_betas=3, generator=make_generator(0))
    assert out["available"] is False and "NReLU" in out["reason"]


def test_log_jacobian_converts_densities_to_unit_pixels():
    rng = np.random.default_rng(2)
    pixels = torch.from_numpy(rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) * 10 + 120)
    train, held = pixels[:150], pixels[150:]
    # normalize="none": model units are 0-255 pixels; u = p/255 is an isotropic rescaling, under which
    # PPCA is equivariant, so log p_u(u) = log p_x(x) + V log 255 exactly.
    norm = Normalizer("none").fit(train.float())
    jac = log_jacobian_to_unit_pixels(norm)
    assert jac == pytest.approx(6 * math.log(255.0), rel=1e-6)
    ll_x = ppca_log_likelihood(train, held, 2)
    ll_u = ppca_log_likelihood(train / 255, held / 255, 2)
    assert ll_u == pytest.approx(ll_x + jac, rel=1e-6)
    std = Normalizer("standardize").fit(train.float())
    expected = float(torch.log(255.0 / std.std.double()).sum())
    assert log_jacobian_to_unit_pixels(std) == pytest.approx(expected)
    assert ppca_reference(train, held, 10)["n_components"] == 5  # at most V − 1


def test_identification_split_is_scikit_learns_example_split():
    from sklearn.model_selection import train_test_split

    y = np.repeat(np.arange(7), 20)
    X = np.arange(y.size)
    train, test = identification_split(y)
    X_train, X_test, _, _ = train_test_split(X, y, test_size=0.25, random_state=42)
    assert train.tolist() == X_train.tolist() and test.tolist() == X_test.tolist()


@pytest.fixture
def small_grids(monkeypatch):
    """Fewer hyper-parameters to search: the grids' behaviour is not under test, only the wiring."""
    from facerbm.evaluate import identify

    monkeypatch.setattr(identify, "SVM_GRID", {"C": [1e3], "gamma": [1e-3, 1e-2]})
    monkeypatch.setattr(identify, "LOGISTIC_CS", (0.1, 1.0))


def test_identification_task_keeps_test_images_out_of_feature_training(small_grids):
    rng = np.random.default_rng(3)
    people = np.array([f"P{i}" for i in range(4) for _ in range(30)] + ["Few"] * 5)
    centers = rng.normal(size=(5, 40)) * 3
    pixels = np.stack([centers[min(int(p[1:]) if p != "Few" else 4, 4)] for p in people])
    pixels = pixels + rng.normal(size=pixels.shape)
    calls = []

    def make(train_rows, rows):
        calls.append((train_rows, rows))
        return pixels[rows][:, :10]

    out = identification_task(pixels, people, {"first 10 pixels": make}, min_faces=30, seed=0)
    assert out["n_people"] == 4 and out["n_images"] == 120 and out["n_test"] == 30
    train_rows, rows = calls[0]
    _, test = identification_split(np.repeat(np.arange(4), 30))
    assert not set(rows[test]) & set(train_rows)  # no test image trains the features
    assert len(train_rows) == len(people) - 30  # everything else does, the "Few" person too
    for res in out["results"].values():
        assert res["accuracy"] > 0.9 and 0.9 < res["macro_f1"] <= 1.0
    with pytest.raises(ValueError, match="no person has min_faces=50"):
        identification_task(pixels, people, {}, min_faces=50)


def test_report_says_the_nrelu_likelihood_is_not_available():
    result = {
        "run": "runs/x",
        "seed": 0,
        "versions": {"facerbm": "0", "torch": "2"},
        "model": {
            "n_hidden": 4,
            "hidden": "nrelu",
            "visible": "gaussian",
            "sigma": 1.0,
            "normalize": "standardize",
            "units": "z-scores",
            "image_shape": [2, 3],
            "source": "x.npz",
            "n_train": 9,
        },
        "likelihood": {
            "ais": {"available": False, "reason": "the likelihood of NReLU RBMs has no tractable form"},
            "ppca": {"heldout_log_likelihood": -3.0, "n_components": 4},
            "log_jacobian": 10.0,
        },
    }
    text = markdown_report(result)
    assert "**not available**: the likelihood of NReLU RBMs" in text
    assert "| probabilistic PCA, 4 components (reference) | -3.00 | 7.00 |" in text
