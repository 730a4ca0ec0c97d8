"""The command line end to end on a small synthetic face array: outputs, resume, errors."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from facerbm.checkpoint import load_model
from facerbm.cli import main


@pytest.fixture(scope="module")
def faces_npz(tmp_path_factory):
    """300 16x12 'faces': smooth random blobs from 6 prototypes, uint8 pixels, 6 people."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:12]
    protos = []
    for _ in range(6):
        cy, cx, r = rng.uniform(4, 12), rng.uniform(3, 9), rng.uniform(2, 5)
        protos.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    targets = rng.integers(0, 6, 300)
    imgs = np.stack([protos[t] * rng.uniform(0.6, 1.0) for t in targets])
    imgs = np.clip(40 + 180 * imgs + rng.normal(0, 6, imgs.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    np.savez(path, images=imgs, targets=targets, target_names=np.array([f"p{i}" for i in range(6)]))
    return path


def train_args(data, out, *extra):
    return [
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--hidden",
        "24",
        "--epochs",
        "4",
        "--batch-size",
        "20",
        "--lr",
        "0.005",
        "--quiet",
        *extra,
    ]


def test_train_writes_the_run_folder_and_learns(faces_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(faces_npz, out)) == 0
    for name in (
        "model.safetensors",
        "config.json",
        "checkpoint.safetensors",
        "filters.png",
        "reconstructions.png",
        "curves.png",
        "metrics.json",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_heldout"] == 30 and metrics["n_train"] == 270
    final = metrics["final"]
    # Six prototypes plus noise: 24 hidden units must beat the mean face by far.
    assert final["recon_mse_heldout"] < 0.25 * metrics["mean_face_mse_heldout"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["rbm"]["n_visible"] == 16 * 12 and cfg["image_shape"] == [16, 12]
    assert cfg["versions"]["torch"] == torch.__version__
    assert Image.open(out / "filters.png").size[0] > 100
    assert "held-out reconstruction MSE" in capsys.readouterr().out


def checkpoint_epoch(path):
    """The epoch recorded in a checkpoint's header, or -1 while there is none."""
    try:
        data = path.read_bytes()
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        return json.loads(header["__metadata__"]["state"])["epoch"]
    except (OSError, ValueError, KeyError):
        return -1


def test_resume_after_kill_9_gives_the_same_model(faces_npz, tmp_path):
    args = ["--epochs", "40", "--persistent", "--hidden-type", "binary", "--checkpoint-every", "1"]
    full = tmp_path / "full"
    assert main(train_args(faces_npz, full, *args)) == 0
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "facerbm", *train_args(faces_npz, killed, *args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    # Wait for a checkpoint past epoch 0 (one is written before training starts).
    while checkpoint_epoch(ckpt) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.05)  # land somewhere inside a later epoch or checkpoint write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    from facerbm.checkpoint import load_checkpoint

    done = load_checkpoint(killed)[3]["epoch"]
    assert proc.returncode == -signal.SIGKILL and 1 <= done < 40, (proc.returncode, done)
    assert main(["train", "--out", str(killed), "--resume", "--quiet"]) == 0
    a, _, _ = load_model(full)
    b, _, _ = load_model(killed)
    assert torch.equal(a.W, b.W) and torch.equal(a.b, b.b) and torch.equal(a.c, b.c)
    hist_a = json.loads((full / "metrics.json").read_text())["history"]
    hist_b = json.loads((killed / "metrics.json").read_text())["history"]
    assert [h["recon_mse_train"] for h in hist_a] == [h["recon_mse_train"] for h in hist_b]


def test_existing_run_folder_is_not_overwritten(faces_npz, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    assert main(train_args(faces_npz, out)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep"
    assert main(train_args(faces_npz, out, "--overwrite")) == 0


def test_reconstruct_filters_and_sample_commands(faces_npz, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(faces_npz, run)) == 0
    img = tmp_path / "face.png"
    Image.fromarray(np.full((32, 24), 128, np.uint8)).save(img)
    assert main(["reconstruct", str(img), "--model", str(run), "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").is_file()
    assert main(["reconstruct", "--model", str(run), "--gibbs", "5"]) == 0
    assert (run / "reconstructions-cli.png").is_file()
    assert main(["filters", "--model", str(run), "--max", "8", "--out", str(tmp_path / "f.png")]) == 0
    assert main(["sample", "--model", str(run), "--steps", "20", "--rows", "3", "--start", "noise"]) == 0
    assert (run / "samples.png").is_file()
    out = capsys.readouterr().out
    assert "reconstruction MSE" in out and "Gibbs steps" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--data", "/nonexistent/faces"], "/nonexistent/faces"),
        (["train", "--size", "62y47"], "HEIGHTxWIDTH"),
        (["train", "--lr", "-1"], "positive"),
        (["train", "--hidden-type", "relu"], "invalid choice"),
        (["train", "--holdout", "1.5"], "fraction"),
        (["reconstruct", "--model", "/nonexistent/run"], "does not exist"),
    ],
)
def test_bad_arguments_give_a_clear_error_not_a_traceback(argv, needle, capsys, tmp_path):
    argv = argv + (["--out", str(tmp_path / "o")] if argv[0] == "train" else [])
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_batch_size_larger_than_the_data_is_refused(faces_npz, tmp_path, capsys):
    assert main(train_args(faces_npz, tmp_path / "o", "--batch-size", "1000")) == 2
    assert "batch_size=1000" in capsys.readouterr().err


def test_corrupt_model_file_gives_a_clear_error(faces_npz, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(faces_npz, run)) == 0
    blob = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    assert main(["filters", "--model", str(run)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_console_script_help_lists_every_subcommand():
    res = subprocess.run([sys.executable, "-m", "facerbm", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for cmd in ("train", "reconstruct", "filters", "sample"):
        assert cmd in res.stdout


def test_diverging_run_stops_with_the_epoch_and_keeps_a_loadable_checkpoint(faces_npz, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(train_args(faces_npz, run, "--normalize", "none", "--lr", "5", "--epochs", "3"))
    err = capsys.readouterr().err
    assert code == 1
    assert "diverged at epoch 1" in err and "lower learning rate" in err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["diverged"].startswith("training diverged at epoch 1")
    model, _, cfg = load_model(run)  # falls back to the last good checkpoint
    assert bool(torch.isfinite(model.W).all()) and cfg["epoch"] == 0
    assert main(["filters", "--model", str(run)]) == 0
