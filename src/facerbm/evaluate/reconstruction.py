"""Held-out reconstruction error and PSNR of a model beside the mean face and PCA, and free energies.

Errors are mean squared errors per pixel with pixels scaled to [0, 1] (pixel / pixel_max), and

    PSNR = 10 log10(1 / MSE)  dB,

computed from the MSE over all held-out pixels (peak value 1). Reconstructions:

* mean-field: E[v | h = E[h | v]] (`RBM.reconstruct`);
* one Gibbs step: h ~ p(h | v), then E[v | h] (the visible mean: for Gaussian units a sampled v
  only adds σ-noise to it, which would measure σ rather than the model);
* mean face: the training images' mean for every image;
* PCA with as many components as the model has hidden units, fitted on the training images.

Arrays: pixels are (N, V) in the loader's units (0-255 for LFW).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM


def psnr(mse: float, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10 log10(peak² / mse) in dB; inf for a perfect reconstruction."""
    if not (isinstance(mse, (int, float)) and math.isfinite(mse) and mse >= 0):
        raise ValueError(f"mse must be a finite number >= 0, got {mse!r}")
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def _row(mse: float) -> dict:
    return {"mse": float(mse), "psnr": psnr(float(mse))}


def _pca_reconstruction_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Mean squared error of projecting centred rows onto the top-k principal axes of centred ``train``.

    The axes are the leading eigenvectors of the scatter matrix XᵀX (V, V), which for N >> V is several
    times cheaper than an SVD of X (N, V) and gives the same subspace.
    """
    _, vecs = np.linalg.eigh(train.T @ train)  # ascending eigenvalues
    U = vecs[:, ::-1][:, :k]  # (V, k)
    resid = test - (test @ U) @ U.T
    return float((resid**2).mean())


@torch.no_grad()
def reconstruction_errors(
    model: RBM,
    normalizer: Normalizer,
    train_pixels: torch.Tensor,
    heldout_pixels: torch.Tensor,
    generator: torch.Generator,
    *,
    batch_size: int = 2048,
) -> dict:
    """Held-out MSE per pixel (pixels in [0, 1]) and PSNR of the model and of two baselines.

    Args:
        model: the trained RBM (its device is used).
        normalizer: the run's preprocessing (pixels -> model units).
        train_pixels: (N, V) training images in pixel units, for the mean face and PCA.
        heldout_pixels: (B, V) held-out images in pixel units.
        generator: for the hidden samples of the one-step Gibbs reconstruction.

    Returns:
        {"mean_field", "gibbs_1", "mean_face", "pca": {"mse", "psnr"[, "n_components"]}, "n_heldout",
        "pixel_max"}.
    """
    if heldout_pixels.ndim != 2 or heldout_pixels.shape[0] < 1:
        raise ValueError(f"heldout_pixels must be (B, V) with B >= 1, got {tuple(heldout_pixels.shape)}")
    peak = normalizer.pixel_max
    dev = model.W.device
    sums = {"mean_field": 0.0, "gibbs_1": 0.0}
    for i in range(0, len(heldout_pixels), batch_size):
        pix = heldout_pixels[i : i + batch_size].to(dev, torch.float32)
        v = normalizer.transform(pix)
        mf = normalizer.inverse_transform(model.reconstruct(v))
        g1 = normalizer.inverse_transform(model.mean_visible(model.sample_hidden(v, generator)))
        sums["mean_field"] += float(((mf - pix) / peak).pow(2).sum())
        sums["gibbs_1"] += float(((g1 - pix) / peak).pow(2).sum())
    n_values = heldout_pixels.numel()
    out = {k: _row(s / n_values) for k, s in sums.items()}

    train = train_pixels.double().cpu().numpy() / peak
    held = heldout_pixels.double().cpu().numpy() / peak
    mean = train.mean(axis=0)
    out["mean_face"] = _row(((held - mean) ** 2).mean())
    k = min(model.config.n_hidden, train.shape[0] - 1, train.shape[1])
    out["pca"] = {**_row(_pca_reconstruction_mse(train - mean, held - mean, k)), "n_components": k}
    out["n_heldout"] = int(heldout_pixels.shape[0])
    out["pixel_max"] = float(peak)
    return out


@torch.no_grad()
def free_energy_gap(
    model: RBM, train_values: torch.Tensor, heldout_values: torch.Tensor, *, batch_size: int = 4096
) -> dict:
    """Mean free energy F(v) of training and held-out images and the gap (held-out − train), in nats.

    F is in the model's units (preprocessed pixels). A gap growing during training means the model
    assigns its training images more probability than new ones: overfitting (Hinton's guide, §6).
    For NReLU hidden units F uses the stepped-sigmoid approximation of the hidden sum.

    Args:
        train_values, heldout_values: (N, V) images in the model's units (use the same count of each,
            or at least several thousand, so the means are comparable).
    """

    def mean_f(values: torch.Tensor) -> float:
        dev = model.W.device
        total = sum(
            float(model.free_energy(values[i : i + batch_size].to(dev, model.W.dtype)).double().sum())
            for i in range(0, len(values), batch_size)
        )
        return total / len(values)

    f_train, f_held = mean_f(train_values), mean_f(heldout_values)
    return {
        "train": f_train,
        "heldout": f_held,
        "gap": f_held - f_train,
        "n_train": int(len(train_values)),
        "n_heldout": int(len(heldout_values)),
    }
