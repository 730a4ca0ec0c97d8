"""Local features: an RBM on small image patches, applied at every position and pooled on a grid.

A whole-face RBM must learn each feature at every place it can occur; an RBM on patches learns
local edges and blobs once and is applied everywhere (a convolutional use of a non-convolutional
model, as in Coates, Lee & Ng 2011). The pipeline, for images in pixel units:

    patch x (p*p) -> contrast-normalise: (x - mean(x)) / (std(x) + floor)
                  -> ZCA-whiten: (x - μ) Z / s   (Z = U (Λ + ε mean(Λ))^-1/2 Uᵀ, s: the overall std)
                  -> E[h | patch] of a Gaussian-visible RBM, H units
    feature map (N, H, h', w') over positions with a stride -> mean over a grid of cells
    -> (N, H * cells) features

Normalisation and whitening are linear in the patch once its mean and std are known, so the
feature map is one convolution with the folded filters Z W / (s σ) plus two pooled moments: no
patch is ever copied out of the image (`PatchRBM.feature_maps`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facerbm import units
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator, split_seed
from facerbm.train import TrainConfig, Trainer

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
"""Patches per CD mini-batch."""


@dataclass(frozen=True)
class PatchConfig:
    """How patch features are learned and read out.

    Args:
        size: patch side p in pixels.
        n_hidden: hidden units H of the patch RBM.
        hidden: "nrelu" or "binary" hidden units.
        stride: step between patch positions when features are read out.
        grid: (rows, cols) of the pooling cells over the feature map.
        n_patches: random patches the RBM trains on.
        epochs: passes over those patches.
        lr: CD learning rate (batches of `BATCH_SIZE`, momentum and weight decay as `TrainConfig`'s).
        zca_epsilon: ZCA regulariser ε, as a fraction of the mean eigenvalue (small ε whitens
            noise up; 0.1 keeps edges and damps the pixel noise).
        contrast_floor: added to each patch's std before dividing, in units of pixel_max (stops
            flat patches from being blown up to full contrast).
        pixel_max: the value of a white pixel (255 for 8-bit images).
    """

    size: int = 12
    n_hidden: int = 256
    hidden: str = "nrelu"
    stride: int = 2
    grid: tuple[int, int] = (6, 5)
    n_patches: int = 300_000
    epochs: int = 10
    lr: float = 1e-2
    zca_epsilon: float = 0.1
    contrast_floor: float = 0.05
    pixel_max: float = 255.0

    def __post_init__(self) -> None:
        for name in ("size", "n_hidden", "stride", "n_patches", "epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.size < 2:
            raise ValueError(f"size must be at least 2 pixels, got {self.size}")
        if self.hidden not in ("nrelu", "binary"):
            raise ValueError(f"hidden must be 'nrelu' or 'binary', got {self.hidden!r}")
        g = tuple(self.grid)
        if len(g) != 2 or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in g):
            raise ValueError(f"grid must be two positive integers (rows, cols), got {self.grid!r}")
        object.__setattr__(self, "grid", g)
        for name in ("lr", "zca_epsilon", "contrast_floor", "pixel_max"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number, got {v!r}")

    def map_shape(self, image_shape: tuple[int, int]) -> tuple[int, int]:
        """(h', w') positions of the feature map on images of ``image_shape`` (h, w)."""
        h, w = image_shape
        if self.size > min(h, w):
            raise ValueError(f"size={self.size} is larger than the {h}x{w} images")
        hp, wp = (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1
        if self.grid[0] > hp or self.grid[1] > wp:
            raise ValueError(
                f"grid={self.grid} has more cells than the {hp}x{wp} feature map of {h}x{w} images with "
                f"size={self.size} and stride={self.stride}; use a coarser grid or a smaller stride"
            )
        return hp, wp


def _as_images(images, name: str = "images") -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images, dtype=np.float32) if not torch.is_tensor(images) else images)
    if x.ndim != 3 or x.shape[0] < 1:
        raise ValueError(f"{name} must be (N, h, w) gray images, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} hold NaN or inf values")
    return x.float()


def sample_patches(images: torch.Tensor, size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` patches at uniformly random images and positions: (N, h, w) -> (n, size*size)."""
    N, h, w = images.shape
    i = torch.randint(N, (n,), generator=generator)
    y = torch.randint(h - size + 1, (n,), generator=generator)
    x = torch.randint(w - size + 1, (n,), generator=generator)
    r = torch.arange(size)
    rows = (y[:, None] + r)[:, :, None]
    cols = (x[:, None] + r)[:, None, :]
    return images[i[:, None, None], rows, cols].reshape(n, size * size)


def contrast_normalize(patches: torch.Tensor, floor: float) -> torch.Tensor:
    """(x - mean(x)) / (std(x) + floor) per row; (n, D) -> (n, D)."""
    x = patches - patches.mean(1, keepdim=True)
    return x / (x.std(1, keepdim=True) + floor)


