"""Shared fixtures. Tests that need ../shared/data skip when it is absent, but fail under CI=true."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("SRGAN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared benchmark/training data (``$SRGAN_DATA`` or ``../shared/data``)."""
    root = _data_root()
    if not (root / "benchmarks").is_dir():
        message = f"shared data not found at {root} (set SRGAN_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
