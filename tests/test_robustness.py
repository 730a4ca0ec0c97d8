"""Failure classes users of RBM tools hit, each met with a clear message or a correct result.

Grouped by kind: input values, degenerate models, randomness, files and runs. (Loader cases —
corrupt images, empty folders, stale caches, unsafe archives — are in tests/test_datasets_*.py;
divergence and resume after kill -9 in tests/test_cli.py and tests/test_train.py.)
"""

import errno
import json
import logging

import numpy as np
import pytest
import torch

from facerbm import FaceRBM
from facerbm.cli import main
from facerbm.diagnostics import diagnose
from facerbm.preprocess import check_scale
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator


@pytest.fixture(scope="module")
def faces_npz(tmp_path_factory):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 10 * 8))
    imgs = 120 + 25 * (rng.normal(size=(200, 4)) @ base) / 2
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    np.savez(path, images=np.clip(imgs, 0, 255).reshape(200, 10, 8).astype(np.uint8))
    return path


def quick_train(data, out, *extra):
    return main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(out),
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--batch-size",
            "20",
            "--quiet",
            *extra,
        ]
    )


# -- input values --------------------------------------------------------------------------------
def test_pixels_0_255_into_bernoulli_units_are_refused_with_the_range_and_the_fix(
    faces_npz, tmp_path, capsys
):
    code = quick_train(faces_npz, tmp_path / "r", "--visible-type", "bernoulli", "--normalize", "none")
    err = capsys.readouterr().err
    assert code == 2
    assert "Bernoulli visible units need values in [0, 1]" in err and "normalize='scale'" in err
    assert quick_train(faces_npz, tmp_path / "ok", "--visible-type", "bernoulli", "--normalize", "scale") == 0


def test_raw_pixels_far_from_sigma_give_a_warning_naming_both_scales(faces_npz, tmp_path, capsys):
    assert quick_train(faces_npz, tmp_path / "r", "--normalize", "none", "--lr", "1e-6") == 0
    err = capsys.readouterr().err
    assert "standard deviation after normalize='none'" in err and "sigma=1" in err


def test_check_scale_accepts_standardized_data():
    x = torch.randn(500, 30)
    assert check_scale(x, 1.0, "gaussian", "standardize") is None
    assert "far from" in check_scale(x * 50, 1.0, "gaussian", "none")
    assert check_scale(x * 50, 40.0, "gaussian", "none") is None


