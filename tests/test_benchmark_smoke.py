"""The speed benchmark runs end to end in quick mode and reports every figure (no timing assertions)."""

import json
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def speed(load_script):
    return load_script("benchmarks/speed.py")


def test_quick_run_reports_positive_figures(speed, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(240, 64), dtype=np.uint8)
    res = speed.run(
        pixels,
        repeats=1,
        quick=True,
        peers=("plain", "sklearn"),
        peak_size=256,
        hidden_units=32,
        batch_size=20,
        log=lambda _: None,
    )
    assert res["setup"]["flops_per_image"] == 10 * 64 * 32
    assert res["peak"]["torch_gflops"] > 0 and res["peak"]["numpy_gflops"] > 0
    names = {r["name"] for r in res["contenders"]}
    assert {"facerbm binary", "facerbm nrelu", "plain torch CD-1", "sklearn BernoulliRBM"} <= names
    for row in res["contenders"]:
        for key in ("seconds_per_epoch", "images_per_second", "gflops", "fraction_of_peak"):
            assert row[key] > 0 and math.isfinite(row[key]), (row["name"], key)
    for mine in ("facerbm binary", "facerbm nrelu"):
        assert res["ratios"][mine]["sklearn BernoulliRBM"] > 0
        assert speed.CEILING not in res["ratios"][mine]  # a bound, not a peer
        # The products alone do a strict part of an epoch's work; allow timer noise on tiny shapes.
        assert 0 < next(r for r in res["contenders"] if r["name"] == mine)["fraction_of_ceiling"] < 1.5
    for key in ("hidden_units", "batch_size"):
        assert res["scaling"][key] and all(r["seconds_per_epoch"] > 0 for r in res["scaling"][key])
    table = speed.format_table(res)
    assert "facerbm nrelu" in table and "% of peak" in table and "% of ceiling" in table
    path = tmp_path / "speed.json"
    path.write_text(json.dumps(res))  # JSON-ready
    assert json.loads(path.read_text())["contenders"]


def test_main_writes_json_from_the_embedded_sample(speed, tmp_path, monkeypatch, capsys):
    small = np.random.default_rng(1).integers(0, 256, size=(200, 48), dtype=np.uint8)
    monkeypatch.setattr(speed, "load_pixels", lambda data, log=print: (small, {"source": "test"}))
    out = tmp_path / "r.json"
    assert speed.main(["--quick", "--peers", "plain", "--peak-size", "256", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["data"]["source"] == "test" and res["contenders"][0]["seconds_per_epoch"] > 0
    assert "facerbm binary" in capsys.readouterr().out
