"""Labeled Faces in the Wild: find, extract, download, decode, cache and select faces."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from . import decode
from .archive import (
    archive_stem,
    download_url,
    extract_archive,
    file_identity,
    is_archive,
)
from .base import (
    FaceData,
    as_path,
    cache_home,
    check_bool,
    check_crop,
    check_int,
    check_size,
)
from .cache import CacheEntry, cache_key, folder_fingerprint, load_cached, save_cached

__all__ = ["LFW", "find_lfw_dir", "load_lfw", "looks_like_lfw"]

logger = logging.getLogger(__name__)

_SAMPLE_DIRS = 10  # non-empty person folders looked at before deciding "not LFW"


class LFW:
    """Labeled Faces in the Wild as a map-style dataset (torchvision-like).

    Args:
        root: see ``load_lfw``.
        download: see ``load_lfw``.
        transform: applied to each image tensor, float32 (H, W) or (H, W, 3) in [0, 255].
        target_transform: applied to each int target.
        **options: the other keyword arguments of ``load_lfw`` (color, crop, size,
            min_faces_per_person, max_faces, seed, strict, cache, progress, url, sha256).

    Attributes:
        data: the loaded ``FaceData``.
    """

    # The official deep-funneled release. Its sha256 is not published, so None: the
    # download is not verified (a warning is logged); pass sha256= to load_lfw to check it.
    URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
    SHA256: str | None = None
    # Archive name -> folder it extracts to, for the three public alignments.
    ARCHIVES = {
        "lfw-deepfunneled.tgz": "lfw-deepfunneled",
        "lfw-funneled.tgz": "lfw_funneled",
        "lfw.tgz": "lfw",
    }
    IMAGE_SIZE = (250, 250)  # (height, width) of every LFW image
    DEFAULT_CROP = (70, 195, 78, 172)  # scikit-learn's fetch_lfw_people face box
    DEFAULT_SIZE = (62, 47)  # the crop halved, as scikit-learn's resize=0.5
    N_IMAGES = 13233
    N_PEOPLE = 5749

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        download: bool = False,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        **options,
    ) -> None:
        self.data = load_lfw(root, download=download, **options)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        # torch is imported here so the rest of facerbm.datasets works without it.
        import torch

        image = torch.from_numpy(self.data.images[index].astype(np.float32))
        target = int(self.data.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self) -> str:
        return f"LFW({self.data!r})"


# --- finding the images -----------------------------------------------------------------------


def _visible_dirs(path: Path) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return sorted((e for e in it if not e.name.startswith(".") and e.is_dir()), key=lambda e: e.name)


def looks_like_lfw(path: str | os.PathLike) -> bool:
    """True if ``path`` holds person folders with files named ``<Person>_NNNN.jpg``.

    Only the first few non-empty person folders are looked at (it is a cheap check).
    """
    path = Path(path)
    if not path.is_dir():
        return False
    seen = 0
    for sub in _visible_dirs(path):
        pattern = re.compile(re.escape(sub.name) + r"_\d+\.jpe?g", re.IGNORECASE)
        with os.scandir(sub.path) as it:
            names = [e.name for e in it if not e.name.startswith(".")]
        if not names:
            continue
        if any(pattern.fullmatch(n) for n in names):
            return True
        seen += 1
        if seen >= _SAMPLE_DIRS:
            break
    return False


def find_lfw_dir(path: str | os.PathLike) -> Path:
    """The LFW image folder at ``path`` or in its only LFW-like subfolder.

    Accepts ``<path>/<Person_Name>/<Person_Name>_NNNN.jpg`` (any of the lfw, lfw_funneled,
    lfw-deepfunneled layouts) or a parent folder that holds exactly one such folder.

    Raises:
        ValueError: no LFW layout, or more than one candidate.
    """
    path = Path(path)
    if looks_like_lfw(path):
        return path
    found = [Path(e.path) for e in _visible_dirs(path) if looks_like_lfw(e.path)]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{str(path)!r} holds several LFW folders ({names}); pass one of them as root")
    raise ValueError(
        f"no LFW images found in {str(path)!r}: expected <root>/<Person_Name>/"
        "<Person_Name>_NNNN.jpg, or a folder holding exactly one such folder "
        "(lfw, lfw_funneled, lfw-deepfunneled)"
    )


def _list_images(lfw_dir: Path) -> tuple[list[Path], list[str]]:
    """Every non-hidden file in every person folder, sorted by person then file name.

    Files directly in ``lfw_dir`` (a README, a names list) are not images of anyone and are
    left out; non-image files inside person folders are kept so that strict mode reports them.
    """
    paths: list[Path] = []
    ids: list[str] = []
    for person in _visible_dirs(lfw_dir):
        with os.scandir(person.path) as it:
            files = sorted(e.name for e in it if not e.name.startswith(".") and e.is_file())
        for name in files:
            paths.append(Path(person.path) / name)
            ids.append(f"{person.name}/{name}")
    return paths, ids


def _download_name(url: str) -> str:
    name = Path(urlparse(url).path).name
    return name or "lfw.tgz"


def _resolve_root(
    root: Path | None, download: bool, url: str, sha256: str | None, progress: bool
) -> tuple[str, Path]:
    """("archive", file) or ("folder", LFW image folder) for the requested source."""
    if root is None:
        home = cache_home()
        for folder in LFW.ARCHIVES.values():
            if looks_like_lfw(home / folder):
                return "folder", home / folder
        names = [_download_name(url), *LFW.ARCHIVES]
        for base in (home / "downloads", home):
            for name in names:
                if (base / name).is_file():
                    return "archive", base / name
        if not download:
            origin = "set by $FACERBM_HOME" if os.environ.get("FACERBM_HOME") else "the default cache"
            raise ValueError(
                f"LFW not found in {str(home)!r} ({origin}): pass an extracted LFW folder or a "
                ".tgz/.tar archive (command line: `facerbm train --data PATH`; Python: "
                "load_lfw(root=PATH)), or download it with load_lfw(download=True)"
            )
        return "archive", download_url(
            url, home / "downloads" / _download_name(url), sha256=sha256, progress=progress
        )
    if root.is_file():
        if not is_archive(root):
            raise ValueError(
                f"root={str(root)!r} is a file but not a .tgz/.tar.gz/.tar archive; pass an "
                "LFW folder or archive"
            )
        return "archive", root
    if root.is_dir():
        try:
            return "folder", find_lfw_dir(root)
        except ValueError:
            # A folder holding a downloaded archive (e.g. ../shared/data) works too.
            for name in dict.fromkeys([*LFW.ARCHIVES, _download_name(url)]):
                if (root / name).is_file():
                    return "archive", root / name
            if not download:
                raise
        target = root / _download_name(url)
        return "archive", download_url(url, target, sha256=sha256, progress=progress)
    if download and not is_archive(root):
        root.mkdir(parents=True, exist_ok=True)
        target = root / _download_name(url)
        return "archive", download_url(url, target, sha256=sha256, progress=progress)
    raise ValueError(
        f"root={str(root)!r} does not exist; pass an extracted LFW folder, a .tgz/.tar "
        "archive, or None to use the cache (with download=True to fetch it)"
    )


# --- selection --------------------------------------------------------------------------------


def select_people(
    people: Sequence[str], min_faces_per_person: int, max_faces: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Pick images by person count, then at most ``max_faces`` of them at random.

    Args:
        people: (N,) person name of each image, images in sorted order.
        min_faces_per_person: keep people with at least this many images.
        max_faces: keep at most this many images (None: all), drawn without replacement
            with ``numpy.random.default_rng(seed)``; the original order is kept.
        seed: seed of that draw.

    Returns:
        indices (M,) into ``people``, targets (M,) into names, names sorted; people left
        with no image after the draw are dropped from names.

    Raises:
        ValueError: when nothing is left, with the numbers.
    """
    names_all, inverse, counts = np.unique(
        np.asarray(people, dtype=object).astype(str), return_inverse=True, return_counts=True
    )
    keep_person = counts >= min_faces_per_person
    if not keep_person.any():
        raise ValueError(
            f"min_faces_per_person={min_faces_per_person} leaves no people: the most images "
            f"any person has is {int(counts.max())}"
        )
    indices = np.flatnonzero(keep_person[inverse])
    if max_faces is not None and max_faces < indices.size:
        rng = np.random.default_rng(seed)
        indices = np.sort(rng.choice(indices, size=max_faces, replace=False))
    kept, targets = np.unique(inverse[indices], return_inverse=True)
    return indices, targets.astype(np.int64), tuple(str(s) for s in names_all[kept])