def test_nan_pixels_are_refused_naming_the_data(tmp_path, capsys):
    imgs = np.full((50, 6, 5), 100.0, np.float32)
    imgs[3, 2, 2] = np.nan
    np.save(tmp_path / "bad.npy", imgs)
    assert quick_train(tmp_path / "bad.npy", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "NaN" in err


def test_estimator_keeps_float32_and_names_shape_mismatches():
    X = np.random.default_rng(0).normal(128, 30, size=(100, 6, 5)).astype(np.float32)
    rbm = FaceRBM(n_hidden=4, epochs=1, batch_size=10).fit(X)
    assert rbm.reconstruct(X).dtype == np.float32 and rbm.transform(X).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(5, 6\).*\(6, 5\)"):
        rbm.transform(X.transpose(0, 2, 1))
    with pytest.raises(ValueError, match=r"shape \(31,\).*\(6, 5\)"):
        rbm.transform(np.zeros((2, 31), np.float32))
    assert rbm.transform(X.reshape(100, 30)).shape == (100, 4)  # flattened images are fine


def test_ragged_last_batch_and_batch_size_equal_to_the_data(faces_npz, tmp_path):
    # 180 training images in batches of 70: 70 + 70 + 40.
    assert quick_train(faces_npz, tmp_path / "a", "--batch-size", "70") == 0
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert np.isfinite(m["final"]["recon_mse_heldout"])
    assert quick_train(faces_npz, tmp_path / "b", "--batch-size", "180") == 0


# -- degenerate models ---------------------------------------------------------------------------
def test_diagnostics_flag_dead_units_duplicates_and_mean_face_reconstructions():
    g = make_generator(0)
    v = torch.randn(300, 20, generator=g)
    model = RBM(RBMConfig(20, 10, hidden="binary"))
    with torch.no_grad():
        model.W.normal_(0, 0.1, generator=g)
        model.W[:, 5:] = model.W[:, :1]  # units 5-9 copy unit 0's filter
        model.c[:4] = -50.0  # units 0-3 never switch on
    d = diagnose(model, v, recon_mse=0.95, baseline_mse=1.0)
    assert d["dead_units"] == 4
    assert d["duplicate_filter_units"] == 6  # unit 0 and its five copies
    assert d["zero_variance_features"] == 4
    assert d["recon_like_mean_face"]
    text = " ".join(d["warnings"])
    assert "dead" in text and "near-duplicate" in text and "mean face" in text


def test_diagnostics_of_a_healthy_model_are_quiet():
    g = make_generator(1)
    model = RBM(RBMConfig(40, 10, hidden="nrelu"))
    model.reset_parameters(g, std=0.3)
    d = diagnose(model, torch.randn(500, 40, generator=g), recon_mse=0.2, baseline_mse=1.0)
    assert d["warnings"] == [] and d["dead_units"] == 0


def test_trained_run_records_diagnostics(faces_npz, tmp_path):
    assert quick_train(faces_npz, tmp_path / "r") == 0
    diag = json.loads((tmp_path / "r" / "metrics.json").read_text())["diagnostics"]
    for key in (
        "dead_units",
        "always_on_units",
        "duplicate_filter_units",
        "zero_variance_features",
        "recon_like_mean_face",
        "warnings",
    ):
        assert key in diag


# -- randomness ----------------------------------------------------------------------------------
def test_no_global_rng_state_is_touched_and_successive_samples_differ(faces_npz, tmp_path):
    torch.manual_seed(1234)
    before = torch.random.get_rng_state().clone()
    np_before = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the legacy global state)
    assert quick_train(faces_npz, tmp_path / "r") == 0
    assert torch.equal(torch.random.get_rng_state(), before)
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    model = RBM(RBMConfig(10, 4))
    g = make_generator(3)
    model.reset_parameters(g, std=0.5)
    v = torch.randn(5, 10, generator=g)
    assert not torch.equal(model.gibbs(v, 1, g), model.gibbs(v, 1, g))


# -- files and runs ------------------------------------------------------------------------------
def test_full_disk_ends_with_one_line_not_a_traceback(faces_npz, tmp_path, capsys, monkeypatch):
    import facerbm.checkpoint as ckpt

    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ckpt, "atomic_write_bytes", no_space)
    assert quick_train(faces_npz, tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


def test_output_path_under_a_file_is_a_clear_error(faces_npz, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert quick_train(faces_npz, tmp_path / "afile" / "run") in (1, 2)
    err = capsys.readouterr().err
    assert "afile" in err and "Traceback" not in err


def test_resume_ignores_a_half_written_temporary_checkpoint(faces_npz, tmp_path):
    run = tmp_path / "r"
    assert quick_train(faces_npz, run, "--epochs", "2") == 0
    # What a kill during a checkpoint write leaves: a partial temp file beside the good one.
    (run / ".checkpoint.safetensors.abc123.tmp").write_bytes(b"\x00" * 100)
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "none"), "--resume", "--quiet"]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err


def test_library_logs_through_logging_not_print(faces_npz, tmp_path, caplog, capsys):
    from facerbm.run import DataConfig, train_run
    from facerbm.train import TrainConfig

    with caplog.at_level(logging.INFO, logger="facerbm"):
        train_run(
            tmp_path / "r",
            DataConfig(source=str(faces_npz)),
            {"n_hidden": 4},
            TrainConfig(epochs=1, batch_size=20),
            progress=False,
        )
    assert capsys.readouterr().out == ""
    assert any("epoch 1" in r.message for r in caplog.records)


# -- options a user gets wrong (found by trying to break the CLI) --------------------------------
def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--device", "tpu"], "device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
        (["--holdout", "0.999"], "leaves 0 of the 200 images for training"),
        (["--hidden", "100000000"], "n_hidden=100000000 with 80 pixels needs about"),
        (["--hidden-type", "binary", "--sparsity-target", "2"], "sparsity_target must be in (0, 1)"),
    ],
)
def test_train_options_that_cannot_work_are_one_line_errors(faces_npz, tmp_path, capsys, argv, needle):
    code, err = run_cli(
        ["train", "--data", str(faces_npz), "--out", str(tmp_path / "o"), "--quiet", *argv], capsys
    )
    assert code == 2, err
    assert needle in err and "Traceback" not in err


