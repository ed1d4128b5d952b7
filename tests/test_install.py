"""CI guard: the install must keep the pinned CPU torch and pull no CUDA wheels (nvidia-*, triton)."""
import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.environ.get("CI") != "true", reason="install guard runs in CI only")


def test_torch_is_the_pinned_build():
    pin = re.search(r"^torch==(\S+)", (REPO / "constraints.txt").read_text(), re.M).group(1)
    assert torch.__version__.split("+")[0] == pin


def test_no_cuda_wheels_pulled():
    names = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert not {n for n in names if n.startswith("nvidia-") or n == "triton"}
