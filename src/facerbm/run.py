"""A training run end to end: load faces, split, preprocess, train with checkpoints, write outputs.

This is the edge where files are read and written; the model and the training loop stay pure.
The run folder holds model.safetensors + config.json, checkpoint.safetensors, filters.png,
reconstructions.png, curves.png and metrics.json.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from facerbm import checkpoint, diagnostics, viz
from facerbm.devices import check_device
from facerbm.fileio import atomic_write_json
from facerbm.preprocess import NORMALIZE_MODES, Normalizer, check_scale
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator, split_seed
from facerbm.train import DivergenceError, TrainConfig, Trainer, check_sparsity

log = logging.getLogger(__name__)

MAX_EVAL = 2000  # images used for per-epoch train/held-out figures


@dataclass(frozen=True)
class DataConfig:
    """Where the faces come from and how they are prepared.

    Args:
        source: what `facerbm.datasets.load_faces` accepts: "sample" (the embedded LFW sample),
            an LFW folder or .tgz, an image folder, a .npy/.npz array.
        options: loader options that differ from the loader's defaults (size, crop, color, ...).
        holdout: fraction of images held out for evaluation, picked at random with the seed.
        normalize: "none", "scale" or "standardize" (see `facerbm.preprocess`).
    """

    source: str = "sample"
    options: dict = field(default_factory=dict)
    holdout: float = 0.1
    normalize: str = "standardize"

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"data source must be a non-empty path or 'sample', got {self.source!r}")
        if not (isinstance(self.holdout, (int, float)) and 0 <= self.holdout < 1):
            raise ValueError(f"holdout must be a fraction in [0, 1), got {self.holdout!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")


@dataclass
class PreparedData:
    """Faces as flat tensors, split and normalized. Pixels in the loader's units (0-255)."""

    images_shape: tuple[int, ...]  # shape of one image, (H, W) or (H, W, 3)
    train_idx: np.ndarray
    heldout_idx: np.ndarray
    pixels: torch.Tensor  # (N, V) float32 on the CPU
    normalizer: Normalizer
    source: str


def load_data(data: DataConfig, seed: int, *, progress: bool = True):
    """Load faces and split them; returns (FaceData, PreparedData)."""
    from facerbm.datasets import load_faces

    faces = load_faces(data.source, **data.options, progress=progress)
    n = len(faces)
    if n < 2:
        raise ValueError(f"data {data.source!r} has {n} image(s); training needs at least 2")
    g = make_generator(split_seed(seed, 1))
    perm = torch.randperm(n, generator=g).numpy()
    n_held = int(round(n * data.holdout))
    if data.holdout > 0 and n_held == 0:
        n_held = 1
    heldout_idx, train_idx = np.sort(perm[:n_held]), np.sort(perm[n_held:])
    if len(train_idx) < 2:
        raise ValueError(
            f"holdout={data.holdout} leaves {len(train_idx)} of the {n} images for training; "
            f"training needs at least 2: lower --holdout"
        )
    pixels = torch.from_numpy(faces.flat(np.float32))
    if not bool(torch.isfinite(pixels).all()):
        raise ValueError(f"data {data.source!r} holds NaN or inf pixels")
    normalizer = Normalizer(data.normalize).fit(pixels[train_idx])
    prepared = PreparedData(
        tuple(faces.image_shape), train_idx, heldout_idx, pixels, normalizer, faces.source
    )
    return faces, prepared


def _device_memory(dev: torch.device) -> int | None:
    """Bytes of memory on ``dev`` (physical RAM for the CPU), or None where unknown."""
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).total_memory
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(cfg: RBMConfig, dev: torch.device) -> None:
    """Refuse, before allocating, a model whose training state cannot fit on ``dev``: a failed
    allocation is a traceback, and on Linux an overcommitted one can get the process killed."""
    # Training holds W, its velocity and a copy for rollback: three (V, H) float32 arrays.
    need = 3 * 4 * cfg.n_visible * cfg.n_hidden
    have = _device_memory(dev)
    if have is not None and need > have:
        raise ValueError(
            f"n_hidden={cfg.n_hidden} with {cfg.n_visible} pixels needs about {need / 2**30:.1f} GiB "
            f"for training, more than the {have / 2**30:.1f} GiB of {dev.type} memory here; use "
            f"fewer hidden units or a smaller --size"
        )


def _images(prepared: PreparedData, rows: torch.Tensor) -> np.ndarray:
    return rows.reshape((-1,) + prepared.images_shape).numpy()


