"""Held-out log-likelihood of a binary-hidden RBM by AIS, beside probabilistic PCA.

The maths is in `facerbm.likelihood`; this module runs it the way a report needs it: AIS in batches
of chains (so a progress bar can follow it) whose log weights are pooled into one estimate, the
held-out log-likelihood in nats per image, PPCA with as many components as hidden units, and the
same numbers converted from the model's units to pixels in [0, 1].

Units: for Gaussian visible units log p(v) is a log density of the preprocessed pixels x = (p − μ)/s
(p in 0-255). The density of the same image as pixels in [0, 1], u = p / 255, is

    log p(u) = log p(x) + Σ_i log(255 / s_i)        (the log-Jacobian of u -> x),

so a number in model units cannot be compared with one in other units without this term; the report
gives both. For Bernoulli visible units log p(v) is a log probability of binary images; on grey images
it is only a score, and a density model such as PPCA is not comparable with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from facerbm.likelihood import (
    NRELU_MESSAGE,
    ais_beta_schedule,
    ais_log_partition,
    mean_log_likelihood,
    ppca_log_likelihood,
)
from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM


def log_jacobian_to_unit_pixels(normalizer: Normalizer) -> float:
    """Σ_i log(pixel_max / s_i): add it to a log density in model units to get one in [0, 1] pixels."""
    if normalizer.std is None:
        raise RuntimeError("normalizer is not fitted")
    return float(torch.log(normalizer.pixel_max / normalizer.std.double()).sum())


def pooled_log_z(log_weights: torch.Tensor, log_z_base: float) -> dict:
    """log Ẑ = log Z_A + log mean exp(w) over all chains, with the delta-method standard error.

    Same estimator as `facerbm.likelihood.ais_log_partition`, for weights pooled over several calls.
    """
    w = log_weights.double()
    n = w.numel()
    shift = w.max()
    r = torch.exp(w - shift)
    r_mean, r_se = r.mean(), r.std() / math.sqrt(n)
    lower = r_mean - 3 * r_se
    return {
        "log_z": log_z_base + float(shift + torch.log(r_mean)),
        "log_z_std_err": float(r_se / r_mean),
        "log_z_lower": log_z_base + float(shift + torch.log(lower)) if lower > 0 else -math.inf,
        "log_z_upper": log_z_base + float(shift + torch.log(r_mean + 3 * r_se)),
        "effective_sample_size": float(torch.exp(2 * torch.logsumexp(w, 0) - torch.logsumexp(2 * w, 0))),
    }


def ais_heldout_log_likelihood(
    model: RBM,
    train_values: torch.Tensor,
    heldout_values: torch.Tensor,
    *,
    n_chains: int = 100,
    n_betas: int = 14500,
    schedule: str = "paper",
    chains_per_batch: int = 25,
    generator: torch.Generator,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """AIS estimate of log Z (Salakhutdinov & Murray 2008) and the mean held-out log p(v) in nats/image.

    The base model has the training data's base rates (visible biases fitted to ``train_values``,
    no interactions). The ``n_chains`` chains run ``chains_per_batch`` at a time; their log weights
    are pooled into one estimate (the result equals one call with all chains, up to the random
    stream). The spread is the standard error of log Ẑ over the chains and the ±3σ bounds.

    Args:
        model: an RBM with binary hidden units.
        train_values: (N, V) training images in model units (for the base rates).
        heldout_values: (B, V) held-out images in model units.
        n_chains, n_betas, schedule: see `facerbm.likelihood.ais_log_partition`.
        generator: the random generator.
        progress: called with the number of chains just finished.

    Returns:
        {"available": True, "log_z", "log_z_std_err", "log_z_lower", "log_z_upper",
        "effective_sample_size", "log_z_base", "heldout_log_likelihood", "train_log_likelihood",
        "n_chains", "n_betas", "schedule"}; with NReLU hidden units {"available": False, "reason"}.
    """
    if model.config.hidden != "binary":
        return {"available": False, "reason": NRELU_MESSAGE}
    if not isinstance(chains_per_batch, int) or chains_per_batch < 2:
        raise ValueError(f"chains_per_batch must be an integer >= 2, got {chains_per_batch!r}")
    if not isinstance(n_chains, int) or n_chains < 2:
        raise ValueError(f"n_chains must be an integer >= 2, got {n_chains!r}")
    betas = ais_beta_schedule(n_betas, schedule, device=model.W.device)
    # Batches of at least chains_per_batch chains (ais_log_partition needs two for its error bar).
    sizes = [len(b) for b in torch.arange(n_chains).tensor_split(max(1, n_chains // chains_per_batch))]
    weights, base = [], 0.0
    for m in sizes:
        r = ais_log_partition(model, n_chains=m, n_betas=betas, base_data=train_values, generator=generator)
        weights.append(r.log_weights)
        base = r.log_z_base
        if progress is not None:
            progress(m)
    est = pooled_log_z(torch.cat(weights), base)
    return {
        "available": True,
        **est,
        "log_z_base": base,
        "heldout_log_likelihood": mean_log_likelihood(model, heldout_values, est["log_z"]),
        "train_log_likelihood": mean_log_likelihood(model, train_values[: len(heldout_values)], est["log_z"]),
        "n_chains": n_chains,
        "n_betas": int(betas.numel() - 1),
        "schedule": schedule,
    }


def ppca_reference(train_values: torch.Tensor, heldout_values: torch.Tensor, n_components: int) -> dict:
    """Exact held-out log-likelihood (nats/image, model units) of PPCA with ``n_components`` components."""
    q = min(n_components, train_values.shape[1] - 1, train_values.shape[0] - 1)
    return {
        "heldout_log_likelihood": ppca_log_likelihood(train_values, heldout_values, q),
        "n_components": int(q),
    }
