"""`FaceRBM`: a scikit-learn style estimator around the RBM, its preprocessing and CD training.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 256, size=(200, 8, 6)).astype(np.float32)  # 200 8x6 "images", 0-255
>>> rbm = FaceRBM(n_hidden=16, epochs=2, batch_size=20).fit(X)
>>> rbm.transform(X).shape
(200, 16)
>>> rbm.reconstruct(X[:3]).shape
(3, 8, 6)
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from facerbm.devices import check_device
from facerbm.preprocess import Normalizer, check_scale
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator, split_seed
from facerbm.train import TrainConfig, Trainer, check_sparsity

_TRAIN_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "k",
    "momentum",
    "initial_momentum",
    "momentum_epochs",
    "weight_decay",
    "sparsity_target",
    "sparsity_cost",
    "persistent",
    "sample_visible",
    "init_std",
)


class FaceRBM(TransformerMixin, BaseEstimator):
    """Continuous RBM on images. The constructor only stores its arguments (scikit-learn style:
    ``get_params``, ``set_params`` and ``sklearn.base.clone`` work); ``fit`` validates them and
    learns ``model_``, ``normalizer_``, ``history_``, ``image_shape_``.

    Args:
        n_hidden, hidden, visible, sigma: see `facerbm.rbm.RBMConfig`.
        normalize: "none", "scale" or "standardize" (see `facerbm.preprocess`).
        epochs, batch_size, lr, ...: see `facerbm.train.TrainConfig`.
        seed: seeds initialisation, shuffling and sampling; the same seed gives the same model.
        device: torch device for training and inference.
    """

    def __init__(
        self,
        n_hidden: int = 500,
        *,
        hidden: str = "nrelu",
        visible: str = "gaussian",
        sigma: float = 1.0,
        normalize: str = "standardize",
        epochs: int = 10,
        batch_size: int = 100,
        lr: float = 1e-3,
        lr_schedule: str = "constant",
        k: int = 1,
        momentum: float = 0.9,
        initial_momentum: float = 0.5,
        momentum_epochs: int = 5,
        weight_decay: float = 1e-4,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.1,
        persistent: bool = False,
        sample_visible: bool = False,
        init_std: float = 0.01,
        seed: int = 0,
        device: str = "cpu",
    ):
        self.n_hidden = n_hidden
        self.hidden = hidden
        self.visible = visible
        self.sigma = sigma
        self.normalize = normalize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.k = k
        self.momentum = momentum
        self.initial_momentum = initial_momentum
        self.momentum_epochs = momentum_epochs
        self.weight_decay = weight_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.persistent = persistent
        self.sample_visible = sample_visible
        self.init_std = init_std
        self.seed = seed
        self.device = device

    # -- input checks ------------------------------------------------------------------------
    def _as_rows(self, X, *, fitting: bool) -> torch.Tensor:
        arr = np.asarray(X)
        if (
            arr.dtype == object
            or not np.issubdtype(arr.dtype, np.number)
            or np.issubdtype(arr.dtype, np.complexfloating)
        ):
            raise TypeError(f"X must be a real numeric array of images, got dtype {arr.dtype}")
        if not fitting:
            self._check_fitted()
        if arr.ndim not in (2, 3, 4):
            raise ValueError(
                f"X must be (N, V) flat images, (N, H, W) gray or (N, H, W, 3) RGB, got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValueError(f"X holds no images (shape {arr.shape})")
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise ValueError(f"X holds {bad} NaN or inf values; clean or impute them first")
        if np.issubdtype(arr.dtype, np.integer) and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"X is an integer array with values in [{arr.min()}, {arr.max()}]; integer images "
                f"must be 8-bit pixels in [0, 255]: rescale them, or pass floats"
            )
        shape = arr.shape[1:]
        if not fitting:
            V = self.model_.config.n_visible
            flat = int(np.prod(shape))
            if flat != V or (arr.ndim > 2 and tuple(shape) != tuple(self.image_shape_)):
                one = tuple(arr.shape) == tuple(self.image_shape_)
                raise ValueError(
                    f"X has images of shape {tuple(shape)}, but the model was fitted on "
                    f"{tuple(self.image_shape_)} ({V} values per image)"
                    + ("; for one image, pass X[None], a batch of one" if one else "")
                )
        return torch.from_numpy(np.ascontiguousarray(arr.reshape(len(arr), -1), dtype=np.float32))

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this FaceRBM is not fitted yet: call fit(X) first")

    # -- estimator API -----------------------------------------------------------------------
    def fit(self, X, y=None) -> FaceRBM:
        """Learn the RBM from images X (N, ...) in pixel units; ``y`` is ignored."""
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        check_device(self.device)
        rows = self._as_rows(X, fitting=True)
        if rows.shape[0] < 2:
            raise ValueError(f"X must hold at least 2 images, got {rows.shape[0]}")
        cfg = RBMConfig(
            n_visible=rows.shape[1],
            n_hidden=self.n_hidden,
            hidden=self.hidden,
            visible=self.visible,
            sigma=self.sigma,
        )
        train_cfg = TrainConfig(**{k: getattr(self, k) for k in _TRAIN_FIELDS})
        check_sparsity(train_cfg, cfg.hidden)
        if train_cfg.batch_size > rows.shape[0]:
            raise ValueError(
                f"batch_size={train_cfg.batch_size} is larger than the {rows.shape[0]} images in X"
            )
        dev = torch.device(self.device)
        self.normalizer_ = Normalizer(self.normalize).fit(rows)
        data = self.normalizer_.transform(rows).to(dev)
        warning = check_scale(data, self.sigma, self.visible, self.normalize)
        if warning:
            warnings.warn(warning, stacklevel=2)
        g = make_generator(split_seed(seed, 2), dev)
        self.model_ = RBM(cfg, device=dev)
        self.model_.reset_parameters(g, std=train_cfg.init_std, visible_mean=data.mean(0))
        scale = (self.normalizer_.std / self.normalizer_.pixel_max).to(dev)
        trainer = Trainer(self.model_, train_cfg, g, pixel_scale=scale)
        for _ in range(train_cfg.epochs):
            trainer.fit_epoch(data, data[:1000], None)
        self.history_ = trainer.history
        self.image_shape_ = tuple(np.asarray(X).shape[1:])
        self.n_features_in_ = rows.shape[1]
        self._generator = g
        return self

    def _visible(self, X) -> torch.Tensor:
        rows = self._as_rows(X, fitting=False)
        return self.normalizer_.transform(rows.to(self.model_.W.device))

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        """Hidden features E[h | v] of images X (N, ...) -> (N, n_hidden) float32."""
        v = self._visible(X)
        return self.model_.mean_hidden(v).cpu().numpy()

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    @torch.no_grad()
    def reconstruct(self, X) -> np.ndarray:
        """Mean-field reconstructions of X, in pixel units and X's shape (float32)."""
        shape = np.asarray(X).shape
        v = self._visible(X)
        out = self.normalizer_.inverse_transform(self.model_.reconstruct(v))
        return out.cpu().numpy().reshape(shape).astype(np.float32, copy=False)

    @torch.no_grad()
    def score_samples(self, X) -> np.ndarray:
        """−F(v), the negative free energy in nats (log p(v) up to the constant log Z), (N,)."""
        v = self._visible(X)
        return (-self.model_.free_energy(v)).cpu().numpy()