def write_pictures(
    run_dir: Path, model: RBM, prepared: PreparedData, history: list, baseline: float | None
) -> None:
    """filters.png, reconstructions.png and curves.png for a trained model."""
    norm = prepared.normalizer
    with torch.no_grad():
        W = model.W.detach().cpu() * model.sigma
        filters = norm.inverse_direction(W).T.reshape((-1,) + prepared.images_shape).numpy()
        viz.save_png(viz.filter_mosaic(filters), run_dir / "filters.png")
        idx = prepared.heldout_idx if len(prepared.heldout_idx) else prepared.train_idx
        pix = prepared.pixels[idx[:20]]
        rec = norm.inverse_transform(model.cpu().reconstruct(norm.transform(pix)))
    grid = viz.comparison_grid(
        [_images(prepared, pix), _images(prepared, rec)],
        ["held-out" if len(prepared.heldout_idx) else "train", "reconstruction"],
        pixel_max=norm.pixel_max,
    )
    viz.save_png(grid, run_dir / "reconstructions.png")
    if history:
        viz.save_png(viz.training_curves(history, baseline_mse=baseline), run_dir / "curves.png")


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    if resume:
        if not (out / checkpoint.CHECKPOINT_FILE).exists():
            raise FileNotFoundError(f"--resume {out}: no {checkpoint.CHECKPOINT_FILE} there to resume from")
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"run folder {out} already exists and is not empty; choose another "
            f"--out, add --overwrite to replace it, or --resume to continue it"
        )
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"cannot write to run folder {out}: {e.strerror}") from None


