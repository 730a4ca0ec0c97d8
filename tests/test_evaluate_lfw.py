"""The baselines of `facerbm evaluate` on the real LFW: raw-pixel identification and View 2 verification.

Reference values measured here on the shared deep-funneled LFW (gray, default crop, 62x47):
* identification (7 people with >= 70 images, 322 test images): raw pixels + logistic regression
  94.1%, eigenfaces + SVM 92.2%. One test image is 0.31 points and the binomial standard deviation
  of an accuracy near 93% on 322 images is 1.4 points, so the band is ±3 points (about 2 sd), wide
  enough for another C chosen by cross-validation or other BLAS round-off, narrow enough to catch a
  wrong split, label mix-up or scaling bug (each costs tens of points).
* View 2 (6,000 pairs, 10 folds): raw pixels (z-scored, cosine) 62.7% ± 0.8%, AUC 0.677; eigenfaces
  (150 whitened components, cosine) 71.3% ± 0.5%, and 71.7% when each image's unit vector is averaged
  with its mirror image's (a paired gain of about 1.5 points over the same folds). The binomial sd
  of a mean over 6,000 pairs is 0.6 points; the band is ±2.5 points around the measured values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LFW_TGZ = SHARED / "lfw-deepfunneled.tgz"
PAIRS = SHARED / "lfw-meta" / "pairs.txt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.lfw,
    pytest.mark.skipif(
        not (LFW_TGZ.is_file() and PAIRS.is_file()),
        reason=f"real LFW archive or pairs.txt not found in {SHARED} (../shared/data)",
    ),
]


@pytest.fixture(scope="module")
def lfw():
    from facerbm.datasets import load_lfw

    faces = load_lfw(LFW_TGZ, progress=False)
    assert len(faces) == 13233 and faces.image_shape == (62, 47)
    return faces


def test_raw_pixel_and_eigenface_identification_reproduce(lfw):
    from facerbm.evaluate import identification_task

    people = np.array([f.split("/", 1)[0] for f in lfw.files])
    out = identification_task(lfw.flat(np.float32), people, {}, min_faces=70, seed=0)
    assert out["n_people"] == 7 and out["n_images"] == 1288 and out["n_test"] == 322
    raw = out["results"]["raw pixels + logistic regression"]
    eig = out["results"]["eigenfaces (PCA 150 whitened) + RBF SVM"]
    assert abs(raw["accuracy"] - 0.941) < 0.03, raw
    assert abs(eig["accuracy"] - 0.922) < 0.03, eig
    assert raw["macro_f1"] > 0.85 and eig["macro_f1"] > 0.85


def test_raw_pixel_and_eigenface_view2_verification_reproduce(lfw):
    from facerbm.datasets import read_pairs
    from facerbm.evaluate import Similarity, evaluate_view2

    pairs = read_pairs(PAIRS)
    index = pairs.index(lfw.files)
    pixels = lfw.flat(np.float32)
    N = len(pixels)
    pixels = np.concatenate([pixels, lfw.flat(np.float32, mirror=True)])
    people = [f.split("/", 1)[0] for f in lfw.files]
    methods = {
        "pixels": (
            lambda k, train_rows, rows: pixels[rows],
            {
                "raw": Similarity(),
                "eigenfaces": Similarity(whiten=150),
                "mirrored": Similarity(whiten=150, mirror=True),
            },
        )
    }
    res = evaluate_view2(people, pairs, index, methods, mirror_offset=N)
    assert res["raw"]["n_folds"] == 10
    assert abs(res["raw"]["accuracy"] - 0.627) < 0.025, res["raw"]["accuracy"]
    assert abs(res["raw"]["auc"] - 0.677) < 0.025
    assert abs(res["eigenfaces"]["accuracy"] - 0.713) < 0.025, res["eigenfaces"]["accuracy"]
    assert res["eigenfaces"]["accuracy"] > res["raw"]["accuracy"]
    assert abs(res["mirrored"]["accuracy"] - 0.717) < 0.025, res["mirrored"]["accuracy"]
    assert res["mirrored"]["accuracy"] > res["eigenfaces"]["accuracy"]


def test_patch_rbm_features_with_lda_beat_eigenfaces_on_a_view2_fold(lfw):
    """A small patch RBM (fewer units, patches and epochs than the CLI's defaults), trained on the
    images of the people absent from fold 1, scored on fold 1 only (600 pairs: a binomial sd of 1.8
    points). Measured here: patch + LDA 76.2%, eigenfaces + LDA 76.7%, eigenfaces 72.0%. With only
    3 epochs, lr 0.01 (the default, right for 10 epochs) gave 74.2%: too close to the bound."""
    from facerbm.datasets import read_pairs
    from facerbm.evaluate import Similarity, evaluate_view2
    from facerbm.patches import PatchConfig, PatchRBM

    pairs = read_pairs(PAIRS)
    index = pairs.index(lfw.files)
    images = np.concatenate([lfw.images, lfw.images[:, :, ::-1]]).astype(np.float32)
    N = len(lfw)
    people = [f.split("/", 1)[0] for f in lfw.files]
    cfg = PatchConfig(size=12, n_hidden=128, stride=3, grid=(6, 5), n_patches=100_000, epochs=3, lr=1e-3)

    def patch_features(k, train_rows, rows):
        return PatchRBM(cfg, seed=k).fit(images[train_rows]).features(images[rows])

    methods = {
        "pixels": (
            lambda k, train_rows, rows: images[rows].reshape(len(rows), -1),
            {
                "eigenfaces": Similarity(whiten=150, mirror=True),
                "eigenfaces LDA": Similarity(whiten=150, mirror=True, lda=150),
            },
        ),
        "patch": (patch_features, {"patch": Similarity(sqrt=True, whiten=300, mirror=True, lda=200)}),
    }
    res = evaluate_view2(people, pairs, index, methods, folds=[0], mirror_offset=N)
    eig, eig_lda, patch = (res[k]["accuracy"] for k in ("eigenfaces", "eigenfaces LDA", "patch"))
    assert patch > 0.74, patch
    assert patch > eig + 0.02, (patch, eig)
    # The full-size model beats eigenfaces + LDA over all 10 folds (README); this small one on one
    # fold must at least come close.
    assert patch > eig_lda - 0.03, (patch, eig_lda)