class PatchRBM:
    """A patch RBM with its whitening: learned by `fit`, read out by `features`.

    Attributes after `fit`: ``model`` (the RBM on whitened patches), ``mean`` (D,), ``zca`` (D, D),
    ``scale`` (the std of whitened patches, so the RBM sees unit variance), ``history``.
    """

    def __init__(self, config: PatchConfig | None = None, *, seed: int = 0, device: str = "cpu"):
        self.config = config or PatchConfig()
        self.seed = seed
        self.device = device

    # -- learning ------------------------------------------------------------------------------
    def fit(self, images, progress=None) -> PatchRBM:
        """Learn whitening and RBM from random patches of ``images`` (N, h, w), pixel units."""
        cfg = self.config
        x = _as_images(images) / cfg.pixel_max
        cfg.map_shape(tuple(x.shape[1:]))
        g = make_generator(split_seed(self.seed, 60))
        p = contrast_normalize(sample_patches(x, cfg.size, cfg.n_patches, g), cfg.contrast_floor)
        self.mean = p.mean(0)
        eig, U = torch.linalg.eigh(torch.cov((p - self.mean).T))
        eig = eig.clamp_min(0)
        self.zca = (U / torch.sqrt(eig + cfg.zca_epsilon * eig.mean())) @ U.T
        white = (p - self.mean) @ self.zca
        self.scale = float(white.std())
        white /= self.scale
        dev = torch.device(self.device)
        white = white.to(dev)
        gen = make_generator(split_seed(self.seed, 61), dev)
        self.model = RBM(
            RBMConfig(n_visible=cfg.size**2, n_hidden=cfg.n_hidden, hidden=cfg.hidden), device=dev
        )
        self.model.reset_parameters(gen, std=0.01, visible_mean=white.mean(0))
        trainer = Trainer(self.model, TrainConfig(epochs=cfg.epochs, batch_size=BATCH_SIZE, lr=cfg.lr), gen)
        for _ in range(cfg.epochs):
            m = trainer.fit_epoch(white, white[:2000], None, progress=progress)
            logger.info("patch RBM epoch %d: reconstruction MSE %.4f", trainer.epoch, m["recon_mse_train"])
        self.history = trainer.history
        self._fold()
        return self

    def _fold(self) -> None:
        """Fold whitening and RBM weights into conv filters: pre = c0 + (conv(x, K) - m Σ K) / (s + floor)."""
        m = self.model
        A = (self.zca.to(m.W.device) @ m.W) / (self.scale * m.sigma)  # (D, H)
        self._c0 = m.c - self.mean.to(m.W.device) @ A
        self._kernels = A.T.reshape(m.config.n_hidden, 1, self.config.size, self.config.size).contiguous()
        self._kernel_sums = A.sum(0)

    def filters(self) -> np.ndarray:
        """The RBM's weights as patches in the whitened space, (H, p, p), for
        `facerbm.viz.filter_mosaic`: a trained model shows localised oriented edges; noise here means
        too few updates or too low a learning rate."""
        self._check_fitted()
        return self.model.W.detach().T.reshape(-1, self.config.size, self.config.size).cpu().numpy()

    def _check_fitted(self) -> None:
        if not hasattr(self, "model"):
            raise RuntimeError("this PatchRBM is not fitted yet: call fit(images) first")

    # -- read-out ------------------------------------------------------------------------------
    @torch.no_grad()
    def hidden_of_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """E[h | patch] of raw patches (n, p*p) in pixel units -> (n, H); the reference path."""
        self._check_fitted()
        cfg = self.config
        p = contrast_normalize(patches.float().to(self.model.W.device) / cfg.pixel_max, cfg.contrast_floor)
        return self.model.mean_hidden((p - self.mean.to(p.device)) @ self.zca.to(p.device) / self.scale)

    @torch.no_grad()
    def feature_maps(self, images) -> torch.Tensor:
        """E[h | patch] at every position: (N, h, w) pixel units -> (N, H, h', w') float32."""
        self._check_fitted()
        x = _as_images(images)
        self.config.map_shape(tuple(x.shape[1:]))
        return self._maps(x)

    def _maps(self, images: torch.Tensor) -> torch.Tensor:
        """`feature_maps` of already checked (N, h, w) float images."""
        cfg = self.config
        x = images.to(self.model.W.device)[:, None] / cfg.pixel_max
        p, s = cfg.size, cfg.stride
        mean = F.avg_pool2d(x, p, stride=s)
        var = (F.avg_pool2d(x * x, p, stride=s) - mean * mean).clamp_min_(0) * (p * p / (p * p - 1))
        pre = F.conv2d(x, self._kernels, stride=s)
        pre.sub_(mean * self._kernel_sums.view(1, -1, 1, 1)).div_(var.sqrt_().add_(cfg.contrast_floor))
        pre.add_(self._c0.view(1, -1, 1, 1))
        return units.hidden_mean(pre, cfg.hidden)

    @torch.no_grad()
    def features(self, images, batch_size: int = 256) -> np.ndarray:
        """Grid-pooled feature maps: (N, h, w) pixel units -> (N, H * rows * cols) float32.

        Cells are the adaptive-average-pooling bins of the (h', w') map; the order is unit-major
        (unit 0's cells first), as ``feature_maps(...).flatten(1)`` after pooling.
        """
        self._check_fitted()
        x = _as_images(images)
        self.config.map_shape(tuple(x.shape[1:]))
        out = [
            F.adaptive_avg_pool2d(self._maps(x[i : i + batch_size]), self.config.grid).flatten(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
        return torch.cat(out).numpy()
