"""Draw samples from a trained model with Gibbs chains started from noise or from faces; each row
shows the chains after more steps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from facerbm.cli.common import add_device, load_run, positive_int

HELP = "run Gibbs chains and write a grid of samples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="run folder written by 'facerbm train'")
    p.add_argument("--n", type=positive_int, default=10, help="number of chains (columns)")
    p.add_argument("--steps", type=positive_int, default=1000, help="Gibbs steps of the last row")
    p.add_argument(
        "--rows",
        type=positive_int,
        default=5,
        help="rows between the start and --steps, spaced logarithmically",
    )
    p.add_argument(
        "--start",
        choices=("noise", "data"),
        default="data",
        help="start the chains from Gaussian noise or from the run's held-out faces",
    )
    p.add_argument(
        "--sample-visible",
        action="store_true",
        help="add the visible noise σ·ε at every step (default: the visible mean)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the chains")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: RUN/samples.png)")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    from facerbm import viz
    from facerbm.cli.reconstruct import faces_from_run_data
    from facerbm.rng import make_generator

    model, norm, config = load_run(args.model, args.device)
    shape = tuple(config["image_shape"])
    g = make_generator(args.seed, args.device)
    V = model.config.n_visible
    if args.start == "data":
        pix = faces_from_run_data(config, None, args.n)
        v = norm.transform(torch.from_numpy(pix.reshape(len(pix), -1)).to(args.device))
    else:
        v = torch.randn(args.n, V, generator=g, device=args.device)
        if model.config.visible == "bernoulli":
            v = (v > 0).float()
    marks = sorted({int(round(s)) for s in np.geomspace(1, args.steps, args.rows)})
    rows, labels, done, diverged = [], [], 0, None
    # A chain is called diverged when its RMS (model units) is non-finite or 20x that of the
    # start: NReLU units are unbounded, and a CD-trained model can amplify its own samples.
    limit = 20.0 * max(1.0, float(v.pow(2).mean().sqrt()))
    with torch.no_grad():
        rows.append(norm.inverse_transform(v).cpu().numpy())
        labels.append("start")
        for m in marks:
            v = model.gibbs(v, m - done, g, sample_visible=args.sample_visible)
            done = m
            rms = float(v.pow(2).mean().sqrt())
            if not rms < limit:  # also catches NaN
                diverged = m
                break
            shown = model.reconstruct(v) if args.sample_visible else v
            rows.append(norm.inverse_transform(shown).cpu().numpy())
            labels.append(f"step {m}")
    if diverged is not None:
        print(
            f"warning: the Gibbs chains blew up by step {diverged} (RMS {rms:.3g} in model units); "
            f"the picture stops before. {model.config.hidden.upper()} hidden units are unbounded and "
            f"a model trained by CD-1 need not keep long chains stable: use fewer --steps, or train "
            f"with --hidden-type binary (or --persistent) for a model to sample from.",
            file=sys.stderr,
        )
    hi = norm.pixel_max
    rows = [np.clip(r, 0, hi).reshape((-1,) + shape) for r in rows]
    out = args.out or Path(args.model) / "samples.png"
    viz.save_png(viz.comparison_grid(rows, labels, pixel_max=hi, per_row=args.n), out)
    shown = [lab.split()[-1] for lab in labels[1:]]
    print(f"wrote {out}: {args.n} chains, rows after {', '.join(shown)} Gibbs steps")
    return 0
