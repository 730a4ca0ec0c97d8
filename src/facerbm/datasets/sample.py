"""The small LFW sample shipped inside the package (works offline, no data needed)."""

from __future__ import annotations

import importlib.resources
from dataclasses import replace

from .base import FaceData
from .folder import load_array

__all__ = ["SAMPLE_FILE", "load_sample"]

SAMPLE_FILE = "lfw_sample.npz"


def load_sample() -> FaceData:
    """The embedded LFW sample built by ``scripts/make_sample.py``.

    About 1,500 deep-funneled LFW faces, gray, the default crop and size (62x47), seeded:
    every image (capped per person) of the people with the most images, for small
    identification demos, plus a random spread of other people for variety.

    Returns:
        FaceData, images uint8 (N, 62, 47) in [0, 255], files as in LFW.

    Raises:
        FileNotFoundError: the package was installed without its data file.
    """
    resource = importlib.resources.files("facerbm") / "data" / SAMPLE_FILE
    with importlib.resources.as_file(resource) as path:
        if not path.is_file():
            raise FileNotFoundError(
                f"the embedded sample {SAMPLE_FILE} is missing from the facerbm package "
                f"(looked at {path}); reinstall facerbm or pass --data PATH"
            )
        data = load_array(path)
    source = f"embedded LFW sample ({len(data)} faces, facerbm/data/{SAMPLE_FILE})"
    return replace(data, source=source)
