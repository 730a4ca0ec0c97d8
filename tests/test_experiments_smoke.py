"""experiments/normalize.py runs end to end on a small array and tabulates all three modes."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def normalize_experiment(load_script):
    return load_script("experiments/normalize.py")


def test_three_modes_are_trained_evaluated_and_tabulated(normalize_experiment, tmp_path):
    # 300 12x10 "faces" from 5 smooth prototypes: easy to learn once standardized.
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(5, 120))
    imgs = 128 + 30 * (rng.normal(size=(300, 5)) @ protos) / 3
    data = tmp_path / "faces.npy"
    np.save(data, np.clip(imgs, 0, 255).reshape(300, 12, 10).astype(np.uint8))
    out = tmp_path / "exp"
    argv = ["--data", str(data), "--out", str(out), "--hidden", "16", "--epochs", "20", "--lr", "0.01"]
    assert normalize_experiment.main([*argv, "--no-verify", "--quiet"]) == 0
    rows = {r["normalize"]: r for r in json.loads((out / "normalize.json").read_text())["rows"]}
    assert set(rows) == {"none", "scale", "standardize"}
    std = rows["standardize"]
    assert not std["diverged"] and std["epochs_done"] == 20
    assert std["heldout_mse"] < 0.5 * std["mean_face_mse"]  # it learned the low-rank structure
    table = (out / "normalize.md").read_text()
    assert all(f"| {mode} |" in table for mode in rows)
