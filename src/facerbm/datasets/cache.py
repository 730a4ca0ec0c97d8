"""On-disk cache of decoded images: one uint8 .npy and a JSON manifest per source and options."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

from .base import cache_home

__all__ = [
    "CacheEntry",
    "cache_key",
    "folder_fingerprint",
    "load_cached",
    "remove_stale_temps",
    "save_cached",
]

logger = logging.getLogger(__name__)

# Bump when the layout or the decoding changes in a way the key does not capture.
CACHE_VERSION = 1
_IMAGES = "images.npy"
_MANIFEST = "manifest.json"


@dataclass
class CacheEntry:
    """What a cache folder holds.

    Attributes:
        images: (N, H, W[, 3]) uint8, possibly memory-mapped (read-only).
        files: (N,) ids of the decoded images, in order.
        skipped: [file id, reason] for each file that could not be decoded.
    """

    images: np.ndarray
    files: list[str]
    skipped: list[list[str]]


def folder_fingerprint(root: Path) -> dict:
    """Cheap identity of a folder tree: file count, total size and newest mtime (ns).

    Directory mtimes count too, so renaming or deleting a file changes the fingerprint.
    Hidden entries (``.name``) are skipped, as the loaders skip them.
    """
    count = total = 0
    newest = root.stat().st_mtime_ns
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                try:
                    st = entry.stat()
                except OSError:  # a broken symlink: not an image, not part of the identity
                    continue
                newest = max(newest, st.st_mtime_ns)
                # Symlinked folders are not followed (no loops), as in os.walk.
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    count += 1
                    total += st.st_size
    return {"path": str(root.resolve()), "files": count, "bytes": total, "newest_ns": newest}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    return True


def remove_stale_temps(folder: Path, prefix: str) -> None:
    """Delete ``<prefix><pid>-...`` temp files/folders left by processes that were killed.

    Only entries whose writer process no longer exists are removed, so a concurrent writer
    is left alone. POSIX only (elsewhere nothing is removed).
    """
    if os.name != "posix" or not folder.is_dir():
        return
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        logger.info("removing %s left by an interrupted run", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def cache_key(label: str, fields: dict) -> tuple[str, dict]:
    """Folder name and full key for a source identity plus the options that change pixels.

    The Pillow version is part of the key: a different libjpeg may decode different pixels.
    """
    key = {"version": CACHE_VERSION, "pillow": PIL.__version__, **fields}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]
    return f"{safe}-{digest}", json.loads(json.dumps(key))  # normalised like the manifest


def _folder(name: str) -> Path:
    return cache_home() / "arrays" / name


def load_cached(name: str, key: dict) -> CacheEntry | None:
    """The cached entry, or None when absent, partial or built with other options.

    A manifest that does not match the key, a missing or resized images file, or a shape
    or dtype that differs from the manifest all mean "rebuild"; nothing is used silently.
    """
    folder = _folder(name)
    try:
        manifest = json.loads((folder / _MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable cache manifest in %s (%s); rebuilding", folder, exc)
        return None
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        logger.info("cache in %s was built with other options; rebuilding", folder)
        return None
    path = folder / _IMAGES
    try:
        if path.stat().st_size != manifest["nbytes"]:
            raise ValueError(f"{path} has the wrong size")
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        if list(images.shape) != manifest["shape"] or str(images.dtype) != manifest["dtype"]:
            raise ValueError(f"{path} holds {images.shape} {images.dtype}")
        files, skipped = manifest["files"], manifest["skipped"]
        if len(files) != images.shape[0]:
            raise ValueError("manifest file list does not match the images")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring damaged cache in %s (%s); rebuilding", folder, exc)
        return None
    logger.info("loaded %d cached images from %s", images.shape[0], folder)
    return CacheEntry(images=images, files=list(files), skipped=[list(s) for s in skipped])


def save_cached(name: str, key: dict, entry: CacheEntry) -> None:
    """Write the entry atomically: images first, the manifest last (temp file + os.replace).

    A failure to write (read-only or full disk) is logged and otherwise ignored: the cache
    only saves time.
    """
    folder = _folder(name)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_images = folder / f"{_IMAGES}.tmp-{token}"
    tmp_manifest = folder / f"{_MANIFEST}.tmp-{token}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(folder, f"{_IMAGES}.tmp-")
        remove_stale_temps(folder, f"{_MANIFEST}.tmp-")
        # Drop the old manifest first so a crash between the two renames leaves no
        # manifest pointing at the wrong images.
        (folder / _MANIFEST).unlink(missing_ok=True)
        with open(tmp_images, "wb") as f:
            np.save(f, np.ascontiguousarray(entry.images), allow_pickle=False)
        manifest = {
            "key": key,
            "shape": list(entry.images.shape),
            "dtype": str(entry.images.dtype),
            "nbytes": tmp_images.stat().st_size,
            "files": list(entry.files),
            "skipped": [list(s) for s in entry.skipped],
        }
        tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_images, folder / _IMAGES)
        os.replace(tmp_manifest, folder / _MANIFEST)
        logger.info("cached %d images in %s", entry.images.shape[0], folder)
    except OSError as exc:
        logger.warning("could not write the image cache in %s: %s", folder, exc)
    finally:
        for tmp in (tmp_images, tmp_manifest):
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
