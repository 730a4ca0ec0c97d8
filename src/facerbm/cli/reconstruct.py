"""Reconstruct faces with a trained model: originals on one row, mean-field reconstructions under
them. Give image files, or a data set with --data (default: the run's held-out faces)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from facerbm.cli.common import (
    LFW_FACE_CROP,
    UserError,
    add_device,
    load_run,
    nonnegative_int,
    positive_int,
    read_image_file,
)

HELP = "write a grid of faces and their reconstructions"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", type=Path, help="image files to reconstruct")
    p.add_argument("--model", required=True, help="run folder written by 'facerbm train'")
    p.add_argument(
        "--data",
        default=None,
        help="data set to take faces from instead of image files (same choices as "
        "'facerbm train --data'); default: the run's own held-out faces",
    )
    p.add_argument("--n", type=positive_int, default=20, help="how many faces from --data")
    p.add_argument(
        "--gibbs",
        type=nonnegative_int,
        default=0,
        help="also show the faces after this many Gibbs steps (0: off)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the Gibbs steps")
    p.add_argument(
        "--out", type=Path, default=None, help="PNG to write (default: RUN/reconstructions-cli.png)"
    )
    add_device(p)


def faces_from_run_data(config: dict, data: str | None, n: int) -> np.ndarray:
    """(n, ...) pixel images: the run's held-out faces, or the first n of another data set."""
    from facerbm.run import DataConfig, load_data

    if data is None:
        cfg = DataConfig(**config["data"])
        faces, prepared = load_data(cfg, config["seed"], progress=False)
        idx = prepared.heldout_idx if len(prepared.heldout_idx) else prepared.train_idx
        return faces.images[idx[:n]].astype(np.float32)
    from facerbm.datasets import load_faces

    opts = dict(config["data"].get("options", {}))
    opts.pop("max_faces", None)
    opts.pop("seed", None)
    faces = load_faces(data, **opts)
    return faces.images[:n].astype(np.float32)


def run(args: argparse.Namespace) -> int:
    from facerbm import viz
    from facerbm.rng import make_generator

    model, norm, config = load_run(args.model, args.device)
    shape = tuple(config["image_shape"])
    if args.images and args.data:
        raise UserError("give image files or --data, not both")
    if args.images:
        crop = config["data"].get("options", {}).get("crop", LFW_FACE_CROP)
        pix = np.stack([read_image_file(p, shape, crop) for p in args.images])
    else:
        pix = faces_from_run_data(config, args.data, args.n)
    if pix.shape[1:] != shape:
        raise UserError(f"images have shape {pix.shape[1:]}, but the model was trained on {shape}")
    x = torch.from_numpy(pix.reshape(len(pix), -1)).to(args.device)
    rows, labels = [pix], ["original"]
    with torch.no_grad():
        v = norm.transform(x)
        rows.append(norm.inverse_transform(model.reconstruct(v)).cpu().numpy().reshape(pix.shape))
        labels.append("reconstruction")
        if args.gibbs > 0:
            g = make_generator(args.seed, args.device)
            vk = model.gibbs(v, args.gibbs, g, sample_visible=False)
            rows.append(norm.inverse_transform(vk).cpu().numpy().reshape(pix.shape))
            labels.append(f"{args.gibbs} Gibbs steps")
    err = float((((rows[1] - pix) / norm.pixel_max) ** 2).mean())
    out = args.out or Path(args.model) / "reconstructions-cli.png"
    viz.save_png(viz.comparison_grid(rows, labels, pixel_max=norm.pixel_max), out)
    print(f"reconstruction MSE {err:.5f} (pixels in [0, 1]) on {len(pix)} faces; wrote {out}")
    return 0
