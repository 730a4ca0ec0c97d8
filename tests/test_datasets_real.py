"""The real LFW archive in ../shared/data: counts, the classic 7-person subset, cached reload."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from facerbm.datasets import load_lfw

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-deepfunneled.tgz"

pytestmark = [
    pytest.mark.lfw,
    pytest.mark.slow,
    pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"LFW archive not found at {ARCHIVE}"),
]


def test_full_lfw_from_archive_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))
    data = load_lfw(ARCHIVE, progress=False)
    assert data.images.shape == (13233, 62, 47) and data.images.dtype == np.uint8
    assert len(data.target_names) == 5749
    assert data.files[0].startswith("AJ_Cook/")
    assert 50 < data.images.mean() < 200 and data.images.std() > 30

    start = time.perf_counter()
    again = load_lfw(ARCHIVE, progress=False)
    elapsed = time.perf_counter() - start
    assert np.array_equal(again.images, data.images) and again.files == data.files
    assert elapsed < 2.0, f"cached load took {elapsed:.2f} s"

    # The classic scikit-learn figure: 1288 images of 7 people.
    seven = load_lfw(ARCHIVE, progress=False, min_faces_per_person=70)
    assert seven.images.shape == (1288, 62, 47) and len(seven.target_names) == 7
    assert "George_W_Bush" in seven.target_names
    assert np.bincount(seven.targets).max() == 530