def train_run(
    out: str | Path,
    data: DataConfig | None = None,
    rbm: dict | None = None,
    train: TrainConfig | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    checkpoint_every: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    epochs: int | None = None,
) -> dict:
    """Train an RBM on faces and write the run folder ``out``.

    Args:
        out: run folder (created; must be empty unless ``overwrite`` or ``resume``).
        data: `DataConfig`; ignored when resuming (the checkpoint's is used).
        rbm: RBM options besides n_visible: n_hidden, hidden, visible, sigma.
        train: `TrainConfig`.
        seed: seeds the data split and the training generator.
        device: "cpu", "cuda", "cuda:1", ...
        checkpoint_every: write checkpoint.safetensors every this many epochs (and at the end).
        resume: continue the run in ``out`` from its checkpoint (same data, configs and seed).
        epochs: with ``resume``, train on to this many epochs instead of the run's own count
            (constant learning rate only: a decaying schedule is tied to its epoch count).

    Returns:
        The metrics dict also written to metrics.json.

    Raises:
        DivergenceError: training diverged; the last good checkpoint is kept.
    """
    out = Path(out)
    prepare_run_dir(out, resume=resume, overwrite=overwrite)
    dev = torch.device(check_device(device))
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")

    state = None
    if resume:
        model, normalizer, train_tensors, state = checkpoint.load_checkpoint(out, device=dev)
        data = DataConfig(**state["data"])
        train = TrainConfig(**state["train"])
        seed = state["seed"]
        rbm_cfg = model.config
        if epochs is not None and epochs != train.epochs:
            if train.lr_schedule != "constant" or epochs < state["epoch"]:
                raise ValueError(
                    f"epochs={epochs}: a resumed run can only train on to more epochs than the "
                    f"{state['epoch']} done, with a constant learning rate (this run: "
                    f"lr_schedule={train.lr_schedule!r})"
                )
            train = replace(train, epochs=epochs)
        if state["epoch"] >= train.epochs:
            log.warning(
                "%s already finished its %d epochs; writing its outputs again (pass a larger "
                "--epochs to train on)",
                out,
                train.epochs,
            )
    data = data or DataConfig()
    train = train or TrainConfig()
    check_sparsity(train, rbm_cfg.hidden if resume else RBMConfig(n_visible=1, **(rbm or {})).hidden)
    faces, prepared = load_data(data, seed, progress=progress)
    V = prepared.pixels.shape[1]
    if resume:
        if V != rbm_cfg.n_visible or len(faces) != state["n_images"]:
            raise ValueError(
                f"--resume {out}: the data now has {len(faces)} images of {V} pixels, "
                f"the checkpoint was made with {state['n_images']} of "
                f"{rbm_cfg.n_visible}; the data changed since the run started"
            )
        prepared.normalizer = normalizer
    else:
        rbm_cfg = RBMConfig(n_visible=V, **(rbm or {}))
        check_memory(rbm_cfg, dev)
        model = RBM(rbm_cfg, device=dev)

    norm = prepared.normalizer
    values = norm.transform(prepared.pixels)
    train_x = values[prepared.train_idx].to(dev).contiguous()
    held_x = values[prepared.heldout_idx].to(dev).contiguous()
    warning = check_scale(values[prepared.train_idx], rbm_cfg.sigma, rbm_cfg.visible, data.normalize)
    if warning:
        log.warning(warning)
    if train.batch_size > train_x.shape[0]:
        raise ValueError(
            f"batch_size={train.batch_size} is larger than the {train_x.shape[0]} "
            f"training images; use --batch-size {max(1, train_x.shape[0] // 10)} or less"
        )

    generator = make_generator(split_seed(seed, 2), dev)
    if not resume:
        model.reset_parameters(generator, std=train.init_std, visible_mean=train_x.mean(0))
    pixel_scale = (norm.std / norm.pixel_max).to(dev)
    trainer = Trainer(model, train, generator, pixel_scale=pixel_scale)
    if resume:
        trainer.load_state_tensors(
            {k: v.to(dev) for k, v in train_tensors.items()}, state["epoch"], state["history"]
        )

    train_pix = prepared.pixels[prepared.train_idx]
    mean_face = train_pix.mean(0)
    eval_pix = prepared.pixels[prepared.heldout_idx] if len(prepared.heldout_idx) else train_pix
    baseline = float(((eval_pix - mean_face) / norm.pixel_max).pow(2).mean())
    train_eval = train_x[:MAX_EVAL]
    held_eval = held_x[:MAX_EVAL] if held_x.shape[0] else None

    def save_ckpt() -> None:
        run_state = {
            "data": asdict(data),
            "train": train.to_dict(),
            "seed": seed,
            "epoch": trainer.epoch,
            "history": trainer.history,
            "n_images": len(faces),
            "image_shape": list(prepared.images_shape),
        }
        checkpoint.save_checkpoint(out, model, norm, trainer.state_tensors(), run_state)

    n_batches = math.ceil(train_x.shape[0] / train.batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=train.epochs * n_batches,
            initial=trainer.epoch * n_batches,
            unit="batch",
            desc=f"training {rbm_cfg.n_hidden} {rbm_cfg.hidden} units",
            dynamic_ncols=True,
        )
    if not resume:
        save_ckpt()  # so even a run that diverges in its first epoch leaves a loadable model
    t_start = time.perf_counter()
    try:
        while trainer.epoch < train.epochs:
            try:
                m = trainer.fit_epoch(train_x, train_eval, held_eval, baseline_mse=baseline, progress=bar)
            except DivergenceError as err:
                log.error("%s", err)
                _write_metrics(out, trainer, baseline, prepared, faces, model, train_eval, diverged=str(err))
                raise
            log.info(
                "epoch %d: recon MSE train %.5f held-out %.5f, free-energy gap %.3f",
                m["epoch"],
                m["recon_mse_train"],
                m.get("recon_mse_heldout", float("nan")),
                m.get("free_energy_gap", float("nan")),
            )
            if bar is not None:
                bar.set_postfix(
                    epoch=m["epoch"],
                    mse=f"{m.get('recon_mse_heldout', m['recon_mse_train']):.4f}",
                    base=f"{baseline:.4f}",
                    gap=f"{m.get('free_energy_gap', 0):.2f}",
                )
            if trainer.epoch % checkpoint_every == 0 or trainer.epoch == train.epochs:
                save_ckpt()
    finally:
        if bar is not None:
            bar.close()
    log.info("trained %d epochs in %.1f s", train.epochs, time.perf_counter() - t_start)

    meta = {
        "data": asdict(data),
        "train": train.to_dict(),
        "seed": seed,
        "image_shape": list(prepared.images_shape),
        "n_images": len(faces),
        "n_train": int(len(prepared.train_idx)),
        "n_heldout": int(len(prepared.heldout_idx)),
    }
    checkpoint.save_model(out, model, norm, meta)
    metrics = _write_metrics(out, trainer, baseline, prepared, faces, model, train_eval)
    write_pictures(out, model, prepared, trainer.history, baseline)
    model.to(dev)
    return metrics


def _write_metrics(
    out: Path,
    trainer: Trainer,
    baseline: float,
    prepared: PreparedData,
    faces,
    model: RBM,
    train_eval: torch.Tensor,
    diverged: str | None = None,
) -> dict:
    final = trainer.history[-1] if trainer.history else {}
    diag = diagnostics.diagnose(
        model,
        train_eval,
        recon_mse=final.get("recon_mse_heldout", final.get("recon_mse_train")),
        baseline_mse=baseline,
    )
    for text in diag["warnings"]:
        log.warning("%s", text)
    metrics = {
        "source": prepared.source,
        "n_images": len(faces),
        "n_train": int(len(prepared.train_idx)),
        "n_heldout": int(len(prepared.heldout_idx)),
        "image_shape": list(prepared.images_shape),
        "mean_face_mse_heldout": baseline,
        "final": final,
        "history": trainer.history,
        "diagnostics": diag,
        "diverged": diverged,
    }
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
