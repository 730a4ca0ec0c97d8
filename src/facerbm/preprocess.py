"""Pixel preprocessing for the visible units, invertible so results come back in pixel units.

Modes:
* ``none``: raw pixels (0-255 for 8-bit images), as the original tutorial used.
* ``scale``: pixels / pixel_max, in [0, 1].
* ``standardize``: per-pixel z-score with the training set's mean and standard deviation, the
  textbook choice for Gaussian visible units with σ = 1.
"""

from __future__ import annotations

import math

import torch

NORMALIZE_MODES = ("none", "scale", "standardize")


class Normalizer:
    """Maps flat images (N, V) in pixel units to model units and back.

    Attributes (after `fit`): ``mean`` (V,) and ``std`` (V,) such that
    model = (pixels − mean) / std; ``pixel_max`` is 255 for 8-bit data and 1 for data in [0, 1].
    """

    def __init__(self, mode: str = "standardize"):
        if mode not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")
        self.mode = mode
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.pixel_max: float = 255.0

    def fit(self, pixels: torch.Tensor) -> Normalizer:
        """Learn the statistics from training pixels (N, V); returns self."""
        pixels = pixels.to(torch.float64)
        N, V = pixels.shape
        if self.mode == "standardize" and N < 2:
            raise ValueError(
                f"normalize='standardize' needs at least 2 training images for per-pixel statistics, got {N}"
            )
        self.pixel_max = 255.0 if float(pixels.max()) > 1.0 else 1.0
        if self.mode == "standardize":
            self.mean = pixels.mean(0)
            std = pixels.std(0)
            # A constant pixel would divide by zero; give it a tiny fraction of the typical spread.
            floor = max(float(std.median()) * 1e-3, 1e-8)
            self.std = std.clamp_min(floor)
        elif self.mode == "scale":
            self.mean = torch.zeros(V, dtype=torch.float64)
            self.std = torch.full((V,), self.pixel_max, dtype=torch.float64)
        else:
            self.mean = torch.zeros(V, dtype=torch.float64)
            self.std = torch.ones(V, dtype=torch.float64)
        self.mean = self.mean.float()
        self.std = self.std.float()
        return self

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is None or self.std is None:
            raise RuntimeError("Normalizer is not fitted: call fit(pixels) first")
        return (
            self.mean.to(device=like.device, dtype=like.dtype),
            self.std.to(device=like.device, dtype=like.dtype),
        )

    def transform(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (N, V) -> model units (N, V), same dtype and device."""
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def inverse_transform(self, values: torch.Tensor) -> torch.Tensor:
        """Model units (N, V) -> pixels (N, V)."""
        mean, std = self._stats(values)
        return values * std + mean

    def inverse_direction(self, direction: torch.Tensor) -> torch.Tensor:
        """A change in model units (V, K) -> the same change in pixels (V, K) (no offset)."""
        _, std = self._stats(direction)
        return direction * std[:, None]

    def state_dict(self) -> dict[str, torch.Tensor]:
        mean, std = self._stats(torch.empty(0))
        return {"normalize.mean": mean.contiguous(), "normalize.std": std.contiguous()}

    def to_dict(self) -> dict:
        return {"mode": self.mode, "pixel_max": self.pixel_max}

    @classmethod
    def from_state(cls, info: dict, tensors: dict[str, torch.Tensor]) -> Normalizer:
        norm = cls(info["mode"])
        norm.pixel_max = float(info["pixel_max"])
        if not (math.isfinite(norm.pixel_max) and norm.pixel_max > 0):
            raise ValueError(f"pixel_max must be a positive number, got {info['pixel_max']!r}")
        norm.mean = tensors["normalize.mean"].float()
        norm.std = tensors["normalize.std"].float()
        return norm


def check_scale(values: torch.Tensor, sigma: float, visible: str, normalize: str) -> str | None:
    """Check preprocessed training values (N, V) against the visible units.

    Returns:
        A warning sentence when the data's spread is over 10x away from the Gaussian units'
        sigma (learning is then slow or unstable), else None.

    Raises:
        ValueError: values outside [0, 1] for Bernoulli visible units.
    """
    if visible == "bernoulli":
        lo, hi = float(values.min()), float(values.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"Bernoulli visible units need values in [0, 1], but the data after "
                f"normalize={normalize!r} lies in [{lo:.3g}, {hi:.3g}]; use normalize='scale'"
            )
        return None
    std = float(values.std(0).mean()) if values.shape[0] > 1 else 0.0
    if std == 0.0:
        return (
            "every training image is the same (no pixel varies), so there is nothing to learn; check the data"
        )
    if not (sigma / 10 <= std <= sigma * 10):
        return (
            f"the data's per-pixel standard deviation after normalize={normalize!r} is {std:.3g}, "
            f"far from the Gaussian visible units' sigma={sigma:.3g}; learning will be slow or "
            f"unstable: "
            + (
                f"set sigma near {std:.3g}"
                if normalize == "standardize"
                else f"use normalize='standardize' or set sigma near {std:.3g}"
            )
        )
    return None
