"""Pictures: filter mosaics, image grids (faces and their reconstructions, samples), curves.

Functions return Pillow images or write PNGs; images come in as numpy arrays of pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from facerbm.fileio import atomic_write_bytes

_PAD = 2
_BG = 40  # dark gray between tiles, distinct from black pixels


def _upscale_for(tile_h: int, target: int = 96) -> int:
    return max(1, math.ceil(target / tile_h))


def _to_pil(tile: np.ndarray) -> Image.Image:
    """A (H, W) or (H, W, 3) array of values in [0, 1] -> 8-bit image."""
    return Image.fromarray(np.clip(np.rint(np.nan_to_num(tile * 255.0)), 0, 255).astype(np.uint8))


def tile_grid(
    tiles: np.ndarray,
    ncols: int,
    *,
    upscale: int | None = None,
    row_labels: Sequence[str] | None = None,
) -> Image.Image:
    """Lay out tiles (K, H, W) or (K, H, W, 3) with values in [0, 1] on a grid of ``ncols``.

    Empty slots of the last row stay background. ``row_labels`` (one per row) are drawn on the left.
    """
    K, h, w = tiles.shape[:3]
    rgb = tiles.ndim == 4
    up = upscale or _upscale_for(h)
    th, tw = h * up, w * up
    nrows = math.ceil(K / ncols)
    label_w = 0
    font = ImageFont.load_default()
    if row_labels:
        label_w = 12 + max(
            int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(s, font=font)) for s in row_labels
        )
    mode = "RGB" if rgb else "L"
    bg = (_BG,) * 3 if rgb else _BG
    canvas = Image.new(mode, (label_w + ncols * (tw + _PAD) + _PAD, nrows * (th + _PAD) + _PAD), bg)
    for k in range(K):
        r, c = divmod(k, ncols)
        img = _to_pil(tiles[k]).resize(
            (tw, th), Image.Resampling.NEAREST if up > 4 else Image.Resampling.BICUBIC
        )
        canvas.paste(img, (label_w + _PAD + c * (tw + _PAD), _PAD + r * (th + _PAD)))
    if row_labels:
        draw = ImageDraw.Draw(canvas)
        white = (230,) * 3 if rgb else 230
        for r, text in enumerate(row_labels[:nrows]):
            draw.text((6, _PAD + r * (th + _PAD) + th // 2 - 6), text, fill=white, font=font)
    return canvas


def filter_mosaic(
    filters: np.ndarray,
    *,
    ncols: int | None = None,
    sort: bool = True,
    max_filters: int | None = None,
) -> Image.Image:
    """One tile per hidden unit; each tile scaled symmetric around zero (gray = 0).

    Args:
        filters: (K, H, W) or (K, H, W, 3), e.g. the columns of W reshaped to images, ideally in
            pixel units (see `Normalizer.inverse_direction`).
        sort: strongest filters (largest L2 norm) first.
        max_filters: show at most this many (after sorting).
    """
    f = np.asarray(filters, dtype=np.float64)
    K = f.shape[0]
    order = np.argsort(-np.sqrt((f.reshape(K, -1) ** 2).sum(1)), kind="stable") if sort else np.arange(K)
    if max_filters:
        order = order[:max_filters]
    f = f[order]
    scale = np.abs(f.reshape(len(f), -1)).max(1)
    scale[scale == 0] = 1.0
    tiles = 0.5 + 0.5 * f / scale.reshape((-1,) + (1,) * (f.ndim - 1))
    ncols = ncols or max(1, math.ceil(math.sqrt(len(f) * 1.3)))
    return tile_grid(tiles, ncols, upscale=_upscale_for(f.shape[1], 48))


def comparison_grid(
    rows: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    pixel_max: float = 255.0,
    per_row: int = 10,
) -> Image.Image:
    """Stack image sets row by row: e.g. originals over reconstructions, ``per_row`` per line.

    Args:
        rows: arrays (n, H, W) or (n, H, W, 3) of the same n, pixels in [0, pixel_max].
        labels: a label per array ("original", "reconstruction", ...).
    """
    n = rows[0].shape[0]
    tiles, names = [], []
    for start in range(0, n, per_row):
        for arr, label in zip(rows, labels, strict=False):
            chunk = np.asarray(arr[start : start + per_row], dtype=np.float64) / pixel_max
            if chunk.shape[0] < per_row:
                pad = np.zeros((per_row - chunk.shape[0],) + chunk.shape[1:])
                chunk = np.concatenate([chunk, pad + _BG / 255.0])
            tiles.append(chunk)
            names.append(label)
    return tile_grid(np.concatenate(tiles), per_row, row_labels=names)


def sample_grid(images: np.ndarray, *, pixel_max: float = 255.0, ncols: int = 10) -> Image.Image:
    """Images (n, H, W) or (n, H, W, 3) with pixels in [0, pixel_max] on a grid."""
    return tile_grid(np.asarray(images, dtype=np.float64) / pixel_max, ncols)


def training_curves(history: Sequence[dict], *, baseline_mse: float | None = None) -> Image.Image:
    """Reconstruction error (train / held-out, pixels in [0, 1]) and free-energy gap per epoch."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for key, label in (("recon_mse_train", "train"), ("recon_mse_heldout", "held-out")):
        if all(key in h for h in history):
            ax1.plot(epochs, [h[key] for h in history], marker="o", ms=3, label=label)
    if baseline_mse is not None:
        ax1.axhline(baseline_mse, color="gray", ls="--", label="mean face")
        ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("reconstruction MSE (pixels in [0, 1])")
    ax1.legend()
    ax1.grid(alpha=0.3)
    if all("free_energy_gap" in h for h in history):
        ax2.plot(epochs, [h["free_energy_gap"] for h in history], marker="o", ms=3, color="C2")
        ax2.axhline(0, color="gray", lw=0.8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("free energy: held-out − train (nats)")
    ax2.set_title("overfitting monitor (> 0: held-out less likely)", fontsize=9)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def save_png(image: Image.Image, path) -> None:
    """Write ``image`` as PNG atomically."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())
