"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

LFW_FACE_CROP = (70, 195, 78, 172)


class UserError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


def size_arg(text: str) -> tuple[int, int]:
    """'62x47' -> (62, 47); '28' -> (28, 28)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise argparse.ArgumentTypeError(
            f"size must be HEIGHTxWIDTH like 62x47 or one number like 28, got {text!r}"
        )
    return vals


def crop_arg(text: str):
    """'face' -> LFW's central crop box, 'none' -> "none" (whole image), 'T,B,L,R' -> a tuple."""
    if text == "face":
        return LFW_FACE_CROP
    if text == "none":
        return "none"
    try:
        vals = tuple(int(p) for p in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(
            f"crop must be 'face', 'none' or TOP,BOTTOM,LEFT,RIGHT like 70,195,78,172, got {text!r}"
        )
    return vals


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}")
    return v


def nonnegative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return v


def device_arg(text: str) -> str:
    """'cpu', 'cuda' or 'cuda:N', checked against what this machine has."""
    from facerbm.devices import check_device

    try:
        return check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        type=device_arg,
        default="cpu",
        help="torch device: cpu, cuda, cuda:1, ... (cuda holds the data on the GPU)",
    )


def read_image_file(path: Path, image_shape: tuple[int, ...], crop) -> np.ndarray:
    """Read one image file as the model sees faces: gray or RGB, cropped and resized.

    A 250x250 image (an LFW original) gets the run's crop; other images are centre-cropped to
    the model's aspect ratio. Returns (H, W) or (H, W, 3) float32 pixels in [0, 255].
    """
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise UserError(f"image file {path} does not exist") from None
    except OSError as e:
        raise UserError(f"cannot read image {path}: {e}") from None
    img = img.convert("RGB" if len(image_shape) == 3 else "L")
    h, w = image_shape[:2]
    if img.size == (250, 250) and crop is not None:
        top, bottom, left, right = crop
        box = (left, top, right, bottom)
    else:
        W0, H0 = img.size
        scale = min(W0 / w, H0 / h)
        cw, ch = w * scale, h * scale
        box = ((W0 - cw) / 2, (H0 - ch) / 2, (W0 + cw) / 2, (H0 + ch) / 2)
    img = img.resize((w, h), Image.Resampling.BILINEAR, box=box)
    return np.asarray(img, dtype=np.float32)


def load_run(run: str, device: str = "cpu"):
    """(model, normalizer, config) of a run folder, with user-facing errors."""
    from facerbm.checkpoint import load_model

    return load_model(Path(run), device=device)
