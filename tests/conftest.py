"""Shared fixtures. Tests that need ../shared/data skip when it is absent, but fail under CI=true."""
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared benchmark/training data (``$SRGAN_DATA`` or ``../shared/data``), as the scripts find it."""
    from srgan.datasets import development_data

    root = development_data()
    if not (root / "benchmarks").is_dir():
        message = f"shared data not found at {root} (set SRGAN_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture()
def saved_small_generator(tmp_path):
    """(model, weights path): a seeded 2-block, 16-channel Generator in eval mode with non-trivial BatchNorm
    statistics (so BN folding is really exercised), saved as ``tmp_path/g.safetensors``."""
    import torch

    from srgan.checkpoint import save_generator
    from srgan.models import Generator

    torch.manual_seed(0)
    g = Generator(num_blocks=2, channels=16).eval()
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return g, save_generator(g, tmp_path / "g.safetensors")