# --- loading ----------------------------------------------------------------------------------


def load_lfw(
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    color: bool = False,
    crop: tuple[int, int, int, int] | None = LFW.DEFAULT_CROP,
    size: tuple[int, int] | None = LFW.DEFAULT_SIZE,
    min_faces_per_person: int = 0,
    max_faces: int | None = None,
    seed: int = 0,
    strict: bool = True,
    cache: bool = True,
    progress: bool = True,
    url: str | None = None,
    sha256: str | None = None,
) -> FaceData:
    """Load Labeled Faces in the Wild as ``FaceData``.

    Args:
        root: an extracted LFW folder (``<root>/<Person_Name>/<Person_Name>_NNNN.jpg``,
            layouts lfw, lfw_funneled, lfw-deepfunneled), a parent folder holding exactly
            one (or else one of the archives named in ``LFW.ARCHIVES``), or a
            .tgz/.tar.gz/.tar archive (extracted safely, once, into
            ``cache_home()/extracted``). None: look in ``cache_home()`` (and its
            ``downloads`` folder).
        download: if LFW is not found, download the archive (into ``root`` when it is a
            folder, else ``cache_home()/downloads``). A found copy is never re-fetched.
        color: RGB (N, H, W, 3) instead of gray (N, H, W).
        crop: (top, bottom, left, right) rows/cols of the 250x250 image to keep; the default
            is scikit-learn's central face box; None keeps the whole image.
        size: output (height, width); default (62, 47), the default crop halved. None
            keeps the crop's own size.
        min_faces_per_person: keep only people with at least this many images.
        max_faces: keep at most this many images, drawn with
            ``numpy.random.default_rng(seed)``; sorted order is kept.
        seed: seed of that draw.
        strict: a corrupt or truncated JPEG, a non-image file or an image that is not
            250x250 raises; with False it is skipped with a warning.
        cache: read and write decoded pixels under ``cache_home()/arrays`` (keyed by the
            source's identity and color/crop/size), so later loads skip decoding.
        progress: progress bars on stderr.
        url: download from here instead of ``LFW.URL``.
        sha256: expected sha256 of the download; default ``LFW.SHA256`` for ``LFW.URL``,
            else None (not verified, with a warning).

    Returns:
        FaceData with uint8 images in [0, 255], people sorted by name, images sorted by
        person then file; targets index the people kept.

    Raises:
        TypeError, ValueError: bad options (naming the argument), no LFW found, undecodable
            images with strict=True, or options that leave no images.
        RuntimeError: the download failed (the message says how to pass a local copy).
    """
    download = check_bool("download", download)
    color = check_bool("color", color)
    crop = check_crop(crop, LFW.IMAGE_SIZE)
    size = check_size("size", size)
    min_faces_per_person = check_int("min_faces_per_person", min_faces_per_person, minimum=0)
    max_faces = check_int("max_faces", max_faces, minimum=1, allow_none=True)
    seed = check_int("seed", seed, minimum=0)
    strict = check_bool("strict", strict)
    cache = check_bool("cache", cache)
    progress = check_bool("progress", progress)
    if url is None:
        url, sha256 = LFW.URL, (LFW.SHA256 if sha256 is None else sha256)
    elif not isinstance(url, str):
        raise TypeError(f"url must be a str, got {url!r}")
    root_path = None if root is None else as_path("root", root)

    kind, source = _resolve_root(root_path, download, url, sha256, progress)
    spec = decode.DecodeSpec(color=color, crop=crop, size=size, expect_size=LFW.IMAGE_SIZE)
    identity = file_identity(source) if kind == "archive" else folder_fingerprint(source)
    label = archive_stem(source) if kind == "archive" else source.name
    name, key = cache_key(
        f"lfw-{label}",
        {
            "loader": "lfw",
            kind: identity,
            "color": color,
            "crop": crop,
            "size": size,
            "expect_size": LFW.IMAGE_SIZE,
        },
    )
    entry = load_cached(name, key) if cache else None
    if entry is None:
        lfw_dir = source
        if kind == "archive":
            lfw_dir = find_lfw_dir(extract_archive(source, progress=progress))
        paths, ids = _list_images(lfw_dir)
        if not paths:
            raise ValueError(f"no images found in the person folders of {str(lfw_dir)!r}")
        logger.info("decoding %d LFW images from %s", len(paths), lfw_dir)
        images, ok, skipped = decode.decode_files(paths, spec, ids=ids, progress=progress, desc="decode LFW")
        files = [i for i, good in zip(ids, ok, strict=True) if good]
        entry = CacheEntry(images=images, files=files, skipped=skipped)
        if cache:
            save_cached(name, key, entry)

    decode.report_skipped(entry.skipped, strict, str(source))
    if not entry.files:
        n_bad = len(entry.skipped)
        raise ValueError(f"none of the {n_bad} images in {str(source)!r} could be read")
    people = [f.split("/", 1)[0] for f in entry.files]
    indices, targets, names = select_people(people, min_faces_per_person, max_faces, seed)
    if indices.size == len(entry.files):
        images = np.array(entry.images)  # one copy out of the memory map
    else:
        images = np.asarray(entry.images[indices])
    what = [
        "RGB" if color else "gray",
        f"crop={crop}",
        f"size={size}",
    ]
    if min_faces_per_person:
        what.append(f"min_faces_per_person={min_faces_per_person}")
    if max_faces is not None:
        what.append(f"max_faces={max_faces}, seed={seed}")
    return FaceData(
        images=images,
        targets=targets,
        target_names=names,
        files=tuple(entry.files[i] for i in indices.tolist()),
        source=f"LFW from {source} ({', '.join(what)})",
    )
