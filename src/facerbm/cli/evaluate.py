"""Measure a trained model beside the baselines people know, and write RUN/evaluation.json and
RUN/evaluation.md.

Tasks:
  recon     held-out reconstruction error and PSNR (mean-field, one Gibbs step) beside the mean face
            and PCA with as many components as hidden units; the free-energy gap (run's own split)
  ais       held-out log-likelihood by annealed importance sampling (binary hidden units only; exact
            log Z too when there are at most 20 hidden units), beside probabilistic PCA
  identify  LFW people with >= 70 images, scikit-learn's eigenfaces split: hidden features + logistic
            regression, eigenfaces + SVM, raw pixels + logistic regression
  verify    LFW View 2 (pairs.txt): cosine similarity, threshold from the other 9 folds; raw
            pixels, eigenfaces, the run's RBM features and patch-RBM features (local features pooled
            on a grid), each also averaged with the left-right mirror image, and with a linear
            discriminant projection learned from the training folds' identities (LFW's
            "unrestricted" protocol; the other rows use no identities)

identify and verify train new models with the run's settings so that no test face is seen in
training: one per View 2 fold on the images of the people absent from that fold, and one on all of
LFW but the identification test images. Bound their cost with --epochs, --max-train-faces, --folds,
--verify-features.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from facerbm.cli.common import UserError, add_device, positive_float, positive_int

HELP = "measure a trained model: reconstruction, likelihood, LFW identification and verification"
TASKS = ("recon", "ais", "identify", "verify")
VERIFY_FEATURES = ("pixels", "rbm", "patch")
DEFAULT_LFW = Path("../shared/data/lfw-deepfunneled.tgz")
MAX_FREE_ENERGY_IMAGES = 5000
EXACT_LOG_Z_MAX_HIDDEN = 20
RESULT_JSON = "evaluation.json"
RESULT_MD = "evaluation.md"
PATCH_FILTERS_PNG = "patch_filters.png"

log = logging.getLogger(__name__)


def _names(text: str, choices: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names or any(t not in choices for t in names):
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(choices)}, got {text!r}"
        )
    return names


def tasks_arg(text: str) -> tuple[str, ...]:
    return _names(text, TASKS, "tasks")


def verify_features_arg(text: str) -> tuple[str, ...]:
    return _names(text, VERIFY_FEATURES, "verify features")


def grid_arg(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(t) for t in text.lower().split("x"))
    except ValueError:
        rows = cols = 0
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(
            f"grid must be ROWSxCOLS of positive integers, like 6x5, got {text!r}"
        )
    return rows, cols


def folds_arg(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        vals = ()
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"folds must be fold numbers from 1, like 1,2 or 1, got {text!r}")
    return vals


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder written by 'facerbm train'")
    p.add_argument(
        "--tasks",
        type=tasks_arg,
        default=TASKS,
        help=f"comma-separated tasks among {','.join(TASKS)} (default: all)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of every random step (default: the run's)")
    add_device(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    a = p.add_argument_group("likelihood (ais)")
    a.add_argument("--ais-chains", type=positive_int, default=100, help="AIS runs (chains), at least 2")
    a.add_argument("--ais-betas", type=positive_int, default=14500, help="AIS inverse temperatures")
    a.add_argument(
        "--ais-schedule",
        choices=("paper", "linear"),
        default="paper",
        help="spacing of the temperatures: Salakhutdinov & Murray's three stretches, or uniform",
    )

    f = p.add_argument_group("LFW (identify, verify)")
    f.add_argument(
        "--lfw",
        default=None,
        help=f"LFW archive or folder (default: the run's data if it is LFW, else {DEFAULT_LFW} if present)",
    )
    f.add_argument(
        "--pairs",
        default=None,
        help="View 2 pairs.txt (default: lfw-meta/pairs.txt or pairs.txt beside the LFW archive)",
    )
    f.add_argument(
        "--folds",
        type=folds_arg,
        default=None,
        help="View 2 test folds to run, e.g. 1,2 for a quick look (default: all 10)",
    )
    f.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="epochs of each model trained for identify/verify (default: the run's)",
    )
    f.add_argument(
        "--max-train-faces",
        type=positive_int,
        default=None,
        help="train each identify/verify model on at most this many images (a seeded random subset)",
    )
    f.add_argument(
        "--whiten",
        type=positive_int,
        default=150,
        help="PCA-whitening components for eigenfaces and the whitened feature similarity",
    )
    f.add_argument(
        "--lda",
        type=positive_int,
        default=300,
        help="linear discriminants of the unrestricted-protocol rows (at most the whitening's components)",
    )
    f.add_argument(
        "--verify-features",
        type=verify_features_arg,
        default=VERIFY_FEATURES,
        help=f"feature families that verify scores, among {','.join(VERIFY_FEATURES)} (default: all)",
    )
    f.add_argument(
        "--min-faces",
        type=positive_int,
        default=70,
        help="identification uses the people with at least this many images",
    )

    q = p.add_argument_group("patch-RBM features (verify)")
    q.add_argument("--patch-size", type=positive_int, default=12, help="patch side in pixels")
    q.add_argument("--patch-hidden", type=positive_int, default=256, help="hidden units of the patch RBM")
    q.add_argument("--patch-stride", type=positive_int, default=2, help="pixels between read-out positions")
    q.add_argument("--patch-grid", type=grid_arg, default="6x5", help="pooling cells, ROWSxCOLS")
    q.add_argument("--patch-epochs", type=positive_int, default=10, help="epochs over the training patches")
    q.add_argument("--patch-lr", type=positive_float, default=1e-2, help="CD learning rate of the patch RBM")
    q.add_argument(
        "--patch-count", type=positive_int, default=300_000, help="random training patches per model"
    )
    q.add_argument(
        "--patch-whiten",
        type=positive_int,
        default=500,
        help="PCA-whitening components of the pooled features",
    )


# -- where things are ---------------------------------------------------------------------------
def _lfw_of_run(source: str) -> str | None:
    """The LFW archive/folder the run trained on, or None if its data is not LFW."""
    from facerbm.datasets.archive import is_archive
    from facerbm.datasets.lfw import LFW, looks_like_lfw

    if source.lower().startswith("lfw:"):
        return source[4:]
    if source == "lfw":
        return source
    path = Path(source).expanduser()
    if not path.exists():
        return None
    if path.is_file():
        return source if is_archive(path.name) else None
    if looks_like_lfw(path) or any((path / name).is_file() for name in LFW.ARCHIVES):
        return source
    return None


def _find_pairs(lfw: str) -> Path | None:
    if lfw == "lfw":
        from facerbm.datasets import cache_home

        base = Path("lfw") if Path("lfw").exists() else cache_home()
    else:
        base = Path(lfw).expanduser()
    dirs = [base.parent] if base.is_file() else [base, base.parent]
    for d in dirs:
        for cand in (d / "lfw-meta" / "pairs.txt", d / "pairs.txt"):
            if cand.is_file():
                return cand
    return None


# -- tasks --------------------------------------------------------------------------------------
def _model_units(normalize: str, pixel_max: float) -> str:
    return {
        "standardize": "per-pixel z-scores of the training images",
        "scale": f"pixels / {pixel_max:g}, in [0, 1]",
        "none": f"raw pixels, 0-{pixel_max:g}",
    }[normalize]


def _recon_task(model, normalizer, prepared, seed: int) -> dict:
    from facerbm.evaluate.reconstruction import free_energy_gap, reconstruction_errors
    from facerbm.rng import make_generator, split_seed

    if len(prepared.heldout_idx) == 0:
        raise UserError("the run holds out no images (--holdout 0), so there is no held-out error to measure")
    train_pix = prepared.pixels[prepared.train_idx]
    held_pix = prepared.pixels[prepared.heldout_idx]
    g = make_generator(split_seed(seed, 40), model.W.device)
    rec = reconstruction_errors(model, normalizer, train_pix, held_pix, g)
    n = MAX_FREE_ENERGY_IMAGES
    fe = free_energy_gap(model, normalizer.transform(train_pix[:n]), normalizer.transform(held_pix[:n]))
    return {"reconstruction": rec, "free_energy": fe}


def _ais_task(model, normalizer, prepared, args, seed: int, progress: bool) -> dict:
    from facerbm.evaluate.density import (
        ais_heldout_log_likelihood,
        log_jacobian_to_unit_pixels,
        ppca_reference,
    )
    from facerbm.likelihood import exact_log_partition
    from facerbm.rng import make_generator, split_seed

    if len(prepared.heldout_idx) == 0:
        raise UserError("the run holds out no images (--holdout 0), so there is no held-out likelihood")
    train = normalizer.transform(prepared.pixels[prepared.train_idx]).double()
    held = normalizer.transform(prepared.pixels[prepared.heldout_idx]).double()
    g = make_generator(split_seed(seed, 41))
    bar = None
    if progress and model.config.hidden == "binary":
        from tqdm.auto import tqdm

        bar = tqdm(
            total=args.ais_chains, unit="chain", desc=f"AIS ({args.ais_betas} betas)", dynamic_ncols=True
        )
    try:
        ais = ais_heldout_log_likelihood(
            model.cpu(),
            train,
            held,
            n_chains=args.ais_chains,
            n_betas=args.ais_betas,
            schedule=args.ais_schedule,
            generator=g,
            progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if ais["available"] and model.config.n_hidden <= EXACT_LOG_Z_MAX_HIDDEN:
        ais["exact_log_z"] = exact_log_partition(model)
        ais["exact_heldout_log_likelihood"] = (
            ais["heldout_log_likelihood"] + ais["log_z"] - ais["exact_log_z"]
        )
    out = {"ais": ais, "log_jacobian": log_jacobian_to_unit_pixels(normalizer)}
    if model.config.visible == "gaussian":
        out["ppca"] = ppca_reference(train, held, model.config.n_hidden)
    else:
        out["note"] = (
            "Bernoulli visible units: log p is a log probability of binary images, so on grey images it is "
            "a score, and no density model (PPCA) is comparable with it."
        )
    return out


def _train_config(config: dict, epochs: int | None):
    from facerbm.train import TrainConfig

    train = TrainConfig(**config["train"])
    return replace(train, epochs=epochs) if epochs else train


def _rbm_feature_maker(config, args, seed_stream, *, pixels, device, progress, desc):
    """make(train_rows, rows) -> hidden features of ``rows`` from a model trained on ``train_rows``."""
    from facerbm.evaluate.features import hidden_features, train_rbm
    from facerbm.rng import split_seed

    rbm = {k: v for k, v in config["rbm"].items() if k != "n_visible"}
    train = _train_config(config, args.epochs)
    normalize = config["data"]["normalize"]
    infos = []

    def make(train_rows: np.ndarray, rows: np.ndarray, stream: int = 0) -> np.ndarray:
        seed = split_seed(args.seed, seed_stream + stream)
        if args.max_train_faces and args.max_train_faces < train_rows.size:
            rng = np.random.default_rng(seed)
            train_rows = np.sort(rng.choice(train_rows, args.max_train_faces, replace=False))
        model, norm, info = train_rbm(
            pixels[train_rows],
            rbm,
            train,
            normalize,
            seed=seed,
            device=device,
            progress=progress,
            desc=desc if not stream else f"{desc} {stream}",
        )
        infos.append(info)
        return hidden_features(model, norm, pixels[rows])

    return make, infos, train


def _patch_feature_maker(args, *, pixels, image_shape, device, progress):
    """make(fold, train_rows, rows) -> pooled patch-RBM features of ``rows``, one patch RBM per fold."""
    from facerbm.patches import BATCH_SIZE, PatchConfig, PatchRBM
    from facerbm.rng import split_seed

    try:
        cfg = PatchConfig(
            size=args.patch_size,
            n_hidden=args.patch_hidden,
            stride=args.patch_stride,
            grid=tuple(args.patch_grid),
            n_patches=args.patch_count,
            epochs=args.patch_epochs,
            lr=args.patch_lr,
        )
        cfg.map_shape(tuple(image_shape))
    except ValueError as e:
        raise UserError(f"patch features: {e}") from None
    infos = []

    def make(k: int, train_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
        images = pixels.reshape(len(pixels), *image_shape)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            n_batches = -(-cfg.n_patches // BATCH_SIZE)
            bar = tqdm(
                total=cfg.epochs * n_batches,
                unit="batch",
                desc=f"verify: patch RBM fold {k + 1}",
                dynamic_ncols=True,
                leave=False,
            )
        try:
            patch = PatchRBM(cfg, seed=split_seed(args.seed, 50 + k), device=device).fit(
                images[train_rows], bar
            )
        finally:
            if bar is not None:
                bar.close()
        infos.append(
            {"n_images": int(train_rows.size), "recon_mse": patch.history[-1].get("recon_mse_train")}
        )
        if len(infos) == 1:  # the first fold's filters, to look at
            from facerbm.viz import filter_mosaic, save_png

            save_png(filter_mosaic(patch.filters(), max_filters=128), Path(args.run) / PATCH_FILTERS_PNG)
        return patch.features(images[rows])

    return make, infos, cfg


def _patch_note(cfg, infos: list, what: str) -> str:
    n = sorted({i["n_images"] for i in infos})
    sizes = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    return (
        f"Patch-RBM features: {what}, from {cfg.n_patches} random {cfg.size}x{cfg.size} patches of {sizes} "
        f"images each (contrast-normalised, ZCA-whitened), {cfg.n_hidden} {cfg.hidden} units, {cfg.epochs} "
        f"epochs at lr {cfg.lr:g}; E[h | patch] every {cfg.stride} pixels, averaged over "
        f"{cfg.grid[0]}x{cfg.grid[1]} cells, square-rooted."
    )


def _training_note(config: dict, train, infos: list, what: str) -> str:
    rbm = config["rbm"]
    n = sorted({i["n_images"] for i in infos})
    sizes = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    diverged = [i for i in infos if i["diverged"]]
    text = (
        f"RBM features: {what}, with the run's settings ({rbm['n_hidden']} {rbm['hidden']} units, "
        f"normalize={config['data']['normalize']}, {train.epochs} epochs, lr {train.lr:g}) on {sizes} images "
        "each; features are E[h | v]."
    )
    if diverged:
        text += f" {len(diverged)} of these model(s) diverged and were rolled back to their last good epoch."
    return text


def _load_lfw_for(args, config: dict, progress: bool):
    from facerbm.datasets import load_lfw

    data = config["data"]
    lfw = args.lfw or _lfw_of_run(data["source"])
    if lfw is None:
        if not DEFAULT_LFW.exists():
            raise UserError(
                f"identify/verify need LFW, and the run's data ({data['source']!r}) is not LFW: pass --lfw "
                f"PATH (an LFW .tgz archive or folder), or put it at {DEFAULT_LFW}"
            )
        lfw = str(DEFAULT_LFW)
    opts = {k: data["options"][k] for k in ("color", "crop", "size") if k in data["options"]}
    # "lfw" means ./lfw if it exists, else the cache, as for `facerbm train --data lfw`.
    root = (Path("lfw") if Path("lfw").exists() else None) if lfw == "lfw" else lfw
    faces = load_lfw(root, progress=progress, **opts)
    note = None
    if list(faces.image_shape) != list(config["image_shape"]):
        note = (
            f"The run's images are {config['image_shape']} from {data['source']}; the models for identify "
            f"and verify were trained on LFW at {list(faces.image_shape)} with the run's other settings."
        )
    return lfw, faces, note


def _identify_task(args, config, faces, device: str, progress: bool) -> dict:
    from facerbm.evaluate.identify import identification_task

    pixels = faces.flat(np.float32)
    people = np.array([f.split("/", 1)[0] for f in faces.files])
    make, infos, train = _rbm_feature_maker(
        config, args, 30, pixels=pixels, device=device, progress=progress, desc="identify: training"
    )
    rbm = config["rbm"]
    name = f"RBM features ({rbm['n_hidden']} {rbm['hidden']}) + logistic regression"
    res = identification_task(pixels, people, {name: make}, min_faces=args.min_faces, seed=args.seed)
    res["rbm_training"] = _training_note(
        config, train, infos, "one model trained on all LFW images except the identification test images"
    )
    return res


def _verify_task(args, config, faces, lfw: str, device: str, progress: bool) -> dict:
    from facerbm.datasets.pairs import read_pairs
    from facerbm.evaluate.verify import Similarity, evaluate_view2

    pairs_path = Path(args.pairs) if args.pairs else _find_pairs(lfw)
    if pairs_path is None:
        raise UserError(f"verify needs LFW's View 2 pairs.txt: none beside {lfw}; pass --pairs PATH")
    pairs = read_pairs(pairs_path)
    index = pairs.index(faces.files)
    folds = [k - 1 for k in args.folds] if args.folds else list(range(pairs.n_folds))
    if max(folds) >= pairs.n_folds:
        raise UserError(f"--folds: {pairs_path} has {pairs.n_folds} folds, got fold {max(folds) + 1}")
    pixels = faces.flat(np.float32)
    people = [f.split("/", 1)[0] for f in faces.files]
    # Rows N..2N-1: the same images mirrored left-right (the crop is centred on the face), for the
    # mirror-averaged similarities; models train on rows < N only.
    N = len(pixels)
    pixels = np.concatenate([pixels, faces.flat(np.float32, mirror=True)])
    # A projection cannot keep more discriminants than the whitening left dimensions.
    w, pw = args.whiten, args.patch_whiten
    lda = min(args.lda, w)
    methods = {}
    notes = {}
    if "pixels" in args.verify_features:
        methods["pixels"] = (
            lambda k, train_rows, rows: pixels[rows],
            {
                "raw pixels": Similarity(),
                f"eigenfaces ({w})": Similarity(whiten=w),
                f"eigenfaces ({w}), mirror-averaged": Similarity(whiten=w, mirror=True),
                f"eigenfaces ({w}), mirror-averaged, LDA": Similarity(whiten=w, mirror=True, lda=lda),
            },
        )
    if "rbm" in args.verify_features:
        make_rbm, infos, train = _rbm_feature_maker(
            config, args, 10, pixels=pixels, device=device, progress=progress, desc="verify: training fold"
        )
        rbm = config["rbm"]
        nonneg = rbm["hidden"] == "nrelu"  # NReLU activities are >= 0: a square root evens their spread
        label = f"RBM features ({rbm['n_hidden']} {rbm['hidden']})"
        methods["rbm"] = (
            lambda k, train_rows, rows: make_rbm(train_rows, rows, stream=k + 1),
            {
                label: Similarity(sqrt=nonneg),
                f"{label}, whitened": Similarity(sqrt=nonneg, whiten=w),
                f"{label}, whitened, mirror-averaged": Similarity(sqrt=nonneg, whiten=w, mirror=True),
                f"{label}, whitened, mirror-averaged, LDA": Similarity(
                    sqrt=nonneg, whiten=w, mirror=True, lda=lda
                ),
            },
        )
    if "patch" in args.verify_features:
        if faces.images.ndim != 3:
            raise UserError(
                f"patch features need gray images, the run's LFW images are {list(faces.image_shape)}: "
                "leave patch out of --verify-features, or train the run with gray images"
            )
        make_patch, patch_infos, pcfg = _patch_feature_maker(
            args, pixels=pixels, image_shape=faces.image_shape, device=device, progress=progress
        )
        cells = f"{pcfg.grid[0]}x{pcfg.grid[1]} cells"
        label = f"patch-RBM features ({pcfg.size}x{pcfg.size}, {pcfg.n_hidden} {pcfg.hidden}, {cells})"
        nonneg = pcfg.hidden == "nrelu"
        methods["patch"] = (
            make_patch,
            {
                f"{label}, whitened ({pw}), mirror-averaged": Similarity(sqrt=nonneg, whiten=pw, mirror=True),
                f"{label}, whitened ({pw}), mirror-averaged, LDA": Similarity(
                    sqrt=nonneg, whiten=pw, mirror=True, lda=min(args.lda, pw)
                ),
            },
        )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(folds), unit="fold", desc="verification", dynamic_ncols=True)
    try:
        results = evaluate_view2(
            people,
            pairs,
            index,
            methods,
            folds=folds,
            seed=args.seed,
            progress=(lambda k: bar.update(1)) if bar is not None else None,
            mirror_offset=N,
        )
    finally:
        if bar is not None:
            bar.close()
    fold_training = (
        "one model per test fold, trained on the LFW images of the people who appear in none of that "
        "fold's pairs (matched or mismatched)"
    )
    if "rbm" in methods:
        notes["rbm_training"] = _training_note(config, train, infos, fold_training)
    if "patch" in methods:
        notes["patch_training"] = _patch_note(pcfg, patch_infos, fold_training)
    if any(sim.lda for _, v in methods.values() for sim in v.values()):
        notes["lda_note"] = (
            "Rows marked LDA use the identities (names) of the training folds' images to learn a linear "
            "discriminant projection, as LFW's unrestricted protocol allows; all other rows use no identity "
            "labels (the image-restricted setting). No image or name of a test fold's people is used."
        )
    return {
        "pairs_file": str(pairs_path),
        "folds": [k + 1 for k in folds],
        "n_folds": len(folds),
        "n_folds_total": pairs.n_folds,
        "pairs_per_fold": int(np.sum(pairs.fold == 0)),
        "features": list(args.verify_features),
        **notes,
        "results": results,
    }


def _json_safe(obj):
    """Non-finite floats (an AIS bound of −inf) become None: JSON has no infinities."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# -- the command --------------------------------------------------------------------------------
