"""Patch-RBM features: the folded convolution against the explicit patch path, whitening, pooling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facerbm import units
from facerbm.patches import PatchConfig, PatchRBM, contrast_normalize, sample_patches


def stripes(n: int, shape=(20, 16), seed: int = 0) -> np.ndarray:
    """Images of random oriented gratings plus noise, 0-255: patches with structure to whiten."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    out = []
    for _ in range(n):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.2, 0.8), rng.uniform(0, 2 * np.pi)
        g = np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy) + phase)
        out.append(np.clip(128 + 80 * g + rng.normal(0, 10, shape), 0, 255))
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    cfg = PatchConfig(size=5, n_hidden=12, stride=1, grid=(3, 2), n_patches=4000, epochs=2)
    return PatchRBM(cfg, seed=3).fit(stripes(40))


def test_feature_maps_equal_the_explicit_patch_path(fitted):
    images = torch.from_numpy(stripes(3, seed=1))
    maps = fitted.feature_maps(images)  # (3, H, h', w')
    assert maps.shape == (3, 12, 16, 12)
    patches = F.unfold(images[:, None], 5).transpose(1, 2).reshape(-1, 25)  # (3 * h' * w', 25)
    ref = fitted.hidden_of_patches(patches).reshape(3, 16, 12, 12).permute(0, 3, 1, 2)
    torch.testing.assert_close(maps, ref, rtol=1e-4, atol=1e-4)


def test_stride_takes_every_other_position(fitted):
    images = stripes(2, seed=2)
    cfg = PatchConfig(size=5, n_hidden=12, stride=2, grid=(3, 2), n_patches=4000, epochs=2)
    strided = PatchRBM(cfg)
    strided.__dict__.update({k: v for k, v in fitted.__dict__.items() if k != "config"})
    torch.testing.assert_close(strided.feature_maps(images), fitted.feature_maps(images)[:, :, ::2, ::2])


def test_whitened_training_patches_have_unit_variance_and_decorrelated_pixels():
    x = torch.from_numpy(stripes(40)) / 255
    g = torch.Generator().manual_seed(0)
    p = contrast_normalize(sample_patches(x, 5, 20000, g), 0.05)
    assert torch.allclose(p.mean(1), torch.zeros(len(p)), atol=1e-5)
    cfg = PatchConfig(size=5, n_hidden=4, n_patches=20000, epochs=1, zca_epsilon=1e-6, grid=(2, 2))
    model = PatchRBM(cfg, seed=0).fit(stripes(40))
    white = (p - model.mean) @ model.zca / model.scale
    C = torch.cov(white.T)
    # Contrast normalisation removes the patch mean: one direction has no variance left, the
    # other 24 are whitened to equal variance and no correlation.
    eig = torch.linalg.eigvalsh(C)
    assert eig[0] < 1e-3 and eig[1:].min() > 0.8 * eig[1:].max()
    off = C - torch.diag(torch.diag(C))
    assert off.abs().max() < 0.1 * torch.diag(C).max()


def test_sample_patches_reads_the_right_pixels():
    x = torch.arange(2 * 6 * 5, dtype=torch.float32).reshape(2, 6, 5)
    p = sample_patches(x, 3, 50, torch.Generator().manual_seed(1)).reshape(50, 3, 3)
    for patch in p:
        i, r, c = np.unravel_index(int(patch[0, 0]), x.shape)
        torch.testing.assert_close(patch, x[i, r : r + 3, c : c + 3])


def test_pooled_features_average_the_map_over_grid_cells(fitted):
    images = stripes(4, seed=4)
    feats = fitted.features(images, batch_size=3)
    assert feats.shape == (4, 12 * 3 * 2) and feats.dtype == np.float32
    maps = fitted.feature_maps(images).numpy()  # (4, 12, 16, 12): cells of 16/3 rows do not divide
    # adaptive pooling: cell (0, 0) covers rows 0..5 (floor(0*16/3) to ceil(16/3)) and cols 0..5.
    np.testing.assert_allclose(feats[:, 0], maps[:, 0, 0:6, 0:6].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(feats[:, 5], maps[:, 0, 10:16, 6:12].mean(axis=(1, 2)), rtol=1e-5)


def test_same_seed_same_features_other_seed_other_features():
    cfg = PatchConfig(size=4, n_hidden=6, grid=(2, 2), n_patches=2000, epochs=1)
    images = stripes(20)
    a = PatchRBM(cfg, seed=5).fit(images).features(images[:3])
    b = PatchRBM(cfg, seed=5).fit(images).features(images[:3])
    c = PatchRBM(cfg, seed=6).fit(images).features(images[:3])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bad_settings_and_inputs_are_refused_with_the_value():
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        PatchConfig(size=0)
    with pytest.raises(ValueError, match="hidden must be 'nrelu' or 'binary', got 'relu'"):
        PatchConfig(hidden="relu")
    with pytest.raises(ValueError, match=r"grid must be two positive integers \(rows, cols\), got \(6,\)"):
        PatchConfig(grid=(6,))
    with pytest.raises(ValueError, match="zca_epsilon must be a positive number, got -1"):
        PatchConfig(zca_epsilon=-1)
    cfg = PatchConfig(size=12, grid=(6, 5), stride=2)
    with pytest.raises(ValueError, match="size=12 is larger than the 10x10 images"):
        cfg.map_shape((10, 10))
    with pytest.raises(ValueError, match=r"grid=\(6, 5\) has more cells than the 3x3 feature map"):
        cfg.map_shape((16, 16))
    with pytest.raises(
        ValueError, match=r"images must be \(N, h, w\) gray images, got shape \(4, 20, 16, 3\)"
    ):
        PatchRBM(PatchConfig(size=4, grid=(2, 2))).fit(np.zeros((4, 20, 16, 3)))
    bad = stripes(4)
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="images hold NaN or inf values"):
        PatchRBM(PatchConfig(size=4, grid=(2, 2))).fit(bad)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        PatchRBM().features(stripes(1))


def test_filters_are_the_weights_and_the_map_uses_them_after_whitening(fitted):
    f = fitted.filters()
    assert f.shape == (12, 5, 5)
    np.testing.assert_array_equal(f.reshape(12, 25), fitted.model.W.detach().T.numpy())
    # A unit's pre-activation: c + (whitened, contrast-normalised patch) · its filter.
    patch = torch.from_numpy(stripes(1, seed=5)[0, :5, :5]).reshape(1, 25)
    white = (contrast_normalize(patch / 255, 0.05) - fitted.mean) @ fitted.zca / fitted.scale
    pre = fitted.model.c + white @ torch.from_numpy(f).reshape(12, 25).T
    torch.testing.assert_close(fitted.hidden_of_patches(patch)[0], units.hidden_mean(pre[0], "nrelu"))
    maps = fitted.feature_maps(torch.from_numpy(stripes(1, seed=5)))
    torch.testing.assert_close(maps[0, :, 0, 0], units.hidden_mean(pre[0], "nrelu"), rtol=1e-4, atol=1e-4)
