"""Does pixel preprocessing matter? Train with normalize = none, scale and standardize on the same
budget and compare held-out reconstruction error and LFW View 2 verification accuracy.

    python experiments/normalize.py                        # all of LFW, 3 View 2 folds (~30 min here)
    python experiments/normalize.py --folds 1,2,3,4,5,6,7,8,9,10 --epochs 10
    python experiments/normalize.py --data sample --no-verify   # a quick look on the embedded sample

The claim under test (the seed's README): per-pixel standardization is "the textbook choice for
unit-variance Gaussian visible units"; the original tutorial fed raw 0-255 pixels. Every run has the
same model (500 NReLU units, σ = 1), learning rate, epochs, batch size and seed; only ``normalize``
changes. A run that diverges is reported as such, with the figures of its last good epoch: that is
a result too. Each run is a normal run folder (``OUT/<mode>``) with its evaluation.json, made by
``facerbm train`` and ``facerbm evaluate``.

Writes OUT/normalize.json and OUT/normalize.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from facerbm.cli import main as facerbm

MODES = ("none", "scale", "standardize")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/lfw-deepfunneled.tgz", help="what `facerbm train` takes")
    p.add_argument("--out", default="runs/normalize", help="folder for the three runs and the table")
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--hidden-type", default="nrelu", choices=("nrelu", "binary"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", default="1,2,3", help="View 2 test folds for verification")
    p.add_argument("--max-train-faces", type=int, default=None, help="cap on each verify model's images")
    p.add_argument("--no-verify", action="store_true", help="reconstruction only")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def run_mode(mode: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / mode
    common = ["--quiet"] if args.quiet else []
    t0 = time.perf_counter()
    status = facerbm(
        [
            "train",
            "--data",
            args.data,
            "--out",
            str(out),
            "--overwrite",
            "--normalize",
            mode,
            "--hidden",
            str(args.hidden),
            "--hidden-type",
            args.hidden_type,
            "--epochs",
            str(args.epochs),
            "--lr",
            str(args.lr),
            "--seed",
            str(args.seed),
            *common,
        ]
    )
    train_s = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    row = {
        "normalize": mode,
        "train_status": status,
        "diverged": metrics.get("diverged"),
        "epochs_done": (metrics.get("final") or {}).get("epoch", 0),
        "train_seconds": train_s,
    }
    tasks = "recon" if args.no_verify else "recon,verify"
    ev = ["evaluate", str(out), "--tasks", tasks, "--folds", args.folds, *common]
    if args.max_train_faces:
        ev += ["--max-train-faces", str(args.max_train_faces)]
    if facerbm(ev) != 0:
        row["evaluate_failed"] = True
        return row
    res = json.loads((out / "evaluation.json").read_text())
    rec = res["reconstruction"]
    row.update(
        heldout_mse=rec["mean_field"]["mse"],
        heldout_psnr=rec["mean_field"]["psnr"],
        mean_face_mse=rec["mean_face"]["mse"],
        pca_mse=rec["pca"]["mse"],
        free_energy_gap=res["free_energy"]["gap"],
    )
    if "verification" in res:
        ver = res["verification"]
        rbm_rows = {k: v for k, v in ver["results"].items() if k.startswith("RBM")}
        row["verification"] = {
            k: (v["accuracy"], v["accuracy_std_err"], v["auc"]) for k, v in rbm_rows.items()
        }
        row["verification_baselines"] = {
            k: (v["accuracy"], v["accuracy_std_err"], v["auc"])
            for k, v in ver["results"].items()
            if k not in rbm_rows
        }
        row["verification_folds"] = ver["folds"]
        row["verify_note"] = ver["rbm_training"]
    return row


def table(rows: list[dict]) -> str:
    def pct(t):
        return f"{100 * t[0]:.1f}% ± {100 * t[1]:.1f}%" if t[1] == t[1] else f"{100 * t[0]:.1f}%"

    lines = [
        "| normalize | trained | held-out MSE (pixels in [0, 1]) | × mean face | PSNR (dB) | free-energy gap "
        "| View 2: RBM features | View 2: RBM, whitened |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        state = (
            "diverged at epoch " + str(r["epochs_done"] + 1)
            if r["diverged"]
            else f"{r['epochs_done']} epochs"
        )
        if "heldout_mse" not in r:
            lines.append(f"| {r['normalize']} | {state} | evaluation failed | | | | | |")
            continue
        ver = list((r.get("verification") or {}).values())
        v1, v2 = (pct(ver[0]), pct(ver[1])) if len(ver) == 2 else ("–", "–")
        lines.append(
            f"| {r['normalize']} | {state} | {r['heldout_mse']:.5f} "
            f"| {r['heldout_mse'] / r['mean_face_mse']:.3f} "
            f"| {r['heldout_psnr']:.2f} | {r['free_energy_gap']:.2f} | {v1} | {v2} |"
        )
    base = next((r.get("verification_baselines") for r in rows if r.get("verification_baselines")), None)
    if base:
        lines.append("")
        lines.append(
            "Baselines on the same folds: "
            + "; ".join(f"{k} {pct(v)}" for k, v in base.items())
            + f". Mean face MSE {rows[-1].get('mean_face_mse', float('nan')):.5f}, "
            f"PCA MSE {rows[-1].get('pca_mse', float('nan')):.5f}."
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for mode in MODES:
        print(f"== normalize={mode}", file=sys.stderr)
        rows.append(run_mode(mode, args))
    text = table(rows)
    settings = {k: v for k, v in vars(args).items()}
    (Path(args.out) / "normalize.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2))
    (Path(args.out) / "normalize.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
