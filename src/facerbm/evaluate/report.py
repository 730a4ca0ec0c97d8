"""The evaluation report as markdown tables, from the dict written to ``evaluation.json``."""

from __future__ import annotations

import math


def _f(x, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return "∞" if x > 0 else ("−∞" if x < 0 else "nan")
    return f"{x:.{digits}f}"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _recon(r: dict) -> list[str]:
    rec = r["reconstruction"]
    n_hidden = r["model"]["n_hidden"]
    lines = [
        "## Reconstruction",
        "",
        f"Held-out images of the run's own split: {rec['n_heldout']} (trained on {r['model']['n_train']}). "
        "Mean squared error per pixel with pixels in [0, 1]; PSNR = 10 log10(1 / MSE).",
        "",
    ]
    rows = [
        [
            f"RBM ({n_hidden} {r['model']['hidden']}), mean-field",
            _f(rec["mean_field"]["mse"], 5),
            _f(rec["mean_field"]["psnr"], 2),
        ],
        [
            "RBM, one Gibbs step (h sampled, v = E[v|h])",
            _f(rec["gibbs_1"]["mse"], 5),
            _f(rec["gibbs_1"]["psnr"], 2),
        ],
        ["mean face (baseline)", _f(rec["mean_face"]["mse"], 5), _f(rec["mean_face"]["psnr"], 2)],
        [
            f"PCA, {rec['pca']['n_components']} components (baseline)",
            _f(rec["pca"]["mse"], 5),
            _f(rec["pca"]["psnr"], 2),
        ],
    ]
    lines += _table(["reconstruction", "MSE per pixel", "PSNR (dB)"], rows)
    fe = r.get("free_energy")
    if fe:
        lines += [
            "",
            f"Free energy F(v) in nats, model units ({r['model']['units']}), mean over images"
            + (
                " (NReLU: the stepped-sigmoid approximation of the hidden sum)"
                if r["model"]["hidden"] == "nrelu"
                else ""
            )
            + ":",
            "",
        ]
        lines += _table(
            ["images", "mean F(v)"],
            [
                [f"training ({fe['n_train']})", _f(fe["train"], 2)],
                [f"held-out ({fe['n_heldout']})", _f(fe["heldout"], 2)],
                ["gap (held-out − training)", _f(fe["gap"], 3)],
            ],
        )
    return lines


def _density(r: dict) -> list[str]:
    d = r["likelihood"]
    lines = ["## Log-likelihood", ""]
    units = r["model"]["units"]
    jac = d["log_jacobian"]
    lines.append(
        f"Held-out log-likelihood in nats per image. Model units: {units}; the same density for pixels "
        f"in [0, 1] adds the log-Jacobian Σ log(pixel_max / s_i) = {_f(jac, 1)} nats."
    )
    lines.append("")
    rows = []
    ais = d["ais"]
    if ais["available"]:
        lines.append(
            f"AIS (Salakhutdinov & Murray 2008): {ais['n_chains']} chains, {ais['n_betas']} inverse "
            f"temperatures ('{ais['schedule']}' schedule), base-rate model fitted to the training images; "
            f"log Ẑ = {_f(ais['log_z'], 3)} ± {_f(ais['log_z_std_err'], 3)} (standard error over the chains; "
            f"±3σ bounds [{_f(ais['log_z_lower'], 3)}, {_f(ais['log_z_upper'], 3)}], effective sample size "
            f"{_f(ais['effective_sample_size'], 1)})."
        )
        if "exact_log_z" in ais:
            lines.append(f"Exact log Z by enumerating the hidden states: {_f(ais['exact_log_z'], 4)}.")
        lines.append("")
        ll = ais["heldout_log_likelihood"]
        rows.append([f"RBM ({r['model']['n_hidden']} binary), AIS log Z", _f(ll, 2), _f(ll + jac, 2)])
        if "exact_heldout_log_likelihood" in ais:
            ex = ais["exact_heldout_log_likelihood"]
            rows.append([f"RBM ({r['model']['n_hidden']} binary), exact log Z", _f(ex, 2), _f(ex + jac, 2)])
        rows.append(
            [
                "RBM, training images (same count), AIS log Z",
                _f(ais["train_log_likelihood"], 2),
                _f(ais["train_log_likelihood"] + jac, 2),
            ]
        )
    else:
        lines.append(f"RBM: **not available**: {ais['reason']}.")
        lines.append("")
    pp = d.get("ppca")
    if pp:
        ll = pp["heldout_log_likelihood"]
        rows.append(
            [f"probabilistic PCA, {pp['n_components']} components (reference)", _f(ll, 2), _f(ll + jac, 2)]
        )
    if rows:
        lines += _table(
            ["density model", "held-out log p (model units)", "held-out log p (pixels in [0, 1])"], rows
        )
    if d.get("note"):
        lines += ["", d["note"]]
    return lines


def _identify(r: dict) -> list[str]:
    d = r["identification"]
    lines = [
        "## Face identification",
        "",
        f"LFW people with at least {d['min_faces']} images ({d['n_people']} people, {d['n_images']} images), "
        f"split as scikit-learn's eigenfaces example (train_test_split(test_size=0.25, random_state=42)): "
        f"{d['n_train']} training and {d['n_test']} test images. {d['rbm_training']}",
        "",
    ]
    rows = []
    for name, res in d["results"].items():
        hp = ", ".join(f"{k}={v:g}" for k, v in res.items() if k not in ("accuracy", "macro_f1"))
        rows.append([name, _pct(res["accuracy"]), _f(res["macro_f1"], 3), hp])
    return lines + _table(["features + classifier", "accuracy", "macro F1", "chosen by CV"], rows)


def _verify(r: dict) -> list[str]:
    d = r["verification"]
    lines = [
        "## Face verification (LFW View 2)",
        "",
        f"{d['n_folds']} of {d['n_folds_total']} folds of {d['pairs_per_fold']} pairs "
        f"({'folds ' + ', '.join(map(str, d['folds'])) if d['n_folds'] < d['n_folds_total'] else 'all'}); "
        "threshold chosen on the other folds' pairs; accuracy is the mean ± standard error over the test "
        "folds." + "".join(f" {d[k]}" for k in ("rbm_training", "patch_training", "lda_note") if d.get(k)),
        "",
    ]
    if any(res.get("mirror") for res in d["results"].values()):
        lines[-2] += (
            " Mirror-averaged: each image's unit feature vector is averaged with that of the same image "
            "mirrored left-right (whitening fitted on both orientations of the training folds' images)."
        )
    rows = []
    for name, res in d["results"].items():
        rows.append(
            [
                name,
                res["similarity"],
                f"{_pct(res['accuracy'])} ± {_pct(res['accuracy_std_err'])}"
                if res["n_folds"] > 1
                else _pct(res["accuracy"]),
                _f(res["auc"], 3),
            ]
        )
    return lines + _table(["features", "similarity", "accuracy", "ROC AUC"], rows)


def markdown_report(result: dict) -> str:
    """The markdown text of ``evaluation.md`` for an evaluation result dict."""
    m = result["model"]
    lines = [
        f"# Evaluation of {result['run']}",
        "",
        f"Model: {m['n_hidden']} {m['hidden']} hidden units, {m['visible']} visible units "
        f"(σ = {m['sigma']}), normalize = {m['normalize']}, images {m['image_shape']}, data {m['source']}. "
        f"Seed {result['seed']}; facerbm {result['versions']['facerbm']}, "
        f"torch {result['versions']['torch']}.",
    ]
    for key, fn in (
        ("reconstruction", _recon),
        ("likelihood", _density),
        ("identification", _identify),
        ("verification", _verify),
    ):
        if key in result:
            lines += [""] + fn(result)
    timings = result.get("timings")
    if timings:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + "."]
    return "\n".join(lines) + "\n"
