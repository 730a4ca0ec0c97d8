"""Image decoding: crop, resize and gray/RGB conversion with Pillow, many files in threads."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

__all__ = ["BadImage", "DecodeSpec", "decode_files", "read_image", "report_skipped"]

_ORIENTATION = 0x0112  # EXIF tag


class BadImage(ValueError):
    """A file that cannot be decoded into the requested image (the message says why)."""


@dataclass(frozen=True)
class DecodeSpec:
    """How to turn one file into one array.

    Attributes:
        color: True -> RGB (H, W, 3); False -> gray 'L' (H, W).
        crop: (top, bottom, left, right) in the file's pixels, or None.
        size: output (height, width), or None to keep the cropped size.
        expect_size: (height, width) every file must have, or None.
        fit: with ``crop=None`` and a ``size``, first take the largest centred box with the
            aspect ratio of ``size`` (so faces are not stretched).
        exif: apply the EXIF orientation tag (photos from phones and cameras).
    """

    color: bool = False
    crop: tuple[int, int, int, int] | None = None
    size: tuple[int, int] | None = None
    expect_size: tuple[int, int] | None = None
    fit: bool = False
    exif: bool = False

    @property
    def mode(self) -> str:
        return "RGB" if self.color else "L"

    def out_shape(self) -> tuple[int, ...] | None:
        """Shape of every decoded image when it is known before decoding, else None."""
        if self.size is not None:
            hw = self.size
        elif self.crop is not None:
            hw = (self.crop[1] - self.crop[0], self.crop[3] - self.crop[2])
        elif self.expect_size is not None:
            hw = self.expect_size
        else:
            return None
        return (*hw, 3) if self.color else tuple(hw)

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Region of a (width x height) image to keep, as Pillow's (left, upper, right, lower)."""
        if self.crop is not None:
            top, bottom, left, right = self.crop
            if bottom > height or right > width:
                raise BadImage(f"is {height}x{width}, too small for crop={self.crop}")
            return (float(left), float(top), float(right), float(bottom))
        if self.fit and self.size is not None:
            aspect = self.size[1] / self.size[0]  # width / height
            if width / height > aspect:
                w = height * aspect
                return ((width - w) / 2, 0.0, (width + w) / 2, float(height))
            h = width / aspect
            return (0.0, (height - h) / 2, float(width), (height + h) / 2)
        return (0.0, 0.0, float(width), float(height))


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int) gray to 'L' by scaling 0..65535 to 0..255.

    Pillow's own conversion clips such images at 255, which would turn them white.
    """
    arr = np.asarray(img).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8), "L")


def _float_to_eight_bit(img: Image.Image) -> Image.Image:
    """32-bit float gray ('F', e.g. a float TIFF) to 'L': values in [0, 1] are scaled to
    0..255, values in [0, 255] kept; Pillow's own conversion would truncate [0, 1] to black."""
    arr = np.asarray(img, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise BadImage("holds NaN or inf float pixels")
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0 and hi <= 1:
        arr = arr * 255.0
    elif lo < 0 or hi > 255:
        raise BadImage(f"holds float pixels in [{lo:.3g}, {hi:.3g}], neither [0, 1] nor [0, 255]")
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")


def read_image(path: str | os.PathLike, spec: DecodeSpec) -> np.ndarray:
    """Decode one file as ``spec`` asks.

    JPEGs are decoded through ``Image.draft``: libjpeg scales by 1/2, 1/4 or 1/8 in the DCT
    and, for gray output, decodes only the luminance, which is several times faster than a
    full decode. The draft never goes below the output resolution of the crop, and the
    crop box is mapped into the drafted image's coordinates, so the result does not depend
    on which scale libjpeg took. The final resize is bilinear (antialiased by Pillow when it
    shrinks) over the exact, possibly fractional, box.

    Returns:
        uint8 (H, W) or (H, W, 3), pixels in [0, 255].

    Raises:
        BadImage: unreadable, truncated or not an image, or of an unexpected size.
    """
    mode = spec.mode
    try:
        with Image.open(path) as im:
            width, height = im.size
            if spec.expect_size is not None and (height, width) != spec.expect_size:
                eh, ew = spec.expect_size
                raise BadImage(f"is {height}x{width} (height x width), expected {eh}x{ew}")
            img = im
            can_draft = True
            if spec.exif and im.getexif().get(_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(im)  # decodes fully; no draft on this path
                width, height = img.size
                can_draft = False
            box = spec.box(width, height)
            bw, bh = box[2] - box[0], box[3] - box[1]
            out_h, out_w = spec.size if spec.size is not None else (round(bh), round(bw))
            scale = 1.0
            if can_draft:
                request = (math.ceil(width * out_w / bw), math.ceil(height * out_h / bh))
                result = img.draft(mode, request)
                if result is not None:
                    # result[1] is the full image's extent in drafted pixels (e.g. 125.0 for
                    # 250 at 1/2), so this is libjpeg's exact integer scale factor.
                    scale = width / result[1][2]
            if img.mode.startswith("I"):
                img = _eight_bit(img)
            elif img.mode == "F":
                img = _float_to_eight_bit(img)
            if img.mode != mode:
                img = img.convert(mode)
            if spec.size is None and scale == 1.0:
                out = img.crop(tuple(int(c) for c in box))
            else:
                box_d = tuple(c / scale for c in box)
                out = img.resize((out_w, out_h), Image.Resampling.BILINEAR, box=box_d)
            return np.asarray(out, dtype=np.uint8)
    except BadImage:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # PIL.UnidentifiedImageError (not an image) is an OSError; truncated JPEGs raise
        # OSError on load. We never set ImageFile.LOAD_TRUNCATED_IMAGES (global state).
        raise BadImage(f"cannot be decoded ({type(exc).__name__}: {exc})") from exc


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def decode_files(
    paths: Sequence[Path],
    spec: DecodeSpec,
    *,
    ids: Sequence[str] | None = None,
    progress: bool = True,
    desc: str = "decode",
) -> tuple[np.ndarray | list[np.ndarray], np.ndarray, list[list[str]]]:
    """Decode many files in a thread pool (Pillow releases the GIL while it decodes).

    Args:
        paths: files to read.
        spec: how to read each one.
        ids: names used in error reports (default: the paths).
        progress: tqdm bar on stderr.
        desc: label of the bar.

    Returns:
        images: the decoded images in input order, failures left out: one uint8 array
            (n_ok, *spec.out_shape()) when the shape is known in advance, else a list.
        ok: (N,) bool, which inputs decoded.
        skipped: [id, reason] for each failure, in input order.
    """
    n = len(paths)
    ids = [str(p) for p in paths] if ids is None else list(ids)
    shape = spec.out_shape()
    out = np.empty((n, *shape), np.uint8) if shape is not None else [None] * n
    ok = np.zeros(n, bool)
    skipped: list[list[str]] = []

    def work(i: int) -> str | None:
        try:
            arr = read_image(paths[i], spec)
        except BadImage as exc:
            return str(exc)
        if shape is not None:
            if arr.shape != shape:  # pragma: no cover - read_image guarantees the shape
                return f"decoded to shape {arr.shape}, expected {shape}"
        out[i] = arr
        return None

    pool = ThreadPoolExecutor(max_workers=min(_workers(), max(n, 1)))
    try:
        with tqdm(total=n, desc=desc, unit=" img", disable=not progress) as bar:
            for i, error in enumerate(pool.map(work, range(n))):
                if error is None:
                    ok[i] = True
                else:
                    skipped.append([ids[i], error])
                bar.update()
    finally:
        # On Ctrl-C or an error, drop the queued files instead of decoding them all first.
        pool.shutdown(wait=True, cancel_futures=True)
    if shape is not None:
        images = out if ok.all() else out[ok]
    else:
        images = [a for a, good in zip(out, ok, strict=True) if good]
    return images, ok, skipped


def report_skipped(skipped: list[list[str]], strict: bool, where: str) -> None:
    """Raise (strict) or warn about files that could not be decoded."""
    if not skipped:
        return
    first_id, first_reason = skipped[0]
    if strict:
        more = f"; {len(skipped) - 1} more bad file(s)" if len(skipped) > 1 else ""
        raise ValueError(
            f"image {first_id!r} in {where!r} {first_reason}{more}; pass strict=False to skip bad "
            "images (command line: --skip-bad-images)"
        )
    shown = ", ".join(repr(f) for f, _ in skipped[:5])
    warnings.warn(
        f"skipped {len(skipped)} image(s) that could not be read from {where!r}: {shown}"
        + (", ..." if len(skipped) > 5 else ""),
        stacklevel=3,
    )
