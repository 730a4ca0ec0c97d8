"""FaceData, the container every loader returns, the cache folder, and option checks."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FaceData", "cache_home"]


def cache_home() -> Path:
    """Folder for downloads, extracted archives and decoded-array caches.

    Returns:
        ``$FACERBM_HOME`` when set (``~`` expanded), else ``~/.cache/facerbm``. The folder
        is not created here; writers create what they need.
    """
    env = os.environ.get("FACERBM_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "facerbm"


@dataclass(frozen=True, eq=False)
class FaceData:
    """A set of face images with person labels.

    Attributes:
        images: (N, H, W) gray or (N, H, W, 3) RGB, uint8 pixels in [0, 255]. ``load_array``
            may hand back float32 arrays unchanged (pixel units are then the caller's).
        targets: (N,) int64 index into ``target_names``; -1 when the person is unknown.
        target_names: one name per person.
        files: (N,) id of each image, e.g. ``"George_W_Bush/George_W_Bush_0001.jpg"``;
            ``""`` for images that came from an array.
        source: human-readable description of where the images came from.

    Raises:
        ValueError: if the fields disagree (lengths, shapes, targets out of range).
    """

    images: np.ndarray
    targets: np.ndarray
    target_names: tuple[str, ...]
    files: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise ValueError(f"FaceData.images must be (N, H, W) or (N, H, W, 3), got shape {images.shape}")
        n = images.shape[0]
        targets = np.asarray(self.targets)
        if targets.shape != (n,) or not (np.issubdtype(targets.dtype, np.integer) or targets.size == 0):
            raise ValueError(
                f"FaceData.targets must be ({n},) integers, got shape {targets.shape} dtype {targets.dtype}"
            )
        names = tuple(str(s) for s in self.target_names)
        if n and (targets.min() < -1 or targets.max() >= len(names)):
            raise ValueError(
                f"FaceData.targets must lie in [-1, {len(names) - 1}] "
                f"(len(target_names)={len(names)}), got [{targets.min()}, {targets.max()}]"
            )
        files = tuple(str(f) for f in self.files)
        if len(files) != n:
            raise ValueError(f"FaceData.files must have {n} entries, got {len(files)}")
        # Frozen: normalise through object.__setattr__ once, here.
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "targets", targets.astype(np.int64, copy=False))
        object.__setattr__(self, "target_names", names)
        object.__setattr__(self, "files", files)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for gray images, (H, W, 3) for RGB."""
        return tuple(int(s) for s in self.images.shape[1:])

    @property
    def n_pixels(self) -> int:
        """Number of values per image, H * W (* 3): the visible-layer size D."""
        return int(np.prod(self.image_shape))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"FaceData(n={len(self)}, image_shape={self.image_shape}, dtype={self.images.dtype}, "
            f"people={len(self.target_names)}, source={self.source!r})"
        )

    def subset(self, indices: Sequence[int] | np.ndarray | slice) -> FaceData:
        """Images picked by integer indices, a boolean mask or a slice (copies the pixels).

        ``target_names`` is kept whole, so targets keep their meaning across subsets.
        """
        if isinstance(indices, slice):
            idx = np.arange(len(self))[indices]
        else:
            idx = np.asarray(indices)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise ValueError(f"boolean indices must have shape ({len(self)},), got {idx.shape}")
                idx = np.flatnonzero(idx)
            elif idx.size == 0:
                idx = idx.astype(np.int64)
            elif not np.issubdtype(idx.dtype, np.integer):
                raise TypeError(f"indices must be integers, a boolean mask or a slice, got {idx.dtype}")
        return FaceData(
            images=self.images[idx],
            targets=self.targets[idx],
            target_names=self.target_names,
            files=tuple(self.files[i] for i in idx.tolist()),
            source=self.source,
        )

    def flat(self, dtype: np.dtype | type = np.float32, *, mirror: bool = False) -> np.ndarray:
        """Images as rows: (N, D) with D = ``n_pixels``, pixel units unchanged ([0, 255]).

        ``mirror=True`` gives each image flipped left-right (a copy). Otherwise the rows share
        memory with ``images`` when no conversion is needed (float32 images).
        """
        images = self.images[:, :, ::-1] if mirror else self.images
        return images.reshape(len(self), -1).astype(dtype, copy=False)


# Option checks shared by the loaders. Each names the argument, the value and what is allowed.


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_int(name: str, value: object, *, minimum: int | None = None, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        allowed = "an int" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _int_tuple(name: str, value: object, length: int, what: str) -> tuple[int, ...]:
    ok = (
        isinstance(value, Sequence | np.ndarray)
        and not isinstance(value, str)
        and len(value) == length
        and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value)
    )
    if not ok:
        raise TypeError(f"{name} must be {what}, got {value!r}")
    return tuple(int(v) for v in value)


def check_size(name: str, value: object, *, allow_none: bool = True) -> tuple[int, int] | None:
    """(height, width) of the output images: two positive ints, or None when allowed."""
    if value is None and allow_none:
        return None
    what = "two positive ints (height, width)" + (" or None" if allow_none else "")
    size = _int_tuple(name, value, 2, what)
    if min(size) < 1:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return size  # type: ignore[return-value]


def check_crop(
    value: object, image_size: tuple[int, int], name: str = "crop"
) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) rows/cols inside an image of (height, width) = image_size."""
    if value is None:
        return None
    h, w = image_size
    what = f"None or (top, bottom, left, right) ints with 0 <= top < bottom <= {h}, 0 <= left < right <= {w}"
    crop = _int_tuple(name, value, 4, what)
    top, bottom, left, right = crop
    if not (0 <= top < bottom <= h and 0 <= left < right <= w):
        raise ValueError(f"{name} must lie inside the {h}x{w} image: {what}; got {value!r}")
    return crop  # type: ignore[return-value]


def as_path(name: str, value: object) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {value!r}")
    return Path(value).expanduser()
