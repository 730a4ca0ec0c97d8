"""Train an RBM on faces and write the run folder: model.safetensors + config.json, filters.png,
reconstructions.png, curves.png, metrics.json and a resumable checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facerbm.cli.common import (
    LFW_FACE_CROP,
    add_device,
    crop_arg,
    fraction,
    positive_float,
    positive_int,
    size_arg,
)
from facerbm.datasets.dispatch import DATA_HELP

HELP = "train an RBM on faces and draw what it learned"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--data",
        default="sample",
        help=DATA_HELP,
    )
    d.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip unreadable or odd-sized images with a warning instead of stopping",
    )
    d.add_argument(
        "--size",
        type=size_arg,
        default=None,
        help="image size HEIGHTxWIDTH the faces are scaled to (LFW default 62x47; the "
        "original tutorial used 28 or 40 with --crop none)",
    )
    d.add_argument(
        "--crop",
        type=crop_arg,
        default=None,
        help="LFW crop box: 'face' (rows 70:195, cols 78:172 of the 250x250 image, "
        "the default), 'none' (whole image) or TOP,BOTTOM,LEFT,RIGHT",
    )
    d.add_argument("--color", action="store_true", help="RGB images instead of gray")
    d.add_argument(
        "--min-faces-per-person",
        type=int,
        default=None,
        help="keep only people with at least this many images",
    )
    d.add_argument(
        "--max-faces",
        type=positive_int,
        default=None,
        help="use at most this many images (a seeded random subset)",
    )
    d.add_argument(
        "--holdout",
        type=fraction,
        default=0.1,
        help="fraction of images held out to measure reconstruction and overfitting",
    )
    d.add_argument(
        "--normalize",
        choices=("none", "scale", "standardize"),
        default="standardize",
        help="pixel preprocessing: raw 0-255 (the tutorial's choice), /255, or per-pixel "
        "z-score (suits unit-variance Gaussian visible units)",
    )

    m = p.add_argument_group("model")
    m.add_argument("--hidden", type=positive_int, default=500, help="number of hidden units")
    m.add_argument(
        "--hidden-type",
        choices=("nrelu", "binary"),
        default="nrelu",
        help="noisy rectified linear units (Nair & Hinton 2010) or binary units",
    )
    m.add_argument(
        "--visible-type",
        choices=("gaussian", "bernoulli"),
        default="gaussian",
        help="Gaussian (continuous) visible units, or Bernoulli (needs --normalize scale)",
    )
    m.add_argument(
        "--sigma",
        type=positive_float,
        default=1.0,
        help="fixed standard deviation of the Gaussian visible units, in normalized units",
    )

    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set")
    t.add_argument("--batch-size", type=positive_int, default=100, help="images per mini-batch")
    t.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate")
    t.add_argument(
        "--lr-schedule",
        choices=("constant", "linear", "cosine"),
        default="constant",
        help="learning-rate decay over the epochs",
    )
    t.add_argument("--k", type=positive_int, default=1, help="Gibbs steps per update (CD-k)")
    t.add_argument("--momentum", type=fraction, default=0.9, help="momentum after the first epochs")
    t.add_argument(
        "--initial-momentum",
        type=fraction,
        default=0.5,
        help="momentum during the first --momentum-epochs epochs",
    )
    t.add_argument("--momentum-epochs", type=int, default=5, help="epochs trained with --initial-momentum")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="L2 penalty on the weights")
    t.add_argument(
        "--sparsity-target",
        type=positive_float,
        default=None,
        help="target mean hidden activity (off by default)",
    )
    t.add_argument(
        "--sparsity-cost",
        type=float,
        default=0.1,
        help="strength of the sparsity penalty (used with --sparsity-target)",
    )
    t.add_argument(
        "--persistent",
        action="store_true",
        help="persistent contrastive divergence (chains carried across batches)",
    )
    t.add_argument(
        "--sample-visible",
        action="store_true",
        help="sample the visible units in the negative phase instead of using their mean",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of the data split and training")
    add_device(t)

    o = p.add_argument_group("output")
    o.add_argument("--out", default="runs/train", help="run folder to write")
    o.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    o.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (same settings)",
    )
    o.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=1,
        help="write a resumable checkpoint every this many epochs",
    )
    o.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from facerbm.run import DataConfig, train_run
    from facerbm.train import DivergenceError, TrainConfig

    options = {}
    if args.size is not None:
        options["size"] = list(args.size)
    if args.crop == "none":
        options["crop"] = None
    elif args.crop is not None and tuple(args.crop) != LFW_FACE_CROP:
        options["crop"] = list(args.crop)
    if args.color:
        options["color"] = True
    if args.min_faces_per_person:
        options["min_faces_per_person"] = args.min_faces_per_person
    if args.skip_bad_images:
        options["strict"] = False
    if args.max_faces:
        options["max_faces"] = args.max_faces
        options["seed"] = args.seed
    data = DataConfig(source=str(args.data), options=options, holdout=args.holdout, normalize=args.normalize)
    rbm = {
        "n_hidden": args.hidden,
        "hidden": args.hidden_type,
        "visible": args.visible_type,
        "sigma": args.sigma,
    }
    train = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        k=args.k,
        momentum=args.momentum,
        initial_momentum=args.initial_momentum,
        momentum_epochs=args.momentum_epochs,
        weight_decay=args.weight_decay,
        sparsity_target=args.sparsity_target,
        sparsity_cost=args.sparsity_cost,
        persistent=args.persistent,
        sample_visible=args.sample_visible,
    )
    epochs = None
    if args.resume:
        epochs = _check_resume(args, data, rbm, train)
    try:
        metrics = train_run(
            Path(args.out),
            data,
            rbm,
            train,
            seed=args.seed,
            device=args.device,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not args.quiet,
            epochs=epochs,
        )
    except DivergenceError as e:
        print(f"facerbm train: {e}", file=sys.stderr)
        print(f"facerbm train: the last good checkpoint is in {args.out}", file=sys.stderr)
        return 1
    final = metrics["final"]
    out = Path(args.out)
    seconds = sum(m["seconds"] for m in metrics["history"])
    print(
        f"trained {final['epoch']} epochs on {metrics['n_train']} faces "
        f"({metrics['image_shape'][0]}x{metrics['image_shape'][1]}), "
        f"{metrics['n_heldout']} held out, in {seconds:.1f} s of training"
    )
    if "recon_mse_heldout" in final:
        base = metrics["mean_face_mse_heldout"]
        ratio = f" -> {final['recon_mse_heldout'] / base:.1%} of the mean-face error" if base > 0 else ""
        print(
            f"held-out reconstruction MSE {final['recon_mse_heldout']:.5f} "
            f"(pixels in [0, 1]); mean face {base:.5f}{ratio}"
        )
    # the diagnostics' warnings were already logged by train_run
    print(
        f"wrote {out}/: model.safetensors config.json filters.png reconstructions.png curves.png metrics.json"
    )
    return 0


# TrainConfig fields with a --flag of the same name (init_std has none).
_NO_FLAG = ("init_std",)


def _check_resume(args: argparse.Namespace, data, rbm: dict, train) -> int | None:
    """Options given with --resume must agree with the run's; returns a larger --epochs to train
    on to (constant learning rate only), or None.

    An option counts as given when its value differs from the parser's default (argparse cannot
    tell a typed default from an omitted option).
    """
    import dataclasses

    from facerbm.checkpoint import CHECKPOINT_FILE, read_checkpoint_state
    from facerbm.cli.common import UserError

    if not (Path(args.out) / CHECKPOINT_FILE).exists():
        return None  # train_run says there is nothing to resume
    state = read_checkpoint_state(args.out)
    try:
        saved_data, saved_train, saved_rbm = state["data"], state["train"], state["rbm"]
    except (KeyError, TypeError):
        return None  # train_run names the broken checkpoint
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    default = vars(parser.parse_args([]))
    opts, saved_opts = data.options, saved_data.get("options", {})
    checks = [
        ("--data", "data", data.source, saved_data["source"]),
        ("--holdout", "holdout", data.holdout, saved_data["holdout"]),
        ("--normalize", "normalize", data.normalize, saved_data["normalize"]),
        ("--size", "size", opts.get("size"), saved_opts.get("size")),
        ("--crop", "crop", opts.get("crop", "face"), saved_opts.get("crop", "face")),
        ("--color", "color", opts.get("color"), saved_opts.get("color")),
        (
            "--min-faces-per-person",
            "min_faces_per_person",
            opts.get("min_faces_per_person"),
            saved_opts.get("min_faces_per_person"),
        ),
        ("--max-faces", "max_faces", opts.get("max_faces"), saved_opts.get("max_faces")),
        ("--skip-bad-images", "skip_bad_images", opts.get("strict", True), saved_opts.get("strict", True)),
        ("--hidden", "hidden", rbm["n_hidden"], saved_rbm["n_hidden"]),
        ("--hidden-type", "hidden_type", rbm["hidden"], saved_rbm["hidden"]),
        ("--visible-type", "visible_type", rbm["visible"], saved_rbm["visible"]),
        ("--sigma", "sigma", rbm["sigma"], saved_rbm["sigma"]),
        ("--seed", "seed", args.seed, state.get("seed")),
    ] + [
        (f"--{f.name.replace('_', '-')}", f.name, getattr(train, f.name), saved_train.get(f.name))
        for f in dataclasses.fields(train)
        if f.name not in _NO_FLAG
    ]
    differ = {
        flag: (new, old)
        for flag, attr, new, old in checks
        if getattr(args, attr) != default[attr] and new != old
    }
    extend = None
    if "--epochs" in differ:
        new, old = differ["--epochs"]
        if new > old and saved_train.get("lr_schedule") == "constant":
            extend = differ.pop("--epochs")[0]
    if differ:
        listed = ", ".join(f"{flag} {new} (the run has {old})" for flag, (new, old) in differ.items())
        raise UserError(
            f"--resume {args.out}: these options differ from the run's: {listed}. A resumed run keeps "
            f"its settings; drop them, or start a new run with another --out"
            + (
                " (--epochs can only grow, and only with --lr-schedule constant)"
                if "--epochs" in differ
                else ""
            )
        )
    return extend
