"""Catalogue: memory stays bounded for every input type. 16-bit images stream like 8-bit ones: tiles are
quantised into a preallocated uint16 output, which the writer encodes in row blocks (the full-size numbers,
16000x12000 and 8000x6000, are in docs/PERFORMANCE.md, from benchmarks/large_image_memory.py)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from srgan import images, imagewrite
from support import upscale_args


@pytest.mark.parametrize("alpha", [False, True], ids=["RGB", "RGBA"])
def test_16bit_upscale_allocates_about_one_output(cli, weights, tmp_path, alpha):
    """A 16-bit 500x400 PNG -> 2000x1600 16-bit PNG. Peak Python-side allocation (numpy arrays) stays under 4x
    the uint16 output (RGB 2.4x, RGBA 3.6x: alpha joins the colour planes); it was 8.7x and 9.1x (float32
    output, a stacked copy, a clipped copy, then uint16)."""
    rng = np.random.default_rng(5)
    src = imagewrite.write_image(tmp_path / "in16.png", rng.random((400, 500, 3), np.float32), bit_depth=16,
                             alpha=rng.random((400, 500), np.float32) if alpha else None)
    out = tmp_path / "out" / "in16.png"
    tracemalloc.start()
    try:
        result = cli(*upscale_args(src, tmp_path / "out", weights))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.code == 0, result.err
    output_bytes = 1600 * 2000 * (4 if alpha else 3) * 2
    assert peak < 4 * output_bytes, f"peak {peak / output_bytes:.1f}x the uint16 output"
    written = images.read_image(out)
    assert written.bit_depth == 16 and written.size == (2000, 1600) and (written.alpha is not None) == alpha
    assert out.read_bytes()[24:26] == bytes([16, 6 if alpha else 2])  # IHDR: 16 bits, RGBA / RGB
