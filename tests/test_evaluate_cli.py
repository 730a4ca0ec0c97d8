"""`facerbm evaluate` end to end on tiny runs: a face array for recon/ais, a synthetic LFW for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerbm.cli import main

CROP = (70, 195, 78, 172)  # LFW's default face box (top, bottom, left, right)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))


@pytest.fixture
def small_grids(monkeypatch):
    """Fewer classifier hyper-parameters: the search itself is not under test here."""
    from facerbm.evaluate import identify

    monkeypatch.setattr(identify, "SVM_GRID", {"C": [1e3], "gamma": [1e-3]})
    monkeypatch.setattr(identify, "LOGISTIC_CS", (1.0,))


def blob_faces(rng, n_people: int, counts, shape=(16, 12)):
    """Smooth blobs, one prototype per person, brightness jitter and noise; uint8 (N, H, W)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    protos = []
    for _ in range(n_people):
        cy, cx = rng.uniform(0.25, 0.75) * shape[0], rng.uniform(0.25, 0.75) * shape[1]
        r = rng.uniform(0.12, 0.3) * shape[0]
        protos.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    targets = np.repeat(np.arange(n_people), counts)
    imgs = np.stack([protos[t] * rng.uniform(0.6, 1.0) for t in targets])
    imgs = np.clip(40 + 180 * imgs + rng.normal(0, 6, imgs.shape), 0, 255).astype(np.uint8)
    return imgs, targets


def train(data, out, *extra) -> None:
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "3", "--batch-size", "20"]
    assert main([*args, "--lr", "0.005", "--quiet", *extra]) == 0


@pytest.fixture(scope="module")
def faces_npz(tmp_path_factory):
    imgs, targets = blob_faces(np.random.default_rng(0), 6, 50)
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    np.savez(path, images=imgs, targets=targets)
    return path


def test_recon_and_ais_on_a_small_binary_model(faces_npz, tmp_path, capsys):
    run = tmp_path / "run"
    train(faces_npz, run, "--hidden", "8", "--hidden-type", "binary")
    capsys.readouterr()
    argv = ["evaluate", str(run), "--tasks", "recon,ais", "--ais-betas", "200", "--ais-chains", "10"]
    argv.append("--quiet")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "## Reconstruction" in printed and "## Log-likelihood" in printed
    res = json.loads((run / "evaluation.json").read_text())
    assert (run / "evaluation.md").read_text().strip() in printed
    assert res["tasks"] == ["recon", "ais"] and res["seed"] == 0 and res["model"]["n_heldout"] == 30
    rec = res["reconstruction"]
    # Six prototypes: the model beats the mean face; PCA with 8 components does too.
    assert rec["mean_field"]["mse"] < rec["mean_face"]["mse"] and rec["pca"]["mse"] < rec["mean_face"]["mse"]
    assert rec["mean_field"]["psnr"] == pytest.approx(-10 * np.log10(rec["mean_field"]["mse"]))
    fe = res["free_energy"]
    assert fe["gap"] == pytest.approx(fe["heldout"] - fe["train"])
    ais = res["likelihood"]["ais"]
    assert ais["available"] and ais["n_chains"] == 10 and ais["n_betas"] == 200
    # 8 hidden units: exact log Z by enumeration sits inside AIS's ±3σ bounds (statistical check).
    assert ais["log_z_lower"] - 0.05 <= ais["exact_log_z"] <= ais["log_z_upper"] + 0.05
    assert np.isfinite(res["likelihood"]["ppca"]["heldout_log_likelihood"])
    # Same seed, same numbers.
    assert main(argv) == 0
    again = json.loads((run / "evaluation.json").read_text())
    assert again["likelihood"]["ais"]["log_z"] == ais["log_z"]
    assert again["reconstruction"] == rec


