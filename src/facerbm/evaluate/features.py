"""Hidden features of faces from a model trained with a run's settings on a chosen set of images."""

from __future__ import annotations

import logging

import numpy as np
import torch

from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator, split_seed
from facerbm.train import DivergenceError, TrainConfig, Trainer

logger = logging.getLogger(__name__)


def train_rbm(
    pixels: np.ndarray,
    rbm: dict,
    train: TrainConfig,
    normalize: str,
    *,
    seed: int,
    device: str = "cpu",
    progress: bool = False,
    desc: str = "training",
) -> tuple[RBM, Normalizer, dict]:
    """Train an RBM on flat images as `facerbm.run.train_run` does, without a run folder.

    Args:
        pixels: (N, V) images in pixel units (0-255).
        rbm: RBM options besides n_visible (n_hidden, hidden, visible, sigma), as in config.json.
        train: the CD settings.
        normalize: "none", "scale" or "standardize".
        seed: seeds initialisation, shuffling and sampling.
        progress: a progress bar over the mini-batches.

    Returns:
        (model, normalizer, info) with info {"n_images", "epochs", "diverged": message or None}. A
        run that diverges keeps the parameters of its last good epoch (the trainer rolls back), and
        info says so; the features are still those of a valid model.
    """
    rows = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"pixels must be (N, V) with N >= 2, got {tuple(rows.shape)}")
    dev = torch.device(device)
    normalizer = Normalizer(normalize).fit(rows)
    data = normalizer.transform(rows).to(dev).contiguous()
    cfg = RBMConfig(n_visible=rows.shape[1], **rbm)
    if train.batch_size > data.shape[0]:
        raise ValueError(f"batch_size={train.batch_size} is larger than the {data.shape[0]} training images")
    g = make_generator(split_seed(seed, 2), dev)
    model = RBM(cfg, device=dev)
    model.reset_parameters(g, std=train.init_std, visible_mean=data.mean(0))
    scale = (normalizer.std / normalizer.pixel_max).to(dev)
    trainer = Trainer(model, train, g, pixel_scale=scale)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        n_batches = -(-data.shape[0] // train.batch_size)
        bar = tqdm(total=train.epochs * n_batches, unit="batch", desc=desc, dynamic_ncols=True, leave=False)
    diverged = None
    try:
        while trainer.epoch < train.epochs:
            trainer.fit_epoch(data, data[:1000], None, progress=bar)
    except DivergenceError as e:
        diverged = str(e)
        logger.warning("%s: %s", desc, e)
    finally:
        if bar is not None:
            bar.close()
    info = {"n_images": int(data.shape[0]), "epochs": int(trainer.epoch), "diverged": diverged}
    return model, normalizer, info


@torch.no_grad()
def hidden_features(
    model: RBM, normalizer: Normalizer, pixels: np.ndarray, batch_size: int = 4096
) -> np.ndarray:
    """E[h | v] of flat images (N, V) in pixel units -> (N, H) float64."""
    dev = model.W.device
    out = []
    for i in range(0, len(pixels), batch_size):
        v = normalizer.transform(torch.as_tensor(np.asarray(pixels[i : i + batch_size], dtype=np.float32)))
        out.append(model.mean_hidden(v.to(dev)).cpu().numpy())
    return np.concatenate(out).astype(np.float64)
