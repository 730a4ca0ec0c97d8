"""Contrastive divergence training: CD-k / persistent CD with momentum, weight decay and sparsity.

One CD-k update for a mini-batch v⁰ of B rows (Hinton 2002; Hinton's practical guide, 2010):

    p⁰ = E[h | v⁰],  h ~ p(h | v⁰),  k times: vᵏ = E[v | h] (or a sample), h ~ p(h | vᵏ),  pᵏ = E[h | vᵏ]
    ΔW ∝ (v⁰ᵀ p⁰ − vᵏᵀ pᵏ) / (B σ) − λ W,   Δb ∝ mean(v⁰ − vᵏ) / σ²,   Δc ∝ mean(p⁰ − pᵏ)

and each parameter moves by its velocity: vel ← μ·vel + lr·Δ, θ ← θ + vel.

The hot loop is written for speed: the data set is one tensor on the device, every batch reuses
preallocated buffers, and the two outer products of ΔW are one matmul of the stacked batches
[v⁰; vᵏ]ᵀ [p⁰; −pᵏ] accumulated straight into the velocity (`addmm_`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch

from facerbm import units
from facerbm.rbm import RBM

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "linear", "cosine")


class DivergenceError(RuntimeError):
    """Training produced non-finite or exploding values; the model was rolled back to the last
    good epoch. Attributes: epoch, batch (1-based), parameter, cause."""

    def __init__(self, epoch: int, batch: int | None, parameter: str | None, cause: str):
        self.epoch, self.batch, self.parameter, self.cause = epoch, batch, parameter, cause
        where = f"epoch {epoch}" + (f", batch {batch}" if batch is not None else "")
        what = f" in {parameter}" if parameter else ""
        back = f"the end of epoch {epoch - 1}" if epoch > 1 else "its initial state"
        super().__init__(
            f"training diverged at {where}: {cause}{what}. The model was rolled back to {back}. "
            f"Try a lower learning rate (--lr), normalize='standardize', or a sigma closer to the "
            f"data's standard deviation."
        )


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of CD training.

    Args:
        epochs: passes over the training set.
        batch_size: images per mini-batch (the last batch may be smaller).
        lr: learning rate of the weights and biases.
        lr_schedule: "constant", "linear" (to zero at the end) or "cosine".
        k: Gibbs steps in the negative phase (CD-k).
        momentum: momentum after ``momentum_epochs`` epochs.
        initial_momentum: momentum for the first ``momentum_epochs`` epochs (0.5 in Hinton's guide).
        momentum_epochs: epochs at ``initial_momentum``.
        weight_decay: L2 penalty λ on W (not on biases).
        sparsity_target: desired mean hidden activity, or None for no sparsity penalty.
        sparsity_cost: strength of the sparsity penalty on the hidden biases.
        persistent: persistent CD (Tieleman 2008): negative chains carry over between batches.
        sample_visible: sample the visible units in the negative phase instead of taking their
            mean (persistent chains always sample).
        init_std: standard deviation of the initial weights.
    """

    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    lr_schedule: str = "constant"
    k: int = 1
    momentum: float = 0.9
    initial_momentum: float = 0.5
    momentum_epochs: int = 5
    weight_decay: float = 1e-4
    sparsity_target: float | None = None
    sparsity_cost: float = 0.1
    persistent: bool = False
    sample_visible: bool = False
    init_std: float = 0.01

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, rule: str) -> None:
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")

        def is_int(x) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        def is_num(x) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

        check("epochs", is_int(self.epochs) and self.epochs >= 1, "a positive integer")
        check("batch_size", is_int(self.batch_size) and self.batch_size >= 1, "a positive integer")
        check("k", is_int(self.k) and self.k >= 1, "a positive integer")
        check(
            "momentum_epochs",
            is_int(self.momentum_epochs) and self.momentum_epochs >= 0,
            "a non-negative integer",
        )
        check("lr", is_num(self.lr) and self.lr > 0, "a positive number")
        check("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {LR_SCHEDULES}")
        for name in ("momentum", "initial_momentum"):
            check(name, is_num(getattr(self, name)) and 0 <= getattr(self, name) < 1, "in [0, 1)")
        check("weight_decay", is_num(self.weight_decay) and self.weight_decay >= 0, "≥ 0")
        check("sparsity_cost", is_num(self.sparsity_cost) and self.sparsity_cost >= 0, "≥ 0")
        check("init_std", is_num(self.init_std) and self.init_std > 0, "a positive number")
        if self.sparsity_target is not None:
            check(
                "sparsity_target",
                is_num(self.sparsity_target) and self.sparsity_target > 0,
                "a positive number or None",
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``."""
        frac = epoch / self.epochs
        if self.lr_schedule == "linear":
            return self.lr * (1.0 - frac)
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        return self.lr

    def momentum_at(self, epoch: int) -> float:
        return self.initial_momentum if epoch < self.momentum_epochs else self.momentum


def check_sparsity(train: TrainConfig, hidden: str) -> None:
    """A binary unit's mean activity is a probability: a target of 1 or more cannot be met."""
    t = train.sparsity_target
    if t is not None and hidden == "binary" and t >= 1:
        raise ValueError(
            f"sparsity_target must be in (0, 1) for binary hidden units (a mean activity), got {t!r}"
        )


class _Buffers:
    """Preallocated work tensors for one batch size, so the inner loop allocates nothing."""

    def __init__(self, B: int, V: int, H: int, like: torch.Tensor):
        new = lambda *shape: torch.empty(*shape, dtype=like.dtype, device=like.device)  # noqa: E731
        self.vv = new(2 * B, V)  # rows [0, B): v⁰, rows [B, 2B): vᵏ
        self.pp = new(2 * B, H)  # rows [0, B): p⁰, rows [B, 2B): −pᵏ
        self.x = new(B, H)  # total input of the hidden units
        self.spread = new(B, H)  # sigmoid(x) (binary) or its square root, the NReLU noise scale
        self.work = new(B, H)
        self.noise_h = new(B, H)
        self.noise_v = new(B, V)
        self.diff = new(B, V)
        # Σ over the batch of v⁰ − vᵏ (and p⁰ − pᵏ) as a matrix-vector product with (+1, ..., −1, ...)
        # (and all ones), so no (B, V) difference or column-sum pass is needed.
        self.signs = torch.cat([torch.ones(B), -torch.ones(B)]).to(like.device, like.dtype)
        self.ones = torch.ones(2 * B, dtype=like.dtype, device=like.device)


class Trainer:
    """Runs CD training on an `RBM` and holds everything needed to resume it.

    Args:
        model: the RBM, already on its device.
        config: the `TrainConfig`.
        generator: the run's generator, on the model's device.
        pixel_scale: optional (V,) factors mapping a model-unit difference to pixels in [0, 1],
            so reconstruction errors are reported in pixel units.
    """

    def __init__(
        self,
        model: RBM,
        config: TrainConfig,
        generator: torch.Generator,
        *,
        pixel_scale: torch.Tensor | None = None,
    ):
        self.model, self.config, self.generator = model, config, generator
        p = model.W
        self.vel_W = torch.zeros_like(p)
        self.vel_b = torch.zeros_like(model.b)
        self.vel_c = torch.zeros_like(model.c)
        self.q = torch.zeros_like(model.c)  # running mean hidden activity (sparsity)
        self.chains: torch.Tensor | None = None  # persistent chains (PCD)
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.pixel_scale = None if pixel_scale is None else pixel_scale.to(p.device, p.dtype)
        self._buffers: dict[int, _Buffers] = {}

    # -- state for checkpoints -----------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors that, with the model's, resume training exactly (velocities, RNG, chains)."""
        out = {
            "train.vel_W": self.vel_W,
            "train.vel_b": self.vel_b,
            "train.vel_c": self.vel_c,
            "train.q": self.q,
            "train.rng_state": self.generator.get_state(),
        }
        if self.chains is not None:
            out["train.chains"] = self.chains
        return {k: v.detach().contiguous() for k, v in out.items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], epoch: int, history: list) -> None:
        dev = self.model.W.device
        self.vel_W.copy_(tensors["train.vel_W"])
        self.vel_b.copy_(tensors["train.vel_b"])
        self.vel_c.copy_(tensors["train.vel_c"])
        self.q.copy_(tensors["train.q"])
        self.generator.set_state(tensors["train.rng_state"].cpu())
        chains = tensors.get("train.chains")
        self.chains = None if chains is None else chains.to(dev).clone()
        self.epoch = epoch
        self.history = list(history)

    # -- training ------------------------------------------------------------------------------
    def _buffers_for(self, B: int) -> _Buffers:
        if B not in self._buffers:
            m = self.model
            self._buffers[B] = _Buffers(B, m.config.n_visible, m.config.n_hidden, m.W)
        return self._buffers[B]

    @torch.no_grad()
    def _step(
        self,
        data: torch.Tensor,
        idx: torch.Tensor,
        lr: float,
        mom: float,
        *,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One CD-k update on rows ``idx`` of ``data``; returns Σ (v⁰ − vᵏ)² as a 0-d tensor
        (written into the 0-d ``out`` when given).

        Nothing here allocates or reads a value back to the host, so on a GPU the batches queue
        up without synchronizing.
        """
        m, cfg, g = self.model, self.config, self.generator
        W, b, c, sigma = m.W, m.b, m.c, m.sigma
        gaussian = m.config.visible == "gaussian"
        B = idx.shape[0]
        buf = self._buffers_for(B)
        v0, vk = buf.vv[:B], buf.vv[B:]
        p0, neg_pk = buf.pp[:B], buf.pp[B:]
        x = buf.x

        torch.index_select(data, 0, idx, out=v0)
        torch.addmm(c, v0, W, alpha=1.0 / sigma, out=x)  # (B, V) @ (V, H)
        # Computing p⁰ also yields what sampling h from x needs: sigmoid(x) (binary, p⁰ itself) or
        # its square root (NReLU, left in buf.spread).
        spread = self._hidden_mean(x, p0, buf)
        if cfg.persistent:
            if self.chains is None or self.chains.shape[0] != B:
                self.chains = v0.clone()
            torch.addmm(c, self.chains, W, alpha=1.0 / sigma, out=x)
            spread = None
        sample_v = cfg.sample_visible or cfg.persistent
        for _ in range(cfg.k):
            h = self._sample_hidden(x, buf, spread)
            torch.addmm(b, h, W.T, alpha=sigma, out=vk)  # (B, H) @ (H, V)
            if not gaussian:
                vk.sigmoid_()
            if sample_v:
                if gaussian:
                    vk.add_(buf.noise_v.normal_(generator=g), alpha=sigma)
                else:
                    vk.copy_(buf.noise_v.uniform_(generator=g).lt_(vk))
            torch.addmm(c, vk, W, alpha=1.0 / sigma, out=x)  # (B, V) @ (V, H)
            spread = None
        if cfg.persistent:
            self.chains.copy_(vk)
        self._hidden_mean(x, neg_pk, buf)
        neg_pk.neg_()

        # Velocities: vel ← μ vel + lr Δ. The weight gradient is one (V, 2B) @ (2B, H) matmul and
        # the bias gradients are matrix-vector products with the stacked batches.
        self.vel_W.addmm_(buf.vv.T, buf.pp, beta=mom, alpha=lr / (B * sigma))
        if cfg.weight_decay:
            self.vel_W.add_(W, alpha=-lr * cfg.weight_decay)
        vis_scale = sigma**2 if gaussian else 1.0
        self.vel_b.addmv_(buf.vv.T, buf.signs, beta=mom, alpha=lr / (B * vis_scale))  # Σ v⁰ − vᵏ
        self.vel_c.addmv_(buf.pp.T, buf.ones, beta=mom, alpha=lr / B)  # Σ p⁰ − pᵏ
        if cfg.sparsity_target is not None:
            # Lee et al. (2008): push the running mean activity q towards the target via c.
            self.q.mul_(0.9).add_(p0.mean(0), alpha=0.1)
            self.vel_c.add_(cfg.sparsity_target - self.q, alpha=lr * cfg.sparsity_cost)
        W.add_(self.vel_W)
        b.add_(self.vel_b)
        c.add_(self.vel_c)
        flat = torch.sub(v0, vk, out=buf.diff).view(-1)
        return torch.dot(flat, flat) if out is None else torch.dot(flat, flat, out=out)

    def _hidden_mean(self, x: torch.Tensor, out: torch.Tensor, buf: _Buffers) -> torch.Tensor:
        """E[h | x] into ``out``; returns the spread of p(h | x) that `_sample_hidden` takes:
        sigmoid(x) (binary: ``out`` itself) or sqrt(sigmoid(x)) (NReLU: in ``buf.spread``)."""
        if self.model.config.hidden == "binary":
            return torch.sigmoid(x, out=out)
        units.nrelu_mean_out(x, out, buf.spread, buf.work)
        return buf.spread

    def _sample_hidden(
        self, x: torch.Tensor, buf: _Buffers, spread: torch.Tensor | None = None
    ) -> torch.Tensor:
        """h ~ p(h | x) into ``buf.noise_h``; ``spread`` is sigmoid(x) (binary) or sqrt(sigmoid(x))
        (NReLU) when already known, else it is computed into ``buf.spread``."""
        g, noise = self.generator, buf.noise_h
        binary = self.model.config.hidden == "binary"
        if spread is None:
            spread = torch.sigmoid(x, out=buf.spread)
            if not binary:
                spread.sqrt_()
        if binary:
            return noise.uniform_(generator=g).lt_(spread)
        # NReLU: max(0, x + N(0, sigmoid(x))), built in the noise buffer.
        return torch.addcmul(x, noise.normal_(generator=g), spread, out=noise).relu_()

    def run_epoch(self, data: torch.Tensor, progress=None) -> tuple[float, torch.Tensor]:
        """One pass over ``data`` (N, V) in a seeded random order; returns (seconds, batch errors).

        Raises:
            DivergenceError: a batch produced non-finite values (the caller rolls back).
        """
        cfg = self.config
        N = data.shape[0]
        lr, mom = cfg.lr_at(self.epoch), cfg.momentum_at(self.epoch)
        perm = torch.randperm(N, generator=self.generator, device=data.device)
        n_batches = math.ceil(N / cfg.batch_size)
        errors = torch.empty(n_batches, dtype=data.dtype, device=data.device)
        # On the CPU reading a value back is free, so every batch is checked and a divergence
        # names its batch; on a GPU it waits for the queue, so only every 50th batch checks.
        on_cpu = data.device.type == "cpu"
        checked = 0
        t0 = time.perf_counter()
        for i in range(n_batches):
            err = self._step(
                data, perm[i * cfg.batch_size : (i + 1) * cfg.batch_size], lr, mom, out=errors[i]
            )
            if on_cpu:
                if not math.isfinite(err.item()):
                    raise DivergenceError(
                        self.epoch + 1, i + 1, self._bad_parameter(), "non-finite reconstruction"
                    )
            elif (i + 1) % 50 == 0 or i + 1 == n_batches:
                bad = ~torch.isfinite(errors[checked : i + 1])
                if bool(bad.any()):
                    first = checked + int(bad.nonzero()[0, 0]) + 1
                    raise DivergenceError(
                        self.epoch + 1, first, self._bad_parameter(), "non-finite reconstruction"
                    )
                checked = i + 1
            if progress is not None:
                progress.update(1)
        if data.device.type == "cuda":
            torch.cuda.synchronize(data.device)
        return time.perf_counter() - t0, errors

    def _bad_parameter(self) -> str | None:
        for name, p in (("W", self.model.W), ("b", self.model.b), ("c", self.model.c)):
            if not bool(torch.isfinite(p).all()):
                return name
        return None

    @torch.no_grad()
    def evaluate(self, train_eval: torch.Tensor, heldout: torch.Tensor | None) -> dict:
        """Per-epoch figures: reconstruction MSE (pixels in [0, 1]), free energies and their gap,
        mean hidden activity, weight norm."""
        m = self.model
        out: dict = {}
        for name, v in (("train", train_eval), ("heldout", heldout)):
            if v is None or v.shape[0] == 0:
                continue
            ph = m.mean_hidden(v)
            err = m.mean_visible(ph) - v
            if self.pixel_scale is not None:
                err = err * self.pixel_scale
            out[f"recon_mse_{name}"] = float(err.pow(2).mean())
            out[f"free_energy_{name}"] = float(m.free_energy(v).mean())
            if name == "train":
                out["mean_hidden"] = float(ph.mean())
        if "free_energy_heldout" in out:
            out["free_energy_gap"] = out["free_energy_heldout"] - out["free_energy_train"]
        out["weight_norm"] = float(m.W.norm())
        out["hidden_bias_mean"] = float(m.c.mean())
        return out

    def fit_epoch(
        self,
        data: torch.Tensor,
        train_eval: torch.Tensor,
        heldout: torch.Tensor | None,
        *,
        baseline_mse: float | None = None,
        progress=None,
    ) -> dict:
        """Train one epoch and return its metrics; on divergence restore the parameters of the
        previous epoch and raise `DivergenceError`."""
        m = self.model
        saved = {k: t.clone() for k, t in self.state_tensors().items()}
        saved_params = [p.detach().clone() for p in (m.W, m.b, m.c)]
        epoch = self.epoch + 1
        try:
            seconds, _ = self.run_epoch(data, progress)
            metrics = self.evaluate(train_eval, heldout)
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            if bad:
                raise DivergenceError(epoch, None, self._bad_parameter(), f"non-finite {bad[0]}")
            if baseline_mse and metrics["recon_mse_train"] > 100 * baseline_mse:
                raise DivergenceError(
                    epoch,
                    None,
                    "W",
                    f"exploding reconstruction error "
                    f"({metrics['recon_mse_train']:.3g}, over 100x the mean-face error {baseline_mse:.3g})",
                )
        except DivergenceError:
            with torch.no_grad():
                for p, s in zip((m.W, m.b, m.c), saved_params, strict=False):
                    p.copy_(s)
            self.load_state_tensors(saved, self.epoch, self.history)
            raise
        metrics = {
            "epoch": epoch,
            "lr": self.config.lr_at(self.epoch),
            "momentum": self.config.momentum_at(self.epoch),
            "seconds": seconds,
            "images_per_second": data.shape[0] / seconds,
            **metrics,
        }
        self.epoch = epoch
        self.history.append(metrics)
        return metrics
