"""The scikit-learn style FaceRBM: shapes, dtypes, validation, reproducibility."""

import numpy as np
import pytest

from facerbm import FaceRBM


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 10 * 8))
    X = rng.normal(size=(300, 3)) @ basis
    X = 128 + 30 * X / X.std()
    return np.clip(X, 0, 255).reshape(300, 10, 8).astype(np.float32)


def test_fit_transform_reconstruct_shapes_and_dtypes(images):
    rbm = FaceRBM(n_hidden=12, epochs=8, batch_size=30, lr=3e-3).fit(images)
    feats = rbm.transform(images)
    assert feats.shape == (300, 12) and feats.dtype == np.float32
    rec = rbm.reconstruct(images)
    assert rec.shape == images.shape and rec.dtype == np.float32
    # Rank-3 data: reconstructions are far better than the mean image.
    mse = ((rec - images) ** 2).mean()
    base = ((images - images.mean(0)) ** 2).mean()
    assert mse < 0.2 * base
    assert rbm.score_samples(images[:5]).shape == (5,)
    assert len(rbm.history_) == 8


def test_same_seed_same_features_other_seed_differs(images):
    a = FaceRBM(n_hidden=8, epochs=2, batch_size=30, seed=3).fit(images).transform(images[:10])
    b = FaceRBM(n_hidden=8, epochs=2, batch_size=30, seed=3).fit(images).transform(images[:10])
    c = FaceRBM(n_hidden=8, epochs=2, batch_size=30, seed=4).fit(images).transform(images[:10])
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_bad_inputs_are_named(images):
    rbm = FaceRBM(n_hidden=8, epochs=1, batch_size=30).fit(images)
    with pytest.raises(ValueError, match=r"shape \(12, 8\).*\(10, 8\)"):
        rbm.transform(np.zeros((2, 12, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(10, 8, 3\)"):
        rbm.transform(np.zeros((2, 10, 8, 3), np.float32))
    bad = images.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN or inf"):
        FaceRBM(epochs=1).fit(bad)
    with pytest.raises(ValueError, match="batch_size=1000"):
        FaceRBM(batch_size=1000, epochs=1).fit(images)
    with pytest.raises(ValueError, match="hidden"):
        FaceRBM(hidden="relu").fit(images)
    with pytest.raises(RuntimeError, match="not fitted"):
        FaceRBM().transform(images)
    with pytest.raises(TypeError, match="numeric"):
        FaceRBM().fit(np.array([["a"]]))
