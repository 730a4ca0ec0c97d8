"""Safe tar extraction into the cache, resumable downloads and sha256 checks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import shutil
import tarfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tqdm import tqdm

from .base import cache_home
from .cache import remove_stale_temps

__all__ = [
    "ARCHIVE_SUFFIXES",
    "archive_stem",
    "download_url",
    "extract_archive",
    "is_archive",
    "safe_extract",
    "sha256_file",
]

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MARKER = ".facerbm-extracted.json"  # written last: its presence means the extraction finished
_CHUNK = 1 << 20
# tarfile's extraction filters exist from Python 3.10.12 / 3.11.4 on.
_FILTER_KWARGS = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_FilterError = getattr(tarfile, "FilterError", ())


def is_archive(path: str | os.PathLike) -> bool:
    """True if the name ends in .tgz, .tar.gz or .tar (case-insensitive)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(path: str | os.PathLike) -> str:
    """``lfw-deepfunneled.tgz`` -> ``lfw-deepfunneled``."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_identity(path: Path) -> dict:
    """Cheap identity of a file for cache keys: resolved path, size and mtime (ns)."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# --- extraction -------------------------------------------------------------------------------


def _inside(base: str, target: str) -> bool:
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)


def _check_member(member: tarfile.TarInfo, dest: str, resolve: bool) -> None:
    """Refuse members that could write outside ``dest`` or create special files.

    ``resolve``: follow symlinks already on disk (realpath). Without links in ``dest`` a
    purely textual check is exact and saves several system calls per member.

    Raises:
        ValueError: naming the member and the reason.
    """
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"unsafe archive member {name!r}: absolute path")
    if ".." in parts:
        raise ValueError(f"unsafe archive member {name!r}: '..' in path")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ValueError(f"unsafe archive member {name!r}: device, fifo or other special file")
    real = os.path.realpath if resolve else os.path.normpath
    # With resolve, writing *through* a symlink extracted earlier is caught too.
    if not _inside(dest, real(os.path.join(dest, name))):
        raise ValueError(f"unsafe archive member {name!r}: resolves outside the destination")
    if member.issym():
        link = member.linkname.replace("\\", "/")
        if link.startswith("/") or os.path.isabs(member.linkname):
            raise ValueError(f"unsafe archive member {name!r}: symlink to absolute {link!r}")
        target = os.path.realpath(os.path.join(dest, posixpath.dirname(name), link))
        if not _inside(dest, target):
            raise ValueError(f"unsafe archive member {name!r}: symlink {link!r} escapes")
    elif member.islnk():
        target = os.path.realpath(os.path.join(dest, member.linkname))
        if not _inside(dest, target):
            raise ValueError(f"unsafe archive member {name!r}: hard link to {member.linkname!r}")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, progress: bool = True) -> int:
    """Extract a tar archive (any compression tarfile reads) into ``dest``, member by member.

    Every member is checked before it is written (absolute paths, ``..``, links leaving
    ``dest``, device files); tarfile's ``filter="data"`` is applied as a second guard where
    Python has it. Extraction stops at the first bad member, so callers should extract into
    a new temporary folder and discard it on error (``extract_archive`` does).

    Args:
        archive: path of the .tar/.tgz/.tar.gz file.
        dest: existing folder to extract into.
        progress: show a tqdm count of members on stderr.

    Returns:
        The number of members extracted.

    Raises:
        ValueError: naming the first unsafe member.
        tarfile.TarError, OSError: for unreadable archives.
    """
    dest_real = os.path.realpath(dest)
    n = 0
    # Until a link is extracted (or if dest was not empty) paths cannot be redirected.
    with os.scandir(dest_real) as it:
        resolve = any(it)
    with (
        tarfile.open(archive, "r:*") as tar,
        tqdm(desc=f"extract {Path(archive).name}", unit=" files", disable=not progress) as bar,
    ):
        # Iterate instead of getmembers(): one pass over a gzip stream, not two.
        for member in tar:
            _check_member(member, dest_real, resolve)
            resolve = resolve or member.issym() or member.islnk()
            try:
                tar.extract(member, dest_real, set_attrs=not member.isdir(), **_FILTER_KWARGS)
            except _FilterError as exc:  # pragma: no cover - our checks run first
                raise ValueError(f"unsafe archive member {member.name!r}: {exc}") from exc
            n += 1
            bar.update()
    return n