def test_nrelu_likelihood_is_not_available_but_the_command_succeeds(faces_npz, tmp_path, capsys):
    run = tmp_path / "run"
    train(faces_npz, run, "--hidden", "6")
    assert main(["evaluate", str(run), "--tasks", "ais", "--quiet"]) == 0
    res = json.loads((run / "evaluation.json").read_text())
    assert res["likelihood"]["ais"]["available"] is False
    assert "not available" in capsys.readouterr().out


# -- a synthetic LFW: 250x250 JPEGs whose face box holds a person's blob --------------------------
PEOPLE = {f"Person_{chr(65 + i)}": n for i, n in enumerate([12, 12, 12, 3, 3, 3, 3, 3, 3, 2])}


def make_fake_lfw(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    imgs, targets = blob_faces(rng, len(PEOPLE), list(PEOPLE.values()), shape=(125, 94))
    names = list(PEOPLE)
    counters = dict.fromkeys(names, 0)
    lfw = root / "lfw-deepfunneled"
    for img, t in zip(imgs, targets, strict=True):
        name = names[t]
        counters[name] += 1
        full = np.full((250, 250), 30, np.uint8)
        top, bottom, left, right = CROP
        full[top:bottom, left:right] = img
        (lfw / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(full).save(lfw / name / f"{name}_{counters[name]:04d}.jpg", quality=90)
    # Two person-disjoint folds of 3 matched + 3 mismatched pairs.
    A, B, _, D, E, F, G, H, K, _ = names
    pairs = [
        "2\t3",
        f"{A}\t1\t2", f"{A}\t3\t4", f"{D}\t1\t2",
        f"{A}\t5\t{D}\t3", f"{E}\t1\t{F}\t1", f"{A}\t6\t{E}\t2",
        f"{B}\t1\t2", f"{B}\t3\t4", f"{G}\t1\t2",
        f"{B}\t5\t{G}\t3", f"{H}\t1\t{K}\t1", f"{B}\t6\t{H}\t2",
    ]  # fmt: skip
    meta = root / "lfw-meta"
    meta.mkdir()
    (meta / "pairs.txt").write_text("\n".join(pairs) + "\n")
    return lfw, meta / "pairs.txt"


@pytest.fixture(scope="module")
def fake_lfw(tmp_path_factory):
    return make_fake_lfw(tmp_path_factory.mktemp("lfw"))


def test_identify_and_verify_on_a_synthetic_lfw(fake_lfw, tmp_path, monkeypatch, small_grids, capsys):
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))
    lfw, pairs = fake_lfw
    run = tmp_path / "run"
    train(lfw, run, "--hidden", "8", "--size", "16x12", "--batch-size", "10", "--holdout", "0.2")
    argv = ["evaluate", str(run), "--tasks", "identify,verify", "--min-faces", "12", "--whiten", "4"]
    argv += ["--lda", "3", "--patch-size", "4", "--patch-hidden", "6", "--patch-grid", "2x2"]
    argv += ["--patch-count", "3000", "--patch-epochs", "2", "--patch-whiten", "5"]
    argv += ["--patch-stride", "3", "--patch-lr", "0.02"]
    assert main([*argv, "--epochs", "2", "--quiet"]) == 0  # pairs.txt found in lfw-meta/ beside the images
    res = json.loads((run / "evaluation.json").read_text())
    ident = res["identification"]
    assert ident["n_people"] == 3 and ident["n_images"] == 36 and ident["n_test"] == 9
    assert ident["n_model_train_images"] == sum(PEOPLE.values()) - 9
    assert set(ident["results"]) == {
        "RBM features (8 nrelu) + logistic regression",
        "eigenfaces (PCA 150 whitened) + RBF SVM",
        "raw pixels + logistic regression",
    }
    assert "except the identification test images" in ident["rbm_training"]
    ver = res["verification"]
    assert ver["folds"] == [1, 2] and ver["n_folds"] == 2 and ver["pairs_per_fold"] == 6
    assert set(ver["results"]) == {
        "raw pixels",
        "eigenfaces (4)",
        "eigenfaces (4), mirror-averaged",
        "eigenfaces (4), mirror-averaged, LDA",
        "RBM features (8 nrelu)",
        "RBM features (8 nrelu), whitened",
        "RBM features (8 nrelu), whitened, mirror-averaged",
        "RBM features (8 nrelu), whitened, mirror-averaged, LDA",
        "patch-RBM features (4x4, 6 nrelu, 2x2 cells), whitened (5), mirror-averaged",
        "patch-RBM features (4x4, 6 nrelu, 2x2 cells), whitened (5), mirror-averaged, LDA",
    }
    assert ver["results"]["eigenfaces (4), mirror-averaged"]["mirror"] is True
    assert ver["results"]["eigenfaces (4), mirror-averaged, LDA"]["lda"] == 3
    for r in ver["results"].values():
        assert 0 <= r["accuracy"] <= 1 and [f["fold"] for f in r["folds"]] == [1, 2]
        # Fold 1 holds persons A (12 images), D, E, F (3 each): its model trains on all the others.
        assert r["folds"][0]["n_train_images"] == sum(PEOPLE.values()) - 12 - 3 * 3
    assert "people who appear in none of that fold's pairs" in ver["rbm_training"]
    assert "3000 random 4x4 patches of 35 images each" in ver["patch_training"]
    assert "2 epochs at lr 0.02; E[h | patch] every 3 pixels" in ver["patch_training"]
    assert "unrestricted protocol" in ver["lda_note"]
    assert Image.open(run / "patch_filters.png").size[0] > 100  # the first fold's patch filters
    md = (run / "evaluation.md").read_text()
    assert "## Face identification" in md and "## Face verification (LFW View 2)" in md
    assert "Mirror-averaged: each image's unit feature vector" in md
    argv += ["--verify-features", "pixels,rbm"]
    assert main([*argv, "--folds", "2", "--pairs", str(pairs), "--quiet", "--max-train-faces", "15"]) == 0
    res = json.loads((run / "evaluation.json").read_text())
    assert res["verification"]["folds"] == [2]
    assert not any(name.startswith("patch") for name in res["verification"]["results"])
    assert "1 of 2 folds of 6 pairs (folds 2)" in (run / "evaluation.md").read_text()
    assert "on 15 images each" in res["verification"]["rbm_training"]


