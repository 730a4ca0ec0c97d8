"""``load_faces``: one string (the CLI's ``--data``) to the right loader."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from .archive import is_archive
from .base import FaceData, as_path
from .folder import load_array, load_image_folder
from .lfw import LFW, load_lfw, looks_like_lfw
from .mat import load_frey, load_olivetti
from .sample import load_sample

__all__ = ["DATA_HELP", "load_faces"]

_LOADERS: dict[str, tuple[Callable[..., FaceData], str]] = {
    "sample": (load_sample, "the embedded LFW sample"),
    "lfw": (load_lfw, "LFW"),
    "folder": (load_image_folder, "an image folder"),
    "array": (load_array, "a .npy/.npz array"),
    "olivetti": (load_olivetti, "Olivetti faces (.mat)"),
    "frey": (load_frey, "Frey faces (.mat)"),
}

# Options that never change the faces returned: ignored, whatever their value, by loaders
# that lack them (so a CLI's --quiet or --no-cache works with every source).
_HARMLESS = frozenset({"progress", "cache", "strict"})

DATA_HELP = (
    "'sample' (the small LFW sample shipped with facerbm); 'lfw' (LFW from ./lfw or the "
    "cache, $FACERBM_HOME); an LFW folder (<Person>/<Person>_NNNN.jpg) or a .tgz/.tar.gz/.tar "
    "LFW archive; any folder of images (subfolders are people); a .npy or .npz array file; "
    "olivetti*.mat or frey*.mat; or KIND:PATH with KIND one of lfw, folder, array, olivetti, "
    "frey to choose the loader"
)


def _options_of(fn: Callable) -> dict[str, object]:
    """Keyword options of a loader and their defaults (the first, positional source excluded)."""
    params = list(inspect.signature(fn).parameters.values())
    return {
        p.name: p.default
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }


def _same(a: object, b: object) -> bool:
    if isinstance(a, list):
        a = tuple(a)
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # e.g. numpy arrays
        return False


def _call(kind: str, source: object, options: dict) -> FaceData:
    """Call loader ``kind``; drop options it lacks when they hold some loader's default."""
    fn, what = _LOADERS[kind]
    accepted = _options_of(fn)
    defaults: dict[str, list[object]] = {}
    for other, _ in _LOADERS.values():
        for name, default in _options_of(other).items():
            defaults.setdefault(name, []).append(default)
    passed = {}
    for name, value in options.items():
        if name in accepted:
            passed[name] = value
        elif name in _HARMLESS:
            continue
        elif name not in defaults:
            known = ", ".join(sorted(defaults))
            raise TypeError(f"load_faces got an unknown option {name}={value!r}; known: {known}")
        elif not any(_same(value, d) for d in defaults[name]):
            users = ", ".join(k for k, (f, _) in _LOADERS.items() if name in _options_of(f))
            raise ValueError(f"option {name}={value!r} does not apply to {what} (it applies to: {users})")
    if kind == "sample":
        return fn(**passed)
    return fn(source, **passed)


def load_faces(spec: str | os.PathLike, **options) -> FaceData:
    """Load faces from a description, as the CLI's ``--data`` does.

    Args:
        spec: one of: ``"sample"``; ``"lfw"`` (``./lfw`` if it exists, else the cache);
            an LFW folder or .tgz/.tar.gz/.tar archive; any other folder of images;
            a .npy/.npz file; ``olivetti*.mat`` / ``frey*.mat``; or ``KIND:PATH`` with KIND
            in lfw, folder, array, olivetti, frey.
        **options: keyword options of the chosen loader (``load_lfw``,
            ``load_image_folder``, ...). An option the chosen loader does not take is ignored
            when it holds a default value of some loader, so a CLI can pass all of its
            options; any other value is an error. ``progress``, ``cache`` and ``strict`` do
            not change the faces and are ignored with any value where they do not apply.

    Returns:
        FaceData from the chosen loader.

    Raises:
        ValueError: nonexistent path (the message lists what is accepted), a file of an
            unknown kind, or an option that does not apply.
        TypeError: an option no loader knows.
    """
    if isinstance(spec, str):
        if spec == "sample":
            return _call("sample", None, options)
        if spec == "lfw":
            return _call("lfw", Path("lfw") if Path("lfw").exists() else None, options)
        prefix, sep, rest = spec.partition(":")
        # len(prefix) > 1 keeps Windows drive letters ("C:\\faces") as paths.
        if sep and len(prefix) > 1 and prefix.lower() in _LOADERS and prefix.lower() != "sample":
            if not rest:
                raise ValueError(f"--data {spec!r}: a path must follow '{prefix}:'")
            path = Path(rest).expanduser()
            if not path.exists():
                raise ValueError(f"--data {spec!r}: {str(path)!r} does not exist")
            return _call(prefix.lower(), path, options)
    path = as_path("spec", spec)
    if not path.exists():
        raise ValueError(f"--data {str(spec)!r}: no such file or folder. --data accepts: {DATA_HELP}")
    if path.is_dir():
        lfw_like = (
            looks_like_lfw(path)
            or any(looks_like_lfw(p) for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            or any((path / name).is_file() for name in LFW.ARCHIVES)
        )
        return _call("lfw" if lfw_like else "folder", path, options)
    name = path.name.lower()
    if is_archive(name):
        return _call("lfw", path, options)
    if name.endswith((".npy", ".npz")):
        return _call("array", path, options)
    if name.endswith(".mat"):
        for kind in ("olivetti", "frey"):
            if name.startswith(kind):
                return _call(kind, path, options)
        raise ValueError(
            f"--data {str(spec)!r}: cannot tell which .mat layout this is from its name; "
            "use olivetti:PATH or frey:PATH"
        )
    raise ValueError(f"--data {str(spec)!r}: unsupported file type. --data accepts: {DATA_HELP}")
