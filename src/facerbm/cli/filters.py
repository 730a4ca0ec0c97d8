"""Draw the filters (the weights of each hidden unit, in pixel units) of a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from facerbm.cli.common import load_run, positive_int

HELP = "draw the filters of a trained model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="run folder written by 'facerbm train'")
    p.add_argument("--max", type=positive_int, default=None, help="draw at most this many filters")
    p.add_argument("--cols", type=positive_int, default=None, help="tiles per row")
    p.add_argument(
        "--unsorted",
        action="store_true",
        help="keep the hidden units' order instead of strongest first",
    )
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: RUN/filters.png)")


def run(args: argparse.Namespace) -> int:
    from facerbm import viz

    model, norm, config = load_run(args.model)
    shape = tuple(config["image_shape"])
    W = model.W.detach() * model.sigma
    filters = norm.inverse_direction(W).T.reshape((-1,) + shape).numpy()
    out = args.out or Path(args.model) / "filters.png"
    img = viz.filter_mosaic(filters, ncols=args.cols, sort=not args.unsorted, max_filters=args.max)
    viz.save_png(img, out)
    print(f"wrote {out} ({min(len(filters), args.max or len(filters))} filters)")
    return 0
