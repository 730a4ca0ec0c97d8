"""Faces from any folder of image files, or from a .npy/.npz array file."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from . import decode
from .base import FaceData, as_path, check_bool, check_size
from .cache import CacheEntry, cache_key, folder_fingerprint, load_cached, save_cached

__all__ = ["IMAGE_EXTENSIONS", "as_image_array", "load_array", "load_image_folder"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".gif",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".tif",
        ".tiff",
        ".webp",
    }  # fmt: skip
)


def _list_folder(root: Path, recursive: bool) -> tuple[list[Path], list[str], int]:
    """Image files under root: (paths, ids as posix paths relative to root, non-images seen).

    Depth: files in ``root`` and in its subfolders; deeper folders only when ``recursive``.
    Hidden files and folders are skipped; symlinked folders are not followed.
    """
    found: list[tuple[str, Path]] = []
    ignored = 0
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]
    while stack:
        folder, prefix, depth = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                rel = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if recursive or depth == 0:
                        stack.append((Path(entry.path), rel + "/", depth + 1))
                elif entry.is_file():
                    if Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                        found.append((rel, Path(entry.path)))
                    else:
                        ignored += 1
    found.sort()
    return [p for _, p in found], [r for r, _ in found], ignored


def load_image_folder(
    root: str | os.PathLike,
    *,
    color: bool = False,
    size: tuple[int, int] | None = None,
    strict: bool = True,
    recursive: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> FaceData:
    """Load every image in a folder (jpg, png, bmp, gif, pgm/ppm, tiff, webp).

    Each subfolder of ``root`` is a person (its images, at any depth when ``recursive``,
    get that person's target); images directly in ``root`` get target -1. Files with other
    extensions and hidden files are ignored. EXIF orientation is applied.

    Args:
        root: the folder.
        color: RGB (N, H, W, 3) instead of gray (N, H, W).
        size: output (height, width). Each image is first cut to the largest centred box
            with that aspect ratio, then resized (bilinear), so faces are not stretched.
            None: no resizing, and all images must have the same size.
        strict: an unreadable image raises; with False it is skipped with a warning.
        recursive: also read folders below the person folders.
        cache: cache decoded pixels under ``cache_home()/arrays`` (keyed by a fingerprint
            of the folder: file count, total size, newest mtime).
        progress: progress bar on stderr.

    Returns:
        FaceData, uint8 pixels in [0, 255], images sorted by relative path.

    Raises:
        TypeError, ValueError: bad options, no images, unreadable images (strict), or, with
            ``size=None``, two images of different sizes (both named).
    """
    root = as_path("root", root)
    color = check_bool("color", color)
    size = check_size("size", size)
    strict = check_bool("strict", strict)
    recursive = check_bool("recursive", recursive)
    cache = check_bool("cache", cache)
    progress = check_bool("progress", progress)
    if not root.is_dir():
        raise ValueError(f"root={str(root)!r} is not a folder")

    spec = decode.DecodeSpec(color=color, size=size, fit=True, exif=True)
    name, key = cache_key(
        f"folder-{root.resolve().name}",
        {
            "loader": "folder",
            "folder": folder_fingerprint(root),
            "color": color,
            "size": size,
            "recursive": recursive,
        },
    )
    entry = load_cached(name, key) if cache else None
    if entry is None:
        paths, ids, ignored = _list_folder(root, recursive)
        if ignored:
            logger.info("ignored %d files without an image extension in %s", ignored, root)
        if not paths:
            exts = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise ValueError(f"no image files ({exts}) found in {str(root)!r}")
        images, ok, skipped = decode.decode_files(
            paths, spec, ids=ids, progress=progress, desc=f"decode {root.name}"
        )
        files = [i for i, good in zip(ids, ok, strict=True) if good]
        if isinstance(images, list):
            shapes = {a.shape for a in images}
            if len(shapes) > 1 and strict:
                first = images[0].shape
                j = next(j for j, a in enumerate(images) if a.shape != first)
                raise ValueError(
                    f"images differ in size: {files[0]!r} is {first[0]}x{first[1]} but "
                    f"{files[j]!r} is {images[j].shape[0]}x{images[j].shape[1]} (height x "
                    "width); pass size=(height, width) to resize them all (command line: --size "
                    "HxW), or strict=False to keep the most common size (--skip-bad-images)"
                )
            if len(shapes) > 1:
                # Lenient: keep the most common size, skip the others as odd-sized.
                counts = Counter(a.shape for a in images)
                common = max(counts, key=lambda s: (counts[s], s))  # ties: the larger size
                keep = [a.shape == common for a in images]
                skipped = skipped + [
                    [f, f"is {a.shape[0]}x{a.shape[1]}, unlike the other images' {common[0]}x{common[1]}"]
                    for f, a, k in zip(files, images, keep, strict=True)
                    if not k
                ]
                files = [f for f, k in zip(files, keep, strict=True) if k]
                images = [a for a, k in zip(images, keep, strict=True) if k]
            images = np.stack(images) if images else np.empty((0, 1, 1), np.uint8)
        entry = CacheEntry(images=images, files=files, skipped=skipped)
        if cache and files:
            save_cached(name, key, entry)

    decode.report_skipped(entry.skipped, strict, str(root))
    if not entry.files:
        raise ValueError(f"none of the {len(entry.skipped)} images in {str(root)!r} could be read")
    people = [f.split("/", 1)[0] if "/" in f else None for f in entry.files]
    names = tuple(sorted({p for p in people if p is not None}))
    index = {n: i for i, n in enumerate(names)}
    targets = np.array([-1 if p is None else index[p] for p in people], np.int64)
    return FaceData(
        images=np.array(entry.images),
        targets=targets,
        target_names=names,
        files=tuple(entry.files),
        source=f"image folder {root} ({'RGB' if color else 'gray'}, size={size})",
    )


# --- arrays -----------------------------------------------------------------------------------


def as_image_array(array: np.ndarray, where: str) -> np.ndarray:
    """Check and convert an array of images: (N, H, W) or (N, H, W, 3), N >= 1.

    (N, H, W, 1) is squeezed to gray. Integer pixels must lie in [0, 255] and become uint8;
    float pixels become float32 unchanged (units are the caller's) and must be finite.

    Raises:
        ValueError: naming ``where``, the shape or dtype, and what is allowed.
    """
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] != 3):
        hint = ""
        if array.ndim == 2:
            hint = " (one image? add a leading axis; flat (N, D) rows? reshape to (N, H, W))"
        raise ValueError(
            f"{where}: images must be (N, H, W) gray or (N, H, W, 3) RGB, got shape {array.shape}{hint}"
        )
    if array.shape[0] == 0 or min(array.shape[1:3]) == 0:
        raise ValueError(f"{where}: no images (shape {array.shape})")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind in "iu":
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{where}: integer pixels must lie in [0, 255], got [{lo}, {hi}]")
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
        if not np.isfinite(array).all():
            bad = int(np.size(array) - np.isfinite(array).sum())
            raise ValueError(f"{where}: images hold {bad} NaN or infinite values")
        return array
    raise ValueError(f"{where}: images must be uint8, integer in [0, 255] or float, got dtype {array.dtype}")


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


_NPZ_KEYS = ("images", "targets", "target_names", "files")


def load_array(path: str | os.PathLike) -> FaceData:
    """Load faces from a .npy array or a .npz archive.

    ``.npy``: one (N, H, W) or (N, H, W, 3) array. ``.npz``: key ``images`` (required),
    optional ``targets`` (N,) ints >= -1, ``target_names`` (strings, one per target; made
    up as "0", "1", ... when missing) and ``files`` (N,) strings. Pickled objects are
    never loaded.

    Returns:
        FaceData; uint8 stays uint8, integers in [0, 255] become uint8, floats become float32
        as given (no rescaling).

    Raises:
        ValueError: missing file, wrong suffix, wrong ndim/shape/dtype, NaN or infinite
            pixels, missing or unknown keys, targets out of range.
    """
    path = as_path("path", path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"path={str(path)!r} must end in .npy or .npz")
    if not path.is_file():
        raise ValueError(f"path={str(path)!r} does not exist")
    where = str(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "pickle" in str(exc):
            # np.load takes any file that is not .npy/.npz-shaped for a pickle, and says so.
            raise ValueError(
                f"{where}: not a NumPy {suffix} file (or one holding Python objects, which facerbm "
                "never unpickles); save images with np.save / np.savez"
            ) from None
        raise ValueError(f"{where}: cannot read ({exc})") from exc
    if suffix == ".npy":
        if not isinstance(loaded, np.ndarray):  # pragma: no cover - np.load contract
            raise ValueError(f"{where}: not an array")
        images = as_image_array(loaded, where)
        n = images.shape[0]
        return FaceData(images, np.full(n, -1, np.int64), (), ("",) * n, f"array {path}")

    with loaded as npz:
        keys = set(npz.files)
        if "images" not in keys:
            raise ValueError(
                f"{where}: no 'images' key (found {sorted(keys)}); expected keys {', '.join(_NPZ_KEYS)}"
            )
        unknown = keys - set(_NPZ_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(_NPZ_KEYS)}")
        try:
            arrays = {k: npz[k] for k in keys}
        except ValueError as exc:  # object arrays need pickle
            raise ValueError(f"{where}: cannot read ({exc})") from exc
    images = as_image_array(arrays["images"], f"{where}['images']")
    n = images.shape[0]
    targets = arrays.get("targets")
    names = arrays.get("target_names")
    if targets is None:
        if names is not None:
            raise ValueError(f"{where}: 'target_names' given without 'targets'")
        targets = np.full(n, -1, np.int64)
        names = ()
    else:
        if targets.shape != (n,) or targets.dtype.kind not in "iu":
            raise ValueError(
                f"{where}['targets'] must be ({n},) integers, got shape {targets.shape} dtype {targets.dtype}"
            )
        if n and targets.min() < -1:
            raise ValueError(f"{where}['targets'] must be >= -1 (-1 = unknown person)")
        n_people = int(targets.max()) + 1 if n else 0
        if names is None:
            names = tuple(str(i) for i in range(n_people))
        else:
            if names.ndim != 1 or names.dtype.kind not in "US":
                raise ValueError(
                    f"{where}['target_names'] must be a 1-D array of strings, got shape "
                    f"{names.shape} dtype {names.dtype}"
                )
            if names.size < n_people:
                raise ValueError(
                    f"{where}: targets go up to {n_people - 1} but only {names.size} target_names are given"
                )
            names = tuple(_text(s) for s in names.tolist())
    files = arrays.get("files")
    if files is None:
        files = ("",) * n
    else:
        if files.shape != (n,) or files.dtype.kind not in "US":
            raise ValueError(
                f"{where}['files'] must be ({n},) strings, got shape {files.shape} dtype {files.dtype}"
            )
        files = tuple(_text(s) for s in files.tolist())
    return FaceData(images, targets.astype(np.int64), names, files, f"array {path}")
