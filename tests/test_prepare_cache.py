"""``srgan.prepare`` at the top level, and ``srgan.upscale(img, model=module)`` building the fast model once
per module and weights (issue 12 item 6: it used to be rebuilt on every call)."""
from __future__ import annotations

import numpy as np
import torch

import srgan
import srgan.engines as engines
from srgan.models import Generator


def test_prepare_is_exported():
    assert srgan.prepare is engines.prepare and "prepare" in srgan.__all__


def test_module_is_prepared_once_until_its_weights_change(monkeypatch):
    torch.manual_seed(0)
    g = Generator(num_blocks=1, channels=8).eval()
    built = []
    real = engines.fast_generator
    monkeypatch.setattr(engines, "fast_generator", lambda m: built.append(m) or real(m))
    img = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)

    first = srgan.upscale(img, model=g, device="cpu", precision="fp32")
    assert np.array_equal(srgan.upscale(img, model=g, device="cpu", precision="fp32"), first)
    assert len(built) == 1

    with torch.no_grad():  # an in-place change, as an optimizer step makes: prepared afresh
        next(g.parameters()).mul_(2)
    changed = srgan.upscale(img, model=g, device="cpu", precision="fp32")
    assert len(built) == 2 and not np.array_equal(changed, first)

    srgan.upscale(img, model=g, device="cpu", precision="bf16")  # another precision is another engine
    assert len(built) == 3
