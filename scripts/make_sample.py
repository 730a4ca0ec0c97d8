"""Build src/facerbm/data/lfw_sample.npz, the small LFW sample shipped with facerbm.

The sample holds gray faces at the default crop and size (62x47), chosen with a seed:
- every person with at least ``--min-count`` images, each capped at ``--cap`` images drawn
  at random (enough per person for a small identification demo with a train/test split);
- then a random spread of images of everyone else, up to ``--total`` images, for variety.

Usage:
    python scripts/make_sample.py [--data ../shared/data/lfw-deepfunneled.tgz]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from facerbm.datasets import load_array, load_lfw

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "lfw-deepfunneled.tgz"
DEFAULT_OUT = REPO / "src" / "facerbm" / "data" / "lfw_sample.npz"


def choose(people: np.ndarray, min_count: int, cap: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices: frequent people (capped), then random others up to ``total``."""
    names, inverse, counts = np.unique(people, return_inverse=True, return_counts=True)
    picked = []
    for p in np.flatnonzero(counts >= min_count):
        mine = np.flatnonzero(inverse == p)
        picked.append(rng.choice(mine, size=min(cap, mine.size), replace=False))
    frequent = np.concatenate(picked) if picked else np.empty(0, np.int64)
    others = np.flatnonzero(counts[inverse] < min_count)
    n_more = max(0, min(total - frequent.size, others.size))
    spread = rng.choice(others, size=n_more, replace=False)
    return np.sort(np.concatenate([frequent, spread]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LFW folder or archive")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-count", type=int, default=50, help="'frequent' person threshold")
    parser.add_argument("--cap", type=int, default=60, help="images kept per frequent person")
    parser.add_argument("--total", type=int, default=1400, help="images in the sample")
    parser.add_argument("--max-bytes", type=int, default=4_000_000, help="size limit of the file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = load_lfw(args.data)
    people = np.array([f.split("/", 1)[0] for f in data.files])
    index = choose(people, args.min_count, args.cap, args.total, np.random.default_rng(args.seed))
    names, targets = np.unique(people[index], return_inverse=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        images=data.images[index],
        targets=targets.astype(np.int64),
        target_names=names,
        files=np.array([data.files[i] for i in index]),
    )
    size = args.out.stat().st_size
    counts = np.bincount(targets)
    frequent = int((counts >= min(args.cap, args.min_count)).sum())
    print(
        f"wrote {args.out}: {index.size} faces of {names.size} people "
        f"({frequent} people with >= {min(args.cap, args.min_count)} images), {size:,} bytes"
    )
    check = load_array(args.out)
    assert check.images.shape == (index.size, *data.image_shape)
    if size > args.max_bytes:
        print(f"error: {size:,} bytes is over --max-bytes {args.max_bytes:,}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
