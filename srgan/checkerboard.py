"""A number for the periodic grid ("checkerboard") that sub-pixel upsamplers can paint on flat regions.

A x4 generator built from two x2 PixelShuffle layers computes every output pixel from one of 16 sub-pixel
phases. When the phases disagree, the output carries a pattern that repeats every 4 (or 2) pixels. On
textured regions that pattern hides among real detail; on flat regions (sky, skin, walls) it is what people
see. Its signature is sharp: peaks in the 2-D spectrum at multiples of 1/4 cycle per pixel.

:func:`checkerboard_score` measures those peaks where they matter:
1. ``residual = Y(SR) - Y(bicubic x4 of the LR)``: what the model added, without the image's own content;
2. the flattest quarter of the 32x32 tiles (by the bicubic image's standard deviation, computed on the whole
   tile grid from the top-left) are windowed (Hann) and their power spectra averaged;
3. at each grid frequency (u, v) in {0, 1/4, 1/2, 3/4}^2 but (0, 0), the power is compared with the median
   power of the ring of bins around it (a 5x5 neighbourhood without its centre 3x3);
4. the score is the largest of those ratios, in dB.

Natural detail has a smooth spectrum. On the 20 validation images (docs/RESULTS.md): HR photos score 3.1 dB,
srgan's SRResNets 7-8 dB with no grid to be seen, SRGAN-MSE models 13-17 dB with a grid plainly visible in flat
crops; scripts/choose_release.py gates at 10 dB.
"""
from __future__ import annotations

import numpy as np

from .metrics import rgb_to_y

TILE = 32
FLAT_FRACTION = 0.25


def _grid_bins(period: int) -> list[tuple[int, int]]:
    step = TILE // period
    return [(i, j) for i in range(0, TILE, step) for j in range(0, TILE, step) if (i, j) != (0, 0)]


def checkerboard_score(sr: np.ndarray, bicubic: np.ndarray, *, period: int = 4) -> float:
    """Peak-to-surroundings power ratio (dB) of the period-``period`` grid in the flattest tiles of ``sr``.

    Args:
        sr: the model's output, uint8 ``HxWx3`` RGB (or ``HxW`` grayscale).
        bicubic: the bicubic upscale of the same LR image, same shape and type (the reference that is
            subtracted, so that only what the model added is measured).
        period: the grid's period in output pixels (4 for a x4 model with two x2 sub-pixel layers, whose
            spectrum also holds the period-2 peaks, which are included).
    Returns:
        the score in dB: ~0-5 for natural detail, 10+ for a visible grid.
    """
    if sr.shape != bicubic.shape:
        raise ValueError(f"shape mismatch: sr {sr.shape} vs bicubic {bicubic.shape}")
    if TILE % period:
        raise ValueError(f"period must divide {TILE}, got {period}")
    y_sr, y_bic = rgb_to_y(sr), rgb_to_y(bicubic)
    rows, cols = y_sr.shape[0] // TILE, y_sr.shape[1] // TILE
    if rows * cols < 4:
        raise ValueError(f"image {y_sr.shape} too small: need at least four {TILE}x{TILE} tiles")

    def tiles(y: np.ndarray) -> np.ndarray:
        y = y[: rows * TILE, : cols * TILE]
        return y.reshape(rows, TILE, cols, TILE).transpose(0, 2, 1, 3).reshape(-1, TILE, TILE)

    residual, reference = tiles(y_sr - y_bic), tiles(y_bic)
    flattest = np.argsort(reference.std(axis=(1, 2)))[: max(1, int(len(reference) * FLAT_FRACTION))]
    window = np.outer(np.hanning(TILE), np.hanning(TILE))
    chosen = residual[flattest]
    chosen = chosen - chosen.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(chosen * window)) ** 2).mean(axis=0)

    ratios = []
    for u, v in _grid_bins(period):
        ring = [power[(u + du) % TILE, (v + dv) % TILE]
                for du in range(-2, 3) for dv in range(-2, 3) if max(abs(du), abs(dv)) == 2]
        ratios.append((power[u, v] + 1e-12) / (float(np.median(ring)) + 1e-12))  # nothing added: 0 dB
    return float(10 * np.log10(max(ratios)))