def test_cuda_on_a_machine_without_it_is_named_by_every_command(faces_npz, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert quick_train(faces_npz, tmp_path / "r") == 0
    for cmd in (["reconstruct", "--model"], ["sample", "--model"]):
        code, err = run_cli([*cmd, str(tmp_path / "r"), "--device", "cuda"], capsys)
        assert code == 2 and "CUDA is not available here" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="CUDA is not available here"):
        FaceRBM(n_hidden=4, epochs=1, batch_size=10, device="cuda").fit(np.zeros((20, 4, 4)) + 1)


def test_empty_data_and_negative_gibbs_are_refused(faces_npz, tmp_path, capsys):
    code, err = run_cli(["train", "--data", "", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "data source must be a non-empty path" in err
    assert quick_train(faces_npz, tmp_path / "r") == 0
    code, err = run_cli(["reconstruct", "--model", str(tmp_path / "r"), "--gibbs", "-1"], capsys)
    assert code == 2 and "non-negative integer" in err


def test_constant_images_train_and_say_there_is_nothing_to_learn(tmp_path, capsys):
    path = tmp_path / "const.npy"
    np.save(path, np.full((20, 6, 5), 7, np.uint8))
    code = quick_train(path, tmp_path / "o", "--batch-size", "5")
    out, err = capsys.readouterr()
    assert code == 0 and "mean face 0.00000" in out and "of the mean-face error" not in out
    assert "every training image is the same" in err


def test_one_training_image_cannot_be_standardized():
    from facerbm.preprocess import Normalizer

    with pytest.raises(ValueError, match="at least 2 training images"):
        Normalizer("standardize").fit(torch.rand(1, 10))
    Normalizer("scale").fit(torch.rand(1, 10))  # per-pixel statistics are not needed there


def test_resume_refuses_changed_options_and_can_extend_epochs(faces_npz, tmp_path, capsys):
    run = tmp_path / "r"
    assert quick_train(faces_npz, run) == 0
    base = ["train", "--data", str(faces_npz), "--out", str(run), "--resume", "--quiet"]
    code, err = run_cli([*base, "--hidden", "9", "--lr", "0.01"], capsys)
    assert code == 2
    assert "--hidden 9 (the run has 8)" in err and "--lr 0.01 (the run has 0.001)" in err
    code, err = run_cli([*base, "--epochs", "1"], capsys)
    assert code == 2 and "--epochs can only grow" in err
    code, _ = run_cli([*base, "--epochs", "3"], capsys)  # a constant rate: train on to epoch 3
    assert code == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["epochs"] == 3
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 3


def test_estimator_takes_numpy_seeds_and_clones():
    from sklearn.base import clone

    X = np.random.default_rng(0).integers(0, 256, (40, 4, 5)).astype(np.uint8)
    a = FaceRBM(n_hidden=6, epochs=1, batch_size=10, seed=np.int64(3))
    b = clone(a).set_params(seed=3)
    assert np.array_equal(a.fit(X).transform(X), b.fit(X).transform(X))
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        FaceRBM(seed=-1).fit(X)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda X: X[:0], ValueError, "holds no images"),
        (lambda X: X[0], ValueError, r"pass X\[None\]"),
        (lambda X: X.astype(np.complex64), TypeError, "real numeric"),
        (lambda X: X.astype(np.int64) * 10, ValueError, r"8-bit pixels in \[0, 255\]"),
    ],
    ids=["empty", "one-image", "complex", "int-over-255"],
)
def test_estimator_inputs_are_refused_clearly(make, exc, match):
    X = np.random.default_rng(0).integers(1, 256, (40, 4, 5)).astype(np.uint8)
    rbm = FaceRBM(n_hidden=6, epochs=1, batch_size=10).fit(X)
    with pytest.raises(exc, match=match):
        rbm.transform(make(X))
