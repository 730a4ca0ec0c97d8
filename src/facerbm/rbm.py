"""The restricted Boltzmann machine: energy, free energy, conditionals and Gibbs sampling.

Energy of a joint state (Hinton, "A Practical Guide to Training RBMs", 2010, §13.2), with σ a
fixed visible standard deviation shared by all pixels:

    Gaussian visible:   E(v, h) = Σ_i (v_i − b_i)² / 2σ² − Σ_j c_j h_j − Σ_ij (v_i / σ) W_ij h_j
    Bernoulli visible:  E(v, h) = − Σ_i b_i v_i − Σ_j c_j h_j − Σ_ij v_i W_ij h_j      (σ = 1)

so p(h_j | v) depends on x_j = c_j + Σ_i (v_i / σ) W_ij, and for Gaussian visible units
p(v | h) = N(b + σ W h, σ² I). The free energy F(v) = −log Σ_h exp(−E(v, h)) is

    F(v) = E_vis(v) − Σ_j A(x_j),   A = softplus (binary) or the NReLU approximation in `units`.

Tensors: v is (B, V), h is (B, H), W is (V, H), b is (V,), c is (H,).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from facerbm import units


@dataclass(frozen=True)
class RBMConfig:
    """Shape and unit types of an RBM.

    Args:
        n_visible: number of visible units V (pixels per image).
        n_hidden: number of hidden units H.
        hidden: "nrelu" (noisy rectified linear) or "binary".
        visible: "gaussian" (continuous pixels) or "bernoulli" (pixels in [0, 1]).
        sigma: fixed standard deviation σ of the Gaussian visible units, in the units of the
            preprocessed data (1.0 suits standardized pixels). Must be 1.0 for Bernoulli units.
    """

    n_visible: int
    n_hidden: int = 500
    hidden: str = "nrelu"
    visible: str = "gaussian"
    sigma: float = 1.0

    def __post_init__(self) -> None:
        for name in ("n_visible", "n_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden not in units.HIDDEN_TYPES:
            raise ValueError(f"hidden must be one of {units.HIDDEN_TYPES}, got {self.hidden!r}")
        if self.visible not in units.VISIBLE_TYPES:
            raise ValueError(f"visible must be one of {units.VISIBLE_TYPES}, got {self.visible!r}")
        if not (isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be a positive finite number, got {self.sigma!r}")
        if self.visible == "bernoulli" and self.sigma != 1.0:
            raise ValueError(f"sigma must be 1.0 for Bernoulli visible units, got {self.sigma!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class RBM(nn.Module):
    """An RBM with Gaussian or Bernoulli visible and NReLU or binary hidden units.

    Parameters are plain tensors updated by the training code (no autograd in training):
    ``W`` (V, H), ``b`` visible biases (V,), ``c`` hidden biases (H,).
    """

    def __init__(self, config: RBMConfig, *, dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        self.config = config
        V, H = config.n_visible, config.n_hidden
        self.W = nn.Parameter(torch.zeros(V, H, dtype=dtype, device=device), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(V, dtype=dtype, device=device), requires_grad=False)
        self.c = nn.Parameter(torch.zeros(H, dtype=dtype, device=device), requires_grad=False)

    @property
    def sigma(self) -> float:
        return float(self.config.sigma)

    def reset_parameters(
        self,
        generator: torch.Generator,
        *,
        std: float = 0.01,
        visible_mean: torch.Tensor | None = None,
    ) -> None:
        """W ~ N(0, std²), c = 0, b = the data mean (Hinton's guide §8) when given, else 0."""
        with torch.no_grad():
            self.W.normal_(0.0, std, generator=generator)
            self.c.zero_()
            if visible_mean is None:
                self.b.zero_()
            elif self.config.visible == "bernoulli":
                p = visible_mean.clamp(1e-3, 1 - 1e-3)
                self.b.copy_(torch.log(p) - torch.log1p(-p))
            else:
                self.b.copy_(visible_mean)

    # -- conditionals ------------------------------------------------------------------------
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """x = c + (v/σ) W; (B, V) -> (B, H)."""
        return torch.addmm(self.c, v, self.W, alpha=1.0 / self.sigma)  # (B, V) @ (V, H)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """b + σ W h; (B, H) -> (B, V). The mean of p(v|h) for Gaussian units, logits for Bernoulli."""
        return torch.addmm(self.b, h, self.W.T, alpha=self.sigma)  # (B, H) @ (H, V)

    def mean_hidden(self, v: torch.Tensor) -> torch.Tensor:
        """E[h | v]; (B, V) -> (B, H)."""
        return units.hidden_mean(self.hidden_input(v), self.config.hidden)

    def sample_hidden(self, v: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """h ~ p(h | v); (B, V) -> (B, H)."""
        return units.hidden_sample(self.hidden_input(v), self.config.hidden, generator)

    def mean_visible(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]; (B, H) -> (B, V)."""
        a = self.visible_input(h)
        return a if self.config.visible == "gaussian" else torch.sigmoid(a)

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """v ~ p(v | h): N(b + σWh, σ²) or Bernoulli(sigmoid(b + Wh)); (B, H) -> (B, V)."""
        mean = self.mean_visible(h)
        noise = torch.empty_like(mean)
        if self.config.visible == "gaussian":
            return mean.add_(noise.normal_(generator=generator), alpha=self.sigma)
        return (noise.uniform_(generator=generator) < mean).to(mean.dtype)

    # -- energies ----------------------------------------------------------------------------
    def visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        """The visible-only part of the energy; (B, V) -> (B,)."""
        if self.config.visible == "gaussian":
            return ((v - self.b) ** 2).sum(dim=1) / (2.0 * self.sigma**2)
        return -(v @ self.b)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) for each row; v (B, V), h (B, H) -> (B,). Defined for binary hidden units;
        for NReLU units it is the same bilinear form evaluated at real h ≥ 0."""
        interaction = ((v / self.sigma) @ self.W * h).sum(dim=1)  # (B, H) summed over H
        return self.visible_energy(v) - h @ self.c - interaction

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = −log Σ_h exp(−E(v, h)) in nats; (B, V) -> (B,).

        For NReLU hidden units the sum over h is the stepped-sigmoid approximation
        (`units.nrelu_log_partition`), so F is defined up to that approximation.
        """
        x = self.hidden_input(v)
        return self.visible_energy(v) - units.hidden_log_partition(x, self.config.hidden).sum(dim=1)

    # -- reconstruction and sampling ---------------------------------------------------------
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction E[v | h = E[h | v]]; (B, V) -> (B, V)."""
        return self.mean_visible(self.mean_hidden(v))

    def gibbs(
        self,
        v: torch.Tensor,
        steps: int,
        generator: torch.Generator,
        *,
        sample_visible: bool = True,
    ) -> torch.Tensor:
        """Run ``steps`` alternating Gibbs steps v -> h -> v from ``v``; (B, V) -> (B, V).

        With ``sample_visible=False`` the visible layer is set to its mean at each step, which
        is the usual way to look at samples of Gaussian-visible RBMs (the noise is just σ·ε).
        """
        for _ in range(steps):
            h = self.sample_hidden(v, generator)
            v = self.sample_visible(h, generator) if sample_visible else self.mean_visible(h)
        return v

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"n_visible={cfg.n_visible}, n_hidden={cfg.n_hidden}, visible={cfg.visible}, "
            f"hidden={cfg.hidden}, sigma={cfg.sigma}"
        )
