"""Shared test helpers."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def load_script():
    """load_script("benchmarks/speed.py") -> the script imported as a module (its main not run)."""

    def load(relative: str):
        path = REPO / relative
        spec = importlib.util.spec_from_file_location(f"facerbm_script_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
