"""The Olivetti (AT&T) and Frey face sets from their MATLAB .mat files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import FaceData, as_path
from .folder import as_image_array

__all__ = ["load_frey", "load_olivetti"]


def _load_mat(path: Path, key: str, shape: tuple[int, int], name: str) -> np.ndarray:
    """The 2-D array under ``key``, checked against the expected (rows, columns)."""
    import scipy.io  # scipy is only needed for these two sets

    if not path.is_file():
        raise ValueError(f"path={str(path)!r} does not exist ({name} .mat file expected)")
    try:
        mat = scipy.io.loadmat(path)
    except (scipy.io.matlab.MatReadError, ValueError, OSError, NotImplementedError, TypeError) as exc:
        # NotImplementedError: MATLAB v7.3 (HDF5) files, which loadmat cannot read.
        raise ValueError(f"{str(path)!r} is not a readable MATLAB v5 file ({exc})") from exc
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{str(path)!r} has no {key!r} array ({name} layout); found {found}")
    array = np.asarray(mat[key])
    if array.shape != shape:
        raise ValueError(f"{str(path)!r}[{key!r}] has shape {array.shape}, expected {shape} for {name}")
    return array


def load_olivetti(path: str | os.PathLike) -> FaceData:
    """Olivetti / AT&T faces: 400 gray 64x64 images, 40 people x 10 images.

    Args:
        path: ``olivettifaces.mat`` (MATLAB v5, key ``faces``, (4096, 400), one image per
            column, stored column-major).

    Returns:
        FaceData, images uint8 (400, 64, 64) in [0, 255] (a float file in [0, 1] is scaled
        to [0, 255]); target of image i is i // 10; names "s1".."s40" as in the AT&T
        distribution's folders.

    Raises:
        ValueError: missing file, missing key or wrong shape.
    """
    path = as_path("path", path)
    faces = _load_mat(path, "faces", (4096, 400), "Olivetti")
    if faces.dtype.kind == "f" and faces.max() <= 1.0:
        # Some copies of this file hold floats in [0, 1].
        faces = np.rint(faces * 255.0)
    # Columns are images; each image is stored column-major, hence the transpose.
    images = faces.T.reshape(400, 64, 64).transpose(0, 2, 1)
    images = as_image_array(np.ascontiguousarray(images), str(path))
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return FaceData(
        images=images,
        targets=np.arange(400) // 10,
        target_names=tuple(f"s{i + 1}" for i in range(40)),
        files=("",) * 400,
        source=f"Olivetti faces from {path}",
    )


def load_frey(path: str | os.PathLike) -> FaceData:
    """Frey faces: 1965 gray 28x20 images of one face (video frames).

    Args:
        path: ``frey_rawface.mat`` (MATLAB v5, key ``ff``, (560, 1965), one image per column,
            row-major).

    Returns:
        FaceData, images uint8 (1965, 28, 20) in [0, 255], every target 0, name "frey".

    Raises:
        ValueError: missing file, missing key or wrong shape.
    """
    path = as_path("path", path)
    ff = _load_mat(path, "ff", (560, 1965), "Frey")
    images = as_image_array(np.ascontiguousarray(ff.T.reshape(1965, 28, 20)), str(path))
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return FaceData(
        images=images,
        targets=np.zeros(1965, np.int64),
        target_names=("frey",),
        files=("",) * 1965,
        source=f"Frey faces from {path}",
    )
