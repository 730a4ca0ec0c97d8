"""The small LFW sample shipped inside the package (works offline, no data needed)."""

from __future__ import annotations

import importlib.resources
from dataclasses import replace

from .base import FaceData, check_int
from .folder import load_array
from .lfw import select_people

__all__ = ["SAMPLE_FILE", "load_sample"]

SAMPLE_FILE = "lfw_sample.npz"


def load_sample(*, min_faces_per_person: int = 0, max_faces: int | None = None, seed: int = 0) -> FaceData:
    """The embedded LFW sample built by ``scripts/make_sample.py``.

    1,400 deep-funneled LFW faces, gray, the default crop and size (62x47), seeded: every
    image (capped per person) of the people with the most images, for small identification
    demos, plus a random spread of other people for variety.

    Args:
        min_faces_per_person: keep only people with at least this many images in the sample.
        max_faces: keep at most this many images, drawn with ``numpy.random.default_rng(seed)``.
        seed: seed of that draw.

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
    min_faces_per_person = check_int("min_faces_per_person", min_faces_per_person, minimum=0)
    max_faces = check_int("max_faces", max_faces, minimum=1, allow_none=True)
    seed = check_int("seed", seed, minimum=0)
    what = f"{len(data)} faces"
    if min_faces_per_person or max_faces is not None:
        people = [data.target_names[t] for t in data.targets]
        idx, targets, names = select_people(people, min_faces_per_person, max_faces, seed)
        data = replace(
            data,
            images=data.images[idx],
            targets=targets,
            target_names=names,
            files=tuple(data.files[i] for i in idx.tolist()),
        )
        what = f"{len(data)} of {what}"
    return replace(data, source=f"embedded LFW sample ({what}, facerbm/data/{SAMPLE_FILE})")