def extract_archive(archive: str | os.PathLike, *, progress: bool = True) -> Path:
    """Extract ``archive`` once into ``cache_home()/extracted/<stem>-<hash>`` and return it.

    The folder name hashes the archive's resolved path, size and mtime, so a changed
    archive gets a fresh folder. Extraction goes to a temporary sibling folder, a marker
    file is written last, and the folder is renamed into place; a folder without the
    marker (an interrupted run) is removed and extracted again.

    Raises:
        ValueError: for unsafe members (nothing is left behind) or unreadable archives.
    """
    archive = Path(archive)
    ident = file_identity(archive)
    short = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]
    root = cache_home() / "extracted"
    dest = root / f"{archive_stem(archive)}-{short}"
    marker = dest / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text("utf-8")).get("archive") == ident:
                logger.debug("using extracted %s", dest)
                return dest
        except (OSError, ValueError):
            pass
    if dest.exists():
        logger.warning("removing incomplete extraction %s", dest)
        shutil.rmtree(dest, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root, f".tmp-{dest.name}-")  # from runs killed mid-extraction
    tmp = root / f".tmp-{dest.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    logger.info("extracting %s to %s", archive, dest)
    try:
        try:
            n = safe_extract(archive, tmp, progress=progress)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ValueError(f"cannot read archive {str(archive)!r}: {exc}") from exc
        info = {"archive": ident, "members": n}
        (tmp / MARKER).write_text(json.dumps(info), encoding="utf-8")
        try:
            os.replace(tmp, dest)
        except OSError:
            # Another process finished the same extraction first; use theirs.
            if not (dest / MARKER).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- download ---------------------------------------------------------------------------------


def _offline_error(url: str, exc: BaseException) -> RuntimeError:
    return RuntimeError(
        f"could not download {url} ({exc}). If this machine is offline, get the archive "
        "elsewhere and pass a local copy: a .tgz/.tar archive or an extracted folder, e.g. "
        "load_lfw(root='path/to/lfw-deepfunneled.tgz') or `facerbm train --data PATH`."
    )


def download_url(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download.

    Bytes go to ``<dest>.part``; an existing ``.part`` is resumed with an HTTP Range
    request (a server that ignores Range is handled by starting over). The finished file
    is checked against ``sha256`` and moved into place with ``os.replace``. An existing
    ``dest`` is reused when its checksum matches (or none is known).

    Args:
        url: http(s) URL.
        dest: final file path; its folder is created.
        sha256: expected hex digest, or None to skip the check (a warning is logged).
        progress: tqdm progress bar in bytes on stderr.
        timeout: socket timeout in seconds.

    Returns:
        ``dest`` as a Path.

    Raises:
        RuntimeError: when the host cannot be reached (says how to use a local copy) or the
            checksum does not match (the partial file is removed so a retry starts clean).
    """
    dest = Path(dest)
    if sha256 is None:
        logger.warning("no sha256 known for %s: the download will not be verified", url)
    if dest.is_file():
        if sha256 is None or sha256_file(dest) == sha256.lower():
            return dest
        logger.warning("%s does not match its sha256; downloading again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(2):
        offset = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "facerbm"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = getattr(response, "status", 200)
                if offset and status != 206:
                    logger.info("server ignored the Range request; starting over")
                    offset = 0
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else None
                with (
                    open(part, "ab" if offset else "wb") as f,
                    tqdm(
                        total=total,
                        initial=offset,
                        unit="B",
                        unit_scale=True,
                        desc=f"download {dest.name}",
                        disable=not progress,
                    ) as bar,
                ):
                    while chunk := response.read(_CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and attempt == 0:
                # Range not satisfiable: the .part is already whole or is junk; restart.
                part.unlink(missing_ok=True)
                continue
            raise _offline_error(url, exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise _offline_error(url, exc) from exc
        break
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256.lower():
            part.unlink(missing_ok=True)
            raise RuntimeError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {got}; "
                "the partial file was removed, try again or pass a local copy with root=PATH"
            )
    os.replace(part, dest)
    logger.info("downloaded %s to %s", url, dest)
    return dest