def evaluate_run(args: argparse.Namespace) -> dict:
    """Run the requested tasks on ``args.run``; returns the result dict (also written to files)."""
    from facerbm.checkpoint import load_model, versions
    from facerbm.evaluate.report import markdown_report
    from facerbm.fileio import atomic_write_bytes, atomic_write_json
    from facerbm.run import DataConfig, load_data

    run_dir = Path(args.run)
    model, normalizer, config = load_model(run_dir, device=args.device)
    if "data" not in config or "train" not in config:
        raise UserError(f"{run_dir}: its config has no data/train settings; was it made by 'facerbm train'?")
    if args.seed is None:
        args.seed = int(config.get("seed", 0))
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    progress = not args.quiet
    data_cfg = DataConfig(**config["data"])
    rbm = model.config
    result = {
        "format": "facerbm-evaluation",
        "run": str(run_dir),
        "seed": args.seed,
        "tasks": list(args.tasks),
        "versions": versions(),
        "model": {
            "n_hidden": rbm.n_hidden,
            "hidden": rbm.hidden,
            "visible": rbm.visible,
            "sigma": rbm.sigma,
            "normalize": data_cfg.normalize,
            "units": _model_units(data_cfg.normalize, normalizer.pixel_max),
            "image_shape": config.get("image_shape"),
            "source": data_cfg.source,
        },
        "settings": {
            k: getattr(args, k)
            for k in (
                "ais_chains",
                "ais_betas",
                "ais_schedule",
                "folds",
                "epochs",
                "max_train_faces",
                "whiten",
                "lda",
                "verify_features",
                "patch_size",
                "patch_hidden",
                "patch_stride",
                "patch_grid",
                "patch_epochs",
                "patch_lr",
                "patch_count",
                "patch_whiten",
                "min_faces",
                "device",
            )
        },
        "timings": {},
    }
    timings = result["timings"]
    if {"recon", "ais"} & set(args.tasks):
        t0 = time.perf_counter()
        _, prepared = load_data(data_cfg, int(config.get("seed", 0)), progress=progress)
        if prepared.pixels.shape[1] != rbm.n_visible:
            raise UserError(
                f"{run_dir}: its data now gives {prepared.pixels.shape[1]} pixels per image, the model has "
                f"{rbm.n_visible}; the data changed since training"
            )
        result["model"]["n_train"] = int(len(prepared.train_idx))
        result["model"]["n_heldout"] = int(len(prepared.heldout_idx))
        timings["load run data"] = time.perf_counter() - t0
        if "recon" in args.tasks:
            t0 = time.perf_counter()
            result.update(_recon_task(model, normalizer, prepared, args.seed))
            timings["recon"] = time.perf_counter() - t0
        if "ais" in args.tasks:
            t0 = time.perf_counter()
            result["likelihood"] = _ais_task(model, normalizer, prepared, args, args.seed, progress)
            timings["ais"] = time.perf_counter() - t0
    if {"identify", "verify"} & set(args.tasks):
        t0 = time.perf_counter()
        lfw, faces, note = _load_lfw_for(args, config, progress)
        result["lfw"] = {"source": faces.source, "n_images": len(faces), "note": note}
        timings["load LFW"] = time.perf_counter() - t0
        if "identify" in args.tasks:
            t0 = time.perf_counter()
            result["identification"] = _identify_task(args, config, faces, args.device, progress)
            timings["identify"] = time.perf_counter() - t0
        if "verify" in args.tasks:
            t0 = time.perf_counter()
            result["verification"] = _verify_task(args, config, faces, lfw, args.device, progress)
            timings["verify"] = time.perf_counter() - t0
    result = _json_safe(result)
    text = markdown_report(result)
    atomic_write_json(run_dir / RESULT_JSON, result)
    atomic_write_bytes(run_dir / RESULT_MD, text.encode("utf-8"))
    result["_markdown"] = text
    return result


def run(args: argparse.Namespace) -> int:
    result = evaluate_run(args)
    print(result.pop("_markdown"))
    print(f"wrote {Path(args.run) / RESULT_JSON} and {Path(args.run) / RESULT_MD}")
    return 0
