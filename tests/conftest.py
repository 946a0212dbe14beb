"""Shared test set-up: real data from ../shared/data when it exists, TensorFlow backend by default."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "LABS_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["LABS_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def real_data_dir():
    """The data directory holding the real datasets, or None (tests that need it skip)."""
    path = os.environ.get("LABS_DATA_DIR")
    return Path(path) if path and Path(path).is_dir() else None


@pytest.fixture
def real_data():
    path = real_data_dir()
    if path is None:
        pytest.skip("real datasets not available: set LABS_DATA_DIR to a folder laid out like shared/data")
    return path
