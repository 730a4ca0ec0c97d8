"""Model files: safetensors + JSON round trips, atomic writes, and clear errors for bad files."""

import json
import os
import stat

import pytest
import torch

from facerbm import fileio
from facerbm.checkpoint import load_checkpoint, load_model, save_checkpoint, save_model
from facerbm.fileio import atomic_write_bytes
from facerbm.preprocess import Normalizer
from facerbm.rbm import RBM, RBMConfig
from facerbm.rng import make_generator


@pytest.fixture
def saved(tmp_path):
    g = make_generator(0)
    model = RBM(RBMConfig(12, 5, hidden="binary", sigma=0.5))
    model.reset_parameters(g, std=0.3)
    norm = Normalizer("standardize").fit(torch.rand(40, 12) * 255)
    save_model(tmp_path, model, norm, {"image_shape": [4, 3]})
    return tmp_path, model, norm


def test_model_round_trip_is_exact(saved):
    run, model, norm = saved
    loaded, norm2, cfg = load_model(run)
    assert loaded.config == model.config
    for name in ("W", "b", "c"):
        assert torch.equal(getattr(loaded, name), getattr(model, name))
    assert torch.equal(norm2.mean, norm.mean) and torch.equal(norm2.std, norm.std)
    assert norm2.mode == "standardize" and norm2.pixel_max == 255.0
    assert cfg["image_shape"] == [4, 3] and cfg["versions"]["torch"] == torch.__version__


def test_no_pickle_anywhere(saved):
    run, _, _ = saved
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.safetensors"]
    assert (run / "model.safetensors").read_bytes()[8:9] == b"{"  # a JSON header, not a pickle


def test_config_that_disagrees_with_the_tensors_is_named(saved):
    run, _, _ = saved
    cfg = json.loads((run / "config.json").read_text())
    cfg["rbm"]["n_hidden"] = 7
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"'W' has shape \(12, 5\).*\(12, 7\)"):
        load_model(run)


def test_newer_format_and_foreign_json_are_refused(saved):
    run, _, _ = saved
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        load_model(run)
    (run / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a facerbm model config"):
        load_model(run)
    (run / "config.json").write_text('{"format": "facerbm-mo')
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(run)


@pytest.mark.parametrize("cut", [0, 7, 100, -10])
def test_truncated_tensor_file_is_reported(saved, cut):
    run, _, _ = saved
    blob = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(blob[:cut])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(run)


def test_non_finite_weights_are_refused(saved):
    run, model, norm = saved
    with torch.no_grad():
        model.W[0, 0] = float("nan")
    save_model(run, model, norm, {"image_shape": [4, 3]})
    with pytest.raises(ValueError, match="'W' holds NaN"):
        load_model(run)


def test_checkpoint_round_trip_carries_training_state(saved):
    run, model, norm = saved
    g = make_generator(5)
    tensors = {"train.vel_W": torch.randn(12, 5), "train.rng_state": g.get_state()}
    save_checkpoint(run, model, norm, tensors, {"epoch": 3, "history": [{"epoch": 1}]})
    m2, _, t2, state = load_checkpoint(run)
    assert state["epoch"] == 3 and state["history"] == [{"epoch": 1}]
    assert torch.equal(t2["train.vel_W"], tensors["train.vel_W"])
    g2 = torch.Generator().set_state(t2["train.rng_state"])
    assert torch.equal(torch.rand(3, generator=g2), torch.rand(3, generator=g))
    assert torch.equal(m2.W, model.W)


def test_atomic_write_keeps_the_old_file_on_failure_and_normal_permissions(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    # Like a file opened with open(): 0666 less the umask (mkstemp alone would give 0600).
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~fileio._UMASK
    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # write fails midway
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp files left behind


def test_missing_folder_message_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder .*nope does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="facerbm run folder"):
        load_model(tmp_path)  # a folder, but not a run's


def test_a_file_that_is_not_the_runs_is_named(saved):
    run, model, _ = saved
    other = run / "notes.txt"
    other.write_text("x")
    with pytest.raises(FileNotFoundError, match="notes.txt is a file, not a run folder"):
        load_model(other)
    loaded, _, _ = load_model(run / "model.safetensors")  # the run's own file: its folder
    assert torch.equal(loaded.W, model.W)


@pytest.mark.parametrize(
    "shape,match",
    [([10, 10], "has 100 pixels"), ([4, 3, 3], "has 36 pixels"), (None, "image_shape must be")],
)
def test_edited_image_shape_is_refused(saved, shape, match):
    cfg_path = saved[0] / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["image_shape"] = shape
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=match):
        load_model(saved[0])


def test_zero_pixel_max_is_refused(saved):
    cfg_path = saved[0] / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["normalize"]["pixel_max"] = 0
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="pixel_max must be a positive number"):
        load_model(saved[0])
