"""Log-likelihood of binary-hidden RBMs: exact log Z by enumeration, AIS estimates, and a PPCA baseline.

log p(v) = −F(v) − log Z, with F the free energy of `facerbm.rbm.RBM` (hidden units summed out). For
Gaussian visible units p(v) is a density in the model's (preprocessed) units, so log p(v) is in nats per
image and includes the Gaussian normaliser (2πσ²)^{V/2}; for Bernoulli visible units it is the log
probability of a binary image. NReLU hidden units have no tractable likelihood and are refused.

All maths runs in float64 on a copy of the parameters whatever the model's dtype. Tensors: v is (B, V),
h is (B, H), W is (V, H).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facerbm import units
from facerbm.rbm import RBM

logger = logging.getLogger(__name__)

MAX_ENUMERATED_UNITS = 24
AIS_SCHEDULES = ("paper", "linear")
AIS_BASES = ("data", "uniform")
ENUMERATED_LAYERS = ("auto", "hidden", "visible")

NRELU_MESSAGE = (
    "the likelihood of NReLU RBMs has no tractable form; facerbm reports reconstruction error and "
    "free-energy gap instead, or train with hidden='binary'"
)
# Rows per enumerated chunk are chosen so that a chunk holds about this many float64 numbers (32 MiB).
_CHUNK_ELEMENTS = 1 << 22
# Clip of the data mean before the logit of the Bernoulli base rates, as in `RBM.reset_parameters`.
_BASE_RATE_CLIP = 1e-3


# -- helpers -----------------------------------------------------------------------------------------
def _check_model(model: RBM) -> RBM:
    """Refuse what has no likelihood and return a float64 copy (or the model itself if already float64)."""
    if not isinstance(model, RBM):
        raise TypeError(f"model must be a facerbm.rbm.RBM, got {type(model).__name__}")
    if model.config.hidden != "binary":
        raise ValueError(f"{NRELU_MESSAGE} (got hidden={model.config.hidden!r})")
    if model.W.dtype == torch.float64:
        return model
    return copy.deepcopy(model).to(torch.float64)


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def _check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_visible_batch(name: str, v: torch.Tensor, n_visible: int) -> None:
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    if v.dim() != 2 or v.shape[1] != n_visible or v.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, {n_visible}) with B >= 1, got {tuple(v.shape)}")
    if not torch.isfinite(v).all():
        raise ValueError(f"{name} must be finite, got non-finite values")


def _binary_states(start: int, stop: int, n: int, *, dtype, device) -> torch.Tensor:
    """Rows start..stop−1 of the 2^n binary states, bit j of the row index in column j; -> (stop−start, n)."""
    idx = torch.arange(start, stop, device=device)
    shifts = torch.arange(n, device=device)
    return ((idx[:, None] >> shifts) & 1).to(dtype)


def _logsumexp_over_states(n: int, width: int, log_weight, *, dtype, device) -> float:
    """log Σ_s exp(log_weight(s)) over the 2^n binary states s, in chunks of about 2^22 numbers."""
    chunk = max(1, _CHUNK_ELEMENTS // max(width, n, 1))
    total = torch.tensor(-math.inf, dtype=dtype, device=device)
    for start in range(0, 2**n, chunk):
        s = _binary_states(start, min(start + chunk, 2**n), n, dtype=dtype, device=device)
        total = torch.logaddexp(total, torch.logsumexp(log_weight(s), dim=0))
    return float(total)


# -- exact log partition -----------------------------------------------------------------------------
def exact_log_partition(model: RBM, *, over: str = "auto") -> float:
    """log Z of a binary-hidden RBM by enumerating one layer and summing the other out analytically.

    Enumerating the 2^H hidden states h (``over="hidden"``):

        Gaussian visible:   ∫ exp(−E(v, h)) dv = (2πσ²)^{V/2} exp(c·h + (b/σ)·(Wh) + ‖Wh‖²/2)
        Bernoulli visible:  Σ_v exp(−E(v, h)) = exp(c·h) Π_i (1 + exp(b_i + (Wh)_i))

    (the Gaussian one by completing the square in v: the mean of p(v | h) is b + σWh). For Bernoulli
    visible units ``over="visible"`` enumerates the 2^V visible states instead, log Z = logsumexp(−F(v)),
    which serves as an independent check; ``over="auto"`` picks the smaller Bernoulli layer. The sums are
    taken with logsumexp in float64, chunk by chunk so memory stays bounded.

    Args:
        model: an RBM with binary hidden units.
        over: "auto", "hidden" or "visible" (Bernoulli visible units only): which layer to enumerate.

    Returns:
        log Z in nats (for Gaussian visible units, of the density over v in the model's units).

    Raises:
        ValueError: for NReLU hidden units, an unknown ``over``, ``over="visible"`` with Gaussian visible
            units, or more than 24 units in the enumerated layer (use `ais_log_partition` then).
    """
    m = _check_model(model)
    if over not in ENUMERATED_LAYERS:
        raise ValueError(f"over must be one of {ENUMERATED_LAYERS}, got {over!r}")
    V, H = m.config.n_visible, m.config.n_hidden
    gaussian = m.config.visible == "gaussian"
    if over == "visible" and gaussian:
        raise ValueError(
            "over='visible' needs Bernoulli visible units; Gaussian visible units are integrated"
        )
    if over == "auto":
        over = "visible" if not gaussian and V < H else "hidden"
    n = H if over == "hidden" else V
    if n > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"n_{over}={n} is too large to enumerate its 2^{n} states (limit {MAX_ENUMERATED_UNITS}); "
            "use ais_log_partition to estimate log Z"
        )
    kw = {"dtype": torch.float64, "device": m.W.device}
    with torch.no_grad():
        W, b, c, sigma = m.W, m.b, m.c, m.sigma
        if over == "visible":
            return _logsumexp_over_states(V, max(V, H), lambda v: -m.free_energy(v), **kw)
        if gaussian:
            # Use WᵀW (H, H) and Wᵀb (H,) so a chunk costs O(H²) per state, not O(V H).
            gram, wb = W.T @ W, W.T @ b / sigma

            def log_weight(h: torch.Tensor) -> torch.Tensor:  # (S, H) -> (S,)
                return h @ (c + wb) + 0.5 * ((h @ gram) * h).sum(dim=1)

            log_norm = 0.5 * V * math.log(2.0 * math.pi * sigma**2)
            return log_norm + _logsumexp_over_states(H, H, log_weight, **kw)

        def log_weight(h: torch.Tensor) -> torch.Tensor:  # (S, H) -> (S,)
            return h @ c + F.softplus(torch.addmm(b, h, W.T)).sum(dim=1)  # (S, H) @ (H, V)

        return _logsumexp_over_states(H, V, log_weight, **kw)


# -- annealed importance sampling --------------------------------------------------------------------
@dataclass(frozen=True)
class AISResult:
    """An AIS estimate of log Z (Salakhutdinov & Murray, 2008).

    Attributes:
        log_z: log Ẑ = log Z_A + log mean_i exp(w_i), in nats. Ẑ is unbiased for Z, so log Ẑ is biased
            low (Jensen): in expectation it underestimates log Z, i.e. overestimates log-likelihoods.
        log_z_std_err: delta-method standard error of log Ẑ, std(exp w) / (√M · mean(exp w)).
        log_z_lower, log_z_upper: log(Ẑ ∓ 3σ̂) with σ̂ the standard error of Ẑ, the bounds the paper
            reports; log_z_lower is −inf when Ẑ − 3σ̂ ≤ 0 (a sign of too few chains or betas).
        log_z_base: log Z_A of the base model (visible biases b_A, hidden units with W = 0, c = 0).
        log_weights: the per-chain log importance weights w_i, shape (n_chains,), float64.
        n_chains: M, the number of AIS runs.
        n_betas: K, the number of annealing steps (the schedule has K + 1 inverse temperatures).
    """

    log_z: float
    log_z_std_err: float
    log_z_lower: float
    log_z_upper: float
    log_z_base: float
    log_weights: torch.Tensor
    n_chains: int
    n_betas: int

    @property
    def effective_sample_size(self) -> float:
        """(Σ exp w)² / Σ exp(2w): how many equally weighted chains the weights are worth."""
        w = self.log_weights
        return float(torch.exp(2 * torch.logsumexp(w, 0) - torch.logsumexp(2 * w, 0)))


def ais_beta_schedule(
    n_betas: int = 14500, schedule: str = "paper", *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Inverse temperatures 0 = β_0 < β_1 < ... < β_K = 1 for AIS; -> (K + 1,) float64.

    "paper" spaces them uniformly in three stretches like Salakhutdinov & Murray (2008): 500 in [0, 0.5],
    4000 in [0.5, 0.9] and 10000 in [0.9, 1] out of K = 14500, scaled in proportion for other K, so the
    steps are finest near the target where the distributions change most. "linear" spaces them uniformly.

    Raises:
        ValueError: an unknown ``schedule``, or ``n_betas`` below 3 ("paper") or 1 ("linear").
    """
    if schedule not in AIS_SCHEDULES:
        raise ValueError(f"schedule must be one of {AIS_SCHEDULES}, got {schedule!r}")
    kw = {"dtype": torch.float64, "device": device}
    if schedule == "linear":
        _check_positive_int("n_betas", n_betas)
        return torch.linspace(0.0, 1.0, n_betas + 1, **kw)
    _check_positive_int("n_betas", n_betas, minimum=3)
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = n_betas - n1 - n2
    return torch.cat(
        [
            torch.linspace(0.0, 0.5, n1 + 1, **kw),
            torch.linspace(0.5, 0.9, n2 + 1, **kw)[1:],
            torch.linspace(0.9, 1.0, n3 + 1, **kw)[1:],
        ]
    )


def _check_betas(betas: torch.Tensor) -> torch.Tensor:
    if betas.dim() != 1 or betas.numel() < 2:
        raise ValueError(
            f"n_betas as a schedule must be a 1-D tensor of length >= 2, got {tuple(betas.shape)}"
        )
    betas = betas.to(torch.float64)
    if not torch.isfinite(betas).all() or betas[0] != 0.0 or betas[-1] != 1.0 or (betas.diff() < 0).any():
        raise ValueError(
            "n_betas as a schedule must be finite, non-decreasing, start at 0 and end at 1, got "
            f"{betas[0].item()!r} ... {betas[-1].item()!r}"
        )
    return betas


def _base_visible_bias(m: RBM, base: str, base_data: torch.Tensor | None) -> torch.Tensor:
    """b_A: Gaussian mean = data mean; Bernoulli logit of the clipped data mean; zeros for "uniform"."""
    V = m.config.n_visible
    if base not in AIS_BASES:
        raise ValueError(f"base must be one of {AIS_BASES}, got {base!r}")
    if base == "uniform":
        if base_data is not None:
            raise ValueError("base_data must be None with base='uniform', got a tensor")
        return torch.zeros(V, dtype=torch.float64, device=m.W.device)
    if base_data is None:
        raise ValueError("base_data must be a (N, V) tensor of training data with base='data', got None")
    _check_visible_batch("base_data", base_data, V)
    mean = base_data.to(device=m.W.device, dtype=torch.float64).mean(dim=0)  # (V,)
    if m.config.visible == "gaussian":
        return mean
    if mean.min() < 0 or mean.max() > 1:
        raise ValueError(
            "base_data must lie in [0, 1] for Bernoulli visible units, got means in "
            f"[{mean.min().item():.3g}, {mean.max().item():.3g}]"
        )
    p = mean.clamp(_BASE_RATE_CLIP, 1 - _BASE_RATE_CLIP)
    return torch.log(p) - torch.log1p(-p)


def ais_log_partition(
    model: RBM,
    *,
    n_chains: int = 100,
    n_betas: int | torch.Tensor = 14500,
    schedule: str = "paper",
    base: str = "data",
    base_data: torch.Tensor | None = None,
    generator: torch.Generator,
) -> AISResult:
    """Estimate log Z of a binary-hidden RBM by annealed importance sampling (AIS).

    Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks", §3-4. The base
    p_A is the RBM with the same units, visible biases b_A (the data mean for Gaussian units, the logit
    of the clipped data mean for Bernoulli units, or zeros with ``base="uniform"``) and no interactions
    (W = 0, c = 0): log Z_A = H log 2 + V/2 log(2πσ²) (Gaussian) or H log 2 + Σ softplus(b_A) (Bernoulli).
    The intermediate models at 0 = β_0 < ... < β_K = 1 have, with hidden units summed out,

        log p*_β(v) = −(1−β) E_A(v) − β E_vis(v) + Σ_j softplus(β x_j),   x = c + (v/σ) W,

    E_A and E_vis the visible energies of the base and of the model. From v_1 ~ p_A each chain adds
    w += log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k) and moves v_k -> v_{k+1} by a Gibbs step that leaves
    p_{β_k} invariant: h ~ Bernoulli(sigmoid(β_k x)), then v with mean / logits (1−β_k) b_A + β_k (b + σWh)
    (Gaussian units: variance σ²; Bernoulli units: σ = 1). log Ẑ = log Z_A + logmeanexp(w). Chains run as
    one batch in float64; weights are summed in log space.

    Args:
        model: an RBM with binary hidden units.
        n_chains: M, the number of independent AIS runs (>= 2, for the standard error).
        n_betas: K, the number of annealing steps, or a schedule: a 1-D tensor of inverse temperatures
            from 0 to 1, non-decreasing.
        schedule: "paper" or "linear" (see `ais_beta_schedule`); ignored when ``n_betas`` is a tensor.
        base: "data" (base rates fitted to ``base_data``, as in the paper; a much better start) or
            "uniform" (b_A = 0: uniform for Bernoulli units, N(0, σ²) for Gaussian units).
        base_data: (N, V) training data in the model's units; required with ``base="data"``.
        generator: the random generator; a fixed seed reproduces the estimate.

    Returns:
        an `AISResult`.

    Raises:
        ValueError: NReLU hidden units, or a bad argument (named in the message).
        TypeError: ``generator`` is not a torch.Generator.
    """
    m = _check_model(model)
    _check_generator(generator)
    _check_positive_int("n_chains", n_chains, minimum=2)
    device = m.W.device
    if isinstance(n_betas, torch.Tensor):
        betas = _check_betas(n_betas).to(device)
    else:
        betas = ais_beta_schedule(n_betas, schedule, device=device)
    b_A = _base_visible_bias(m, base, base_data)  # (V,)
    V, H, sigma = m.config.n_visible, m.config.n_hidden, m.sigma
    gaussian = m.config.visible == "gaussian"
    if gaussian:
        log_z_base = H * math.log(2.0) + 0.5 * V * math.log(2.0 * math.pi * sigma**2)
    else:
        log_z_base = H * math.log(2.0) + float(F.softplus(b_A).sum())

    def base_energy(v: torch.Tensor) -> torch.Tensor:  # E_A(v); (M, V) -> (M,)
        if gaussian:
            return ((v - b_A) ** 2).sum(dim=1) / (2.0 * sigma**2)
        return -(v @ b_A)

    def sample_visible(mean_or_logit: torch.Tensor) -> torch.Tensor:  # (M, V) -> (M, V)
        noise = torch.empty_like(mean_or_logit)
        if gaussian:
            return mean_or_logit.add_(noise.normal_(generator=generator), alpha=sigma)
        return (noise.uniform_(generator=generator) < torch.sigmoid(mean_or_logit)).to(torch.float64)

    with torch.no_grad():
        v = sample_visible(b_A.expand(n_chains, V).clone())  # v_1 ~ p_A, (M, V)
        log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
        beta_list = betas.tolist()
        K = len(beta_list) - 1
        for k in range(1, K + 1):
            prev, beta = beta_list[k - 1], beta_list[k]
            x = m.hidden_input(v)  # (M, V) @ (V, H) -> (M, H)
            # log p*_β(v_k) − log p*_{β_{k−1}}(v_k): the visible energies enter linearly in β.
            log_w += (beta - prev) * (base_energy(v) - m.visible_energy(v))
            log_w += (F.softplus(beta * x) - F.softplus(prev * x)).sum(dim=1)
            if k < K:
                h = units.hidden_sample(beta * x, "binary", generator)  # (M, H)
                drive = m.visible_input(h)  # b + σWh, (M, H) @ (H, V) -> (M, V)
                v = sample_visible(torch.lerp(b_A.expand_as(drive), drive, beta))
        if not torch.isfinite(log_w).all():
            raise FloatingPointError("AIS produced non-finite log weights; the model parameters may be NaN")

        # log Ẑ/Z_A = logmeanexp(w); its standard error by the delta method, all relative to max(w).
        shift = log_w.max()
        r = torch.exp(log_w - shift)  # (M,), in (0, 1]
        r_mean, r_se = r.mean(), r.std() / math.sqrt(n_chains)
        log_z = log_z_base + float(shift + torch.log(r_mean))
        lower = r_mean - 3 * r_se
        log_z_lower = log_z_base + float(shift + torch.log(lower)) if lower > 0 else -math.inf
        log_z_upper = log_z_base + float(shift + torch.log(r_mean + 3 * r_se))
    result = AISResult(
        log_z=log_z,
        log_z_std_err=float(r_se / r_mean),
        log_z_lower=log_z_lower,
        log_z_upper=log_z_upper,
        log_z_base=log_z_base,
        log_weights=log_w,
        n_chains=n_chains,
        n_betas=K,
    )
    logger.info(
        "AIS log Z = %.4f ± %.4f (M=%d chains, K=%d betas, ESS %.1f)",
        result.log_z,
        result.log_z_std_err,
        n_chains,
        K,
        result.effective_sample_size,
    )
    return result


# -- log-likelihood ----------------------------------------------------------------------------------
def log_likelihood(model: RBM, v: torch.Tensor, log_z: float | AISResult) -> torch.Tensor:
    """log p(v) = −F(v) − log Z per row, in nats; v (B, V) -> (B,) float64.

    For Gaussian visible units this is a log density in the model's (preprocessed) units, including the
    (2πσ²)^{V/2} normaliser, so it changes by −V log s if the data are rescaled by s. For Bernoulli visible
    units it is a log probability only for binary v; grey values in (0, 1) give a number without that
    meaning. With an AIS ``log_z`` the result inherits its error (and its tendency to be too high).

    Args:
        model: an RBM with binary hidden units.
        v: (B, V) visible vectors in the model's units.
        log_z: log Z from `exact_log_partition`, or an `AISResult` (its ``log_z`` is used).

    Raises:
        ValueError: NReLU hidden units, a bad shape or non-finite values in ``v`` or ``log_z``.
    """
    m = _check_model(model)
    _check_visible_batch("v", v, m.config.n_visible)
    log_z = log_z.log_z if isinstance(log_z, AISResult) else float(log_z)
    if not math.isfinite(log_z):
        raise ValueError(f"log_z must be finite, got {log_z!r}")
    with torch.no_grad():
        return -m.free_energy(v.to(device=m.W.device, dtype=torch.float64)) - log_z


def mean_log_likelihood(
    model: RBM, v: torch.Tensor, log_z: float | AISResult, *, batch_size: int = 4096
) -> float:
    """The mean of `log_likelihood` over the rows of v (nats per image), ``batch_size`` rows at a time.

    Raises:
        ValueError: as `log_likelihood`, or ``batch_size`` < 1.
    """
    m = _check_model(model)  # convert once, not per batch
    _check_positive_int("batch_size", batch_size)
    _check_visible_batch("v", v, m.config.n_visible)
    total = sum(
        float(log_likelihood(m, v[i : i + batch_size], log_z).sum()) for i in range(0, len(v), batch_size)
    )
    return total / len(v)


# -- reference density model ---------------------------------------------------------------------------
def ppca_log_likelihood(train, test, n_components: int) -> float:
    """Held-out log-likelihood (mean nats per row) of probabilistic PCA fitted by maximum likelihood.

    Tipping & Bishop (1999), "Probabilistic principal component analysis", §3.2: with S the 1/N sample
    covariance of ``train`` and eigenvalues λ_1 ≥ ... ≥ λ_V, the ML model is N(μ, C), μ the train mean,
    C = W Wᵀ + σ² I, σ² = mean of the V − q discarded eigenvalues and W = U_q (Λ_q − σ²I)^{1/2}, so C has
    eigenvalues λ_1..λ_q on the leading eigenvectors U_q and σ² on the rest. For d = x − μ,

        log p(x) = −½ [V log 2π + Σ_{j≤q} log λ_j + (V − q) log σ² + Σ_{j≤q} (u_jᵀd)²/λ_j
                      + (‖d‖² − Σ_{j≤q} (u_jᵀd)²) / σ²].

    scikit-learn's ``PCA(q).fit(train).score(test)`` computes the same model but from the N − 1
    (unbiased) covariance, so it differs by O(1/N) from this ML fit.

    Args:
        train: (N, V) training rows (tensor or array), N >= 2, in the same units as the RBM's data.
        test: (B, V) held-out rows.
        n_components: q, with 1 <= q < min(V, rank of the centred train data).

    Returns:
        mean log p(x) over the test rows, in nats per row.

    Raises:
        ValueError: bad shapes, non-finite values, or ``n_components`` out of range (σ² would be 0).
    """
    X = np.asarray(train.detach().cpu() if isinstance(train, torch.Tensor) else train, dtype=np.float64)
    T = np.asarray(test.detach().cpu() if isinstance(test, torch.Tensor) else test, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"train must have shape (N, V) with N >= 2, got {X.shape}")
    if T.ndim != 2 or T.shape[1] != X.shape[1] or T.shape[0] < 1:
        raise ValueError(f"test must have shape (B, {X.shape[1]}) with B >= 1, got {T.shape}")
    if not (np.isfinite(X).all() and np.isfinite(T).all()):
        raise ValueError("train and test must be finite, got non-finite values")
    N, V = X.shape
    q = n_components
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q < V:
        raise ValueError(f"n_components must be an integer in [1, {V - 1}] (V={V}), got {q!r}")
    mu = X.mean(axis=0)
    Xc = X - mu
    if N >= V:
        # Only the q leading eigenvectors of the (V, V) scatter: several times faster than an SVD
        # of the tall (N, V) data. σ² below needs the trace, not the other eigenvalues.
        from scipy.linalg import eigh

        lam, U = eigh(Xc.T @ Xc / N, subset_by_index=[V - q, V - 1])
        lam, Vt = np.maximum(lam[::-1], 0.0), U[:, ::-1].T
    else:
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)  # eigenvalues of S are s² / N
        lam = s**2 / N
    if q > lam.size:
        raise ValueError(f"n_components must be <= min(N, V) = {lam.size}, got {q}")
    trace = float((Xc**2).sum()) / N
    sigma2 = (trace - lam[:q].sum()) / (V - q)
    if not sigma2 > 1e-12 * max(trace / V, np.finfo(np.float64).tiny):
        raise ValueError(
            f"n_components={q} leaves no variance for the noise term (σ² = {sigma2:.3g}); the train data "
            "have rank <= n_components, so use fewer components"
        )
    D = T - mu  # (B, V)
    proj = D @ Vt[:q].T  # (B, V) @ (V, q) -> (B, q)
    resid2 = (D**2).sum(axis=1) - (proj**2).sum(axis=1)
    maha = (proj**2 / lam[:q]).sum(axis=1) + resid2 / sigma2
    log_det = np.log(lam[:q]).sum() + (V - q) * np.log(sigma2)
    return float(np.mean(-0.5 * (V * np.log(2.0 * np.pi) + log_det + maha)))
