"""Checks for degenerate models: dead or always-on hidden units, duplicate filters, features with
no variance, reconstructions no better than the mean face."""

from __future__ import annotations

import torch

from facerbm.rbm import RBM

# Fractions of hidden units above which a warning is raised.
WARN_FRACTION = 0.25
DUPLICATE_CORRELATION = 0.95


@torch.no_grad()
def diagnose(
    model: RBM,
    v: torch.Tensor,
    *,
    recon_mse: float | None = None,
    baseline_mse: float | None = None,
) -> dict:
    """Summarise the hidden layer on data ``v`` (N, V) in model units.

    A unit is *active* on an image when its input x > 0 (p(h=1) > ½ for binary units, the
    rectifier open for NReLU units). Dead units are active on < 1 % of images, always-on units on
    > 99 %. Returns counts, fractions and a list of warning sentences.
    """
    H = model.config.n_hidden
    x = model.hidden_input(v)
    active = (x > 0).float().mean(0)  # (H,) fraction of images on which each unit is active
    feats = model.mean_hidden(v)
    dead = int((active < 0.01).sum())
    always_on = int((active > 0.99).sum())
    scale = float(feats.abs().mean()) + 1e-12
    zero_var = int((feats.std(0) < 1e-6 * scale).sum()) if v.shape[0] > 1 else 0
    W = model.W - model.W.mean(0)
    W = W / W.norm(dim=0).clamp_min(1e-12)
    corr = (W.T @ W).abs_().fill_diagonal_(0)  # (H, H) filter correlations
    dup_units = int((corr > DUPLICATE_CORRELATION).any(1).sum())
    out = {
        "n_hidden": H,
        "dead_units": dead,
        "always_on_units": always_on,
        "zero_variance_features": zero_var,
        "duplicate_filter_units": dup_units,
        "max_filter_correlation": float(corr.max()) if H > 1 else 0.0,
        "mean_hidden_activity": float(feats.mean()),
    }
    warnings = []
    if dead > WARN_FRACTION * H:
        warnings.append(
            f"{dead} of {H} hidden units are dead (active on < 1% of images); try a "
            f"lower learning rate or a sparsity target"
        )
    if always_on > WARN_FRACTION * H and model.config.hidden == "binary":
        warnings.append(f"{always_on} of {H} binary hidden units are always on (> 99% of images)")
    if zero_var > WARN_FRACTION * H:
        warnings.append(f"{zero_var} of {H} hidden features have zero variance over the data")
    if dup_units > WARN_FRACTION * H:
        warnings.append(
            f"{dup_units} of {H} hidden units have a near-duplicate filter "
            f"(|correlation| > {DUPLICATE_CORRELATION})"
        )
    if recon_mse is not None and baseline_mse and recon_mse >= 0.9 * baseline_mse:
        warnings.append(
            f"reconstructions are barely better than the mean face (MSE {recon_mse:.4g} "
            f"vs {baseline_mse:.4g}): the model has learned little"
        )
        out["recon_like_mean_face"] = True
    else:
        out["recon_like_mean_face"] = False
    out["warnings"] = warnings
    return out