def test_user_mistakes_end_with_a_message_and_status_2(fake_lfw, faces_npz, tmp_path, capsys):
    lfw, pairs = fake_lfw
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(tmp_path), "--tasks", "recon,bogus"])
    assert e.value.code == 2
    assert main(["evaluate", str(tmp_path / "nope"), "--tasks", "recon"]) == 2
    assert "does not exist" in capsys.readouterr().err
    run = tmp_path / "run"
    train(faces_npz, run, "--hidden", "4")
    bad = tmp_path / "bad_pairs.txt"
    bad.write_text(pairs.read_text().replace("\t1\t2\n", "\tone\t2\n", 1))
    argv = ["evaluate", str(run), "--tasks", "verify", "--lfw", str(lfw), "--quiet"]
    assert main([*argv, "--pairs", str(bad)]) == 2
    assert f"{bad} line 2: image numbers must be positive integers" in capsys.readouterr().err
    assert main([*argv, "--pairs", str(pairs), "--folds", "3"]) == 2
    assert "has 2 folds, got fold 3" in capsys.readouterr().err
    assert main([*argv, "--pairs", str(pairs), "--patch-size", "50"]) == 2
    assert "patch features: size=50 is larger than the 62x47 images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--patch-grid", "6by5"])
    assert "grid must be ROWSxCOLS" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--verify-features", "pixels,hog"])
    assert "verify features must be a comma-separated list of pixels, rbm, patch" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--tasks", "verify", "--lfw", str(lfw.parent / "lfw-meta")]) == 2
    assert "no LFW images found" in capsys.readouterr().err
