"""Unit types of an RBM: the maths of one layer given its total input.

Every function works on a pre-activation tensor ``x`` (the unit's total input, e.g. ``c + (v/σ) W``
for a hidden layer) and returns a tensor of the same shape. Sampling functions take the run's
``torch.Generator`` so a fixed seed reproduces a run; nothing here touches global RNG state.

Hidden unit types:

* ``binary``: h ∈ {0, 1}, p(h=1|x) = sigmoid(x).
* ``nrelu``: noisy rectified linear units (Nair & Hinton, 2010): h = max(0, x + N(0, sigmoid(x))).
  They approximate infinitely many binary units that share weights and have biases offset by
  -0.5, -1.5, ... ("stepped sigmoid units"); their free energy below is that approximation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

HIDDEN_TYPES = ("binary", "nrelu")
VISIBLE_TYPES = ("gaussian", "bernoulli")

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_PI2_6 = math.pi**2 / 6.0
# Beyond |z| = 10 the normal tail (< 1e-22) is below float32 resolution of the result, while
# erfc and exp of huge arguments are ~10x slower (underflow paths): clamp there.
_Z_MAX = 10.0
# Past y = 20 the dilogarithm series is replaced by its first term (error < e^-40); its higher
# powers of u would otherwise underflow into slow denormal numbers.
_Y_SERIES = 20.0
# Bernoulli numbers B_2, B_4, ..., B_14 over (n + 1)! for the series of the dilogarithm below.
_LI2_COEFFS = tuple(
    bn / math.factorial(n + 1)
    for n, bn in (
        (2, 1 / 6),
        (4, -1 / 30),
        (6, 1 / 42),
        (8, -1 / 30),
        (10, 5 / 66),
        (12, -691 / 2730),
        (14, 7 / 6),
    )
)


def _std_normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / _SQRT2)  # erfc keeps precision in the far left tail


def _std_normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return _INV_SQRT_2PI * torch.exp(-0.5 * z * z)


def nrelu_mean(x: torch.Tensor) -> torch.Tensor:
    """E[max(0, x + s·ε)] with s² = sigmoid(x), ε ~ N(0, 1): the rectified Gaussian mean.

    Equals x·Φ(x/s) + s·φ(x/s).
    """
    s = torch.sigmoid(x).sqrt()
    z = (x / s).clamp_(-_Z_MAX, _Z_MAX)
    return x * _std_normal_cdf(z) + s * _std_normal_pdf(z)


def nrelu_mean_out(
    x: torch.Tensor, out: torch.Tensor, scale: torch.Tensor, work: torch.Tensor
) -> torch.Tensor:
    """`nrelu_mean` written into ``out`` with no temporaries, for the training loop (no autograd).

    Also leaves s = sqrt(sigmoid(x)), the NReLU noise scale that sampling needs, in ``scale``;
    ``work`` is scratch. All four tensors have the same shape and do not overlap. Returns ``out``.
    """
    s = torch.sigmoid(x, out=scale).sqrt_()
    z = torch.div(x, s, out=out).clamp_(-_Z_MAX, _Z_MAX)
    pdf = torch.mul(z, z, out=work).mul_(-0.5).exp_()  # √(2π)·φ(z)
    cdf = z.mul_(-1.0 / _SQRT2).erfc_().mul_(0.5)  # Φ(z), in out
    return cdf.mul_(x).addcmul_(s, pdf, value=_INV_SQRT_2PI)  # x·Φ(z) + s·φ(z)


def nrelu_variance(x: torch.Tensor) -> torch.Tensor:
    """Var[max(0, x + s·ε)] with s² = sigmoid(x): (x² + s²)·Φ(x/s) + x·s·φ(x/s) − mean²."""
    s2 = torch.sigmoid(x)
    s = s2.sqrt()
    z = (x / s).clamp_(-_Z_MAX, _Z_MAX)
    cdf, pdf = _std_normal_cdf(z), _std_normal_pdf(z)
    mean = x * cdf + s * pdf
    # Clamp: the difference cancels badly for x ≪ 0, where the true variance is tiny.
    return ((x * x + s2) * cdf + x * s * pdf - mean * mean).clamp_min(0.0)


def nrelu_log_partition(x: torch.Tensor) -> torch.Tensor:
    """Log partition of one NReLU unit with input x: φ(x) = ∫_{-∞}^{x} softplus(u) du = −Li₂(−eˣ).

    This is the continuum limit of the stepped sigmoid Σ_n softplus(x − n + ½) (the midpoint rule of
    the same integral), so dφ/dx = softplus(x) ≈ the expected NReLU activity. It is an
    approximation: NReLU units have no exact energy-based partition function.

    Computed stably for any x: with y = |x| and u = −log(1 + e^{−y}),
    Li₂(−e^{−y}) = u − u²/4 + Σ B_2k u^{2k+1} / (2k+1)!  ('t Hooft-Veltman series, |u| ≤ log 2),
    and for x > 0 the inversion formula φ(x) = π²/6 + x²/2 + Li₂(−e^{−x}).
    """
    # where() rather than abs(): abs has a zero subgradient at 0, which would break dφ/dx there.
    y = torch.where(x > 0, x, -x)
    u = -torch.log1p(torch.exp(-y.clamp(max=_Y_SERIES)))
    u2 = u * u
    # Horner in u² over the odd powers u³, u⁵, ... of the series.
    acc = torch.zeros_like(u)
    for coeff in reversed(_LI2_COEFFS):
        acc = acc * u2 + coeff
    li2 = u - 0.25 * u2 + acc * u2 * u
    # Li₂(−t) = −t + O(t²) for tiny t = e^{−y}; the clamp at 80 keeps t a normal float32.
    li2 = torch.where(y > _Y_SERIES, -torch.exp(-y.clamp(max=80.0)), li2)
    return torch.where(x > 0, _PI2_6 + 0.5 * x * x + li2, -li2)


def hidden_mean(x: torch.Tensor, kind: str) -> torch.Tensor:
    """E[h | x] for hidden units of type ``kind``; x: (..., H) -> (..., H)."""
    if kind == "binary":
        return torch.sigmoid(x)
    return nrelu_mean(x)


def hidden_sample(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Draw h ~ p(h | x); x: (..., H) -> (..., H), float, same dtype as x."""
    noise = torch.empty_like(x)
    if kind == "binary":
        noise.uniform_(generator=generator)
        return (noise < torch.sigmoid(x)).to(x.dtype)
    noise.normal_(generator=generator)
    return torch.relu_(noise.mul_(torch.sigmoid(x).sqrt_()).add_(x))


def hidden_log_partition(x: torch.Tensor, kind: str) -> torch.Tensor:
    """log Σ_h exp(x·h) per unit: softplus(x) for binary, φ(x) of `nrelu_log_partition` for NReLU."""
    if kind == "binary":
        return F.softplus(x)
    return nrelu_log_partition(x)
