"""Behaviour on real faces: a short CD run on LFW must beat the mean-face baseline by far."""

import json
from pathlib import Path

import pytest

from facerbm.run import DataConfig, train_run
from facerbm.train import TrainConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LFW_TGZ = SHARED / "lfw-deepfunneled.tgz"

needs_lfw = pytest.mark.skipif(
    not LFW_TGZ.is_file(), reason=f"real LFW archive not found at {LFW_TGZ} (../shared/data)"
)


@needs_lfw
@pytest.mark.lfw
@pytest.mark.slow
@pytest.mark.parametrize(
    "hidden,lr,epochs,bar",
    [
        # NReLU units: a quarter of the mean-face error is the bar (a plain Gaussian RBM gets ~1/5).
        ("nrelu", 1e-3, 5, 0.25),
        # Binary units carry one bit each and reconstruct worse; they must still beat a third.
        ("binary", 5e-3, 8, 1 / 3),
    ],
)
def test_short_run_on_3000_lfw_faces_beats_the_mean_face_by_far(tmp_path, hidden, lr, epochs, bar):
    data = DataConfig(source=str(LFW_TGZ), options={"max_faces": 3000, "seed": 0}, holdout=0.15)
    train = TrainConfig(epochs=epochs, batch_size=50, lr=lr)
    metrics = train_run(
        tmp_path / "run", data, {"n_hidden": 300, "hidden": hidden}, train, seed=0, progress=False
    )
    final = metrics["final"]
    base = metrics["mean_face_mse_heldout"]
    assert metrics["n_heldout"] == 450 and metrics["image_shape"] == [62, 47]
    # The mean face misses LFW faces by ~0.03 (pixels in [0, 1]).
    assert 0.02 < base < 0.045
    assert final["recon_mse_heldout"] < bar * base, (final["recon_mse_heldout"], base)
    # Little overfitting after a few epochs on 2,550 faces: held-out within 25% of training error.
    assert final["recon_mse_heldout"] < 1.25 * final["recon_mse_train"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["final"]["epoch"] == epochs
    assert not saved["diagnostics"]["recon_like_mean_face"]
