"""NIQE (Mittal, Soundararajan, Bovik, IEEE SPL 2013): no-reference naturalness, as MATLAB's ``niqe``.

SRGAN's point is to look real at the price of PSNR, so PSNR/SSIM alone rank it below SRResNet by
construction. NIQE measures how far an image's local statistics are from those of pristine photos,
without a reference: lower = more natural (real photos score about 3-6, blurry upscales higher).

The algorithm, matched to MATLAB R2021a ``niqe`` (reference value tested in tests/test_niqe.py):

1. Y channel as MATLAB ``rgb2ycbcr`` of uint8, i.e. rounded to integers (:func:`srgan.metrics.rgb_to_y`).
2. Crop to a whole number of 96x96 blocks, from the top-left.
3. MSCN coefficients ``(Y - mu) / (sigma + 1)``, ``mu``/``sigma`` from the model's 7x7 Gaussian
   (sigma 7/6) with replicated borders (``imfilter(..., 'replicate')``), the arithmetic after the
   filters in single precision as MATLAB does (see :func:`_mscn`: it decides the 4th decimal).
4. Per block, 18 features: a GGD fit of the MSCN values (shape, scale) and AGGD fits of their
   products with the neighbour to the right, below and on both diagonals (shape, mean, left and
   right scale), the neighbour taken circularly within the block (MATLAB ``circshift``). Shapes
   come from MATLAB's moment-matching lookup on the grid 0.2:0.001:10.
5. The same at half resolution (MATLAB bicubic ``imresize(Y, 0.5)`` with antialiasing, by the exact
   float path of :mod:`srgan.imresize` in float64), blocks of 48x48: 36 features per block.
6. A Gaussian fitted to the blocks' features (``nanmean``; covariance over blocks without NaN, as
   ``nancov``; a flat block has no negative or positive MSCN values and gives NaNs) is compared with
   the pristine model: ``sqrt(d * pinv((cov_pris + cov) / 2) * d')``, ``d = mu_pris - mu``.

Everything is vectorised over blocks and over the shape grid (timing: benchmarks/niqe_speed.py and
docs/PERFORMANCE.md).

The pristine model ``niqe_pris_params.npz`` (``mu_pris_param`` 1x36, ``cov_pris_param`` 36x36,
``gaussian_window`` 7x7) is the authors' ``modelparameters.mat`` as converted by BasicSR, copied
byte for byte from XPixelGroup/BasicSR @ 8d56e3a (``basicsr/metrics/niqe_pris_params.npz``),
licensed Apache-2.0; it ships inside the package so NIQE works without any extra download.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .imresize import imresize
from .metrics import _filter_valid, _uint8_advice, rgb_to_y, shave

__all__ = ["niqe", "PRISTINE_MODEL", "BLOCK"]

PRISTINE_MODEL = Path(__file__).with_name("niqe_pris_params.npz")
BLOCK = 96
# Pairs of neighbours (row shift, column shift): right, below, main and anti-diagonal.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.lru_cache(maxsize=1)
def _pristine() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu, cov, g)``: the pristine Gaussian and the 1-D factor of its 7x7 window."""
    with np.load(PRISTINE_MODEL) as model:
        # The window is outer(g, g) (rank 1, sum 1), so its column sums give g and the filter runs
        # separably: 14 taps per pixel instead of 49.
        return model["mu_pris_param"][0], model["cov_pris_param"], model["gaussian_window"].sum(axis=0)


@functools.lru_cache(maxsize=1)
def _shape_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MATLAB's lookup ``gam = 0.2:0.001:10`` with the gamma-function ratios each fit needs.

    Returns ``(alpha, r(alpha), sqrt(G(1/a)/G(3/a)), G(2/a)/G(1/a))``; ``r = G(2/a)^2 / (G(1/a) G(3/a))``
    is the moment ratio ``E|x|^2 / E[x^2]`` of a GGD with shape ``a``.
    """
    alpha = np.arange(0.2, 10.001, 0.001)
    lg1, lg2, lg3 = (torch.lgamma(torch.from_numpy(k / alpha)).numpy() for k in (1.0, 2.0, 3.0))
    return alpha, np.exp(2 * lg2 - lg1 - lg3), np.exp((lg1 - lg3) / 2), np.exp(lg2 - lg1)


def _aggd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AGGD fit of each row of ``x`` (MATLAB ``estimateaggdparam``): shape, left/right scale, mean.

    A row without negative (or positive) values gets a NaN left (right) scale, as in MATLAB; its
    shape then falls back to the grid's first value, as MATLAB ``min`` does over all-NaN.
    """
    alpha, r_grid, scale_of, mean_of = _shape_grid()
    neg, pos = x < 0, x > 0
    sq = x * x
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((sq * neg).sum(-1) / neg.sum(-1))
        right = np.sqrt((sq * pos).sum(-1) / pos.sum(-1))
        ratio = left / right
        r_hat = np.abs(x).mean(-1) ** 2 / sq.mean(-1)
        r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    i = np.argmin((r_grid - r_norm[..., None]) ** 2, axis=-1)  # NaN rows give index 0
    beta_l, beta_r = left * scale_of[i], right * scale_of[i]
    return alpha[i], beta_l, beta_r, (beta_r - beta_l) * mean_of[i]


def _gaussian_filter(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Same-size filtering with replicated borders, as ``imfilter(y, w, 'replicate')``."""
    return _filter_valid(np.pad(y, g.size // 2, mode="edge"), g)


def _mscn(y: np.ndarray) -> np.ndarray:
    """Mean-subtracted, contrast-normalised coefficients ``(Y - mu) / (sigma + 1)`` of a float64 plane.

    The filters run in float64, the rest in float32 like MATLAB's ``niqe``, which evidently works in
    single precision: where the local variance is small, ``E[Y^2] - mu^2`` cancels and its rounding
    moves the shape fits. Measured on the baboon reference: 2e-7 from R2021a this way, 3.9e-4 in
    float64 throughout.
    """
    g = _pristine()[2]
    mu, mean_sq = _gaussian_filter(y, g), _gaussian_filter(y * y, g)
    y, mu, mean_sq = (t.astype(np.float32) for t in (y, mu, mean_sq))
    return ((y - mu) / (np.sqrt(np.abs(mean_sq - mu * mu)) + 1)).astype(np.float64)


def _block_features(y: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The 18 features of each block of one scale, ``(rows * cols, 18)``, blocks in row-major order."""
    mscn = _mscn(y)
    size = mscn.shape[0] // rows
    blocks = mscn.reshape(rows, size, cols, size).transpose(0, 2, 1, 3).reshape(rows * cols, size, size)
    pairs = np.stack([blocks * np.roll(blocks, shift, axis=(1, 2)) for shift in _SHIFTS])
    a, bl, br, _ = _aggd(blocks.reshape(len(blocks), -1))
    pa, pbl, pbr, pmean = _aggd(pairs.reshape(len(_SHIFTS), len(blocks), -1))
    per_pair = np.stack([pa, pmean, pbl, pbr], axis=-1).transpose(1, 0, 2).reshape(len(blocks), -1)
    return np.concatenate([np.stack([a, (bl + br) / 2], axis=-1), per_pair], axis=1)


def niqe(image: np.ndarray, *, border: int = 0) -> float:
    """NIQE of an 8-bit image, as MATLAB ``niqe`` on its rounded ``rgb2ycbcr`` Y channel. Lower = more natural.

    Args:
        image: a uint8 numpy array, ``HxWx3`` RGB (R, G, B order, as :func:`srgan.images.read_rgb_uint8`
            returns) or ``HxW`` / ``HxWx1`` grayscale. Grayscale counts as R = G = B, so it scores exactly
            like the same image replicated to three channels (``Y = 16 + 219 v / 255``, rounded); MATLAB's
            ``niqe`` of a 2-D array would instead measure the raw grey values.
        border: pixels cropped from each side first (BasicSR's ``crop_border``; ``srgan eval`` uses the
            scale, like its PSNR shave). What remains is cropped from the top-left to whole 96x96 blocks,
            of which there must be at least two (MATLAB's covariance of one block is meaningless).
    Returns:
        the NIQE score (float). MATLAB R2021a gives 5.72957338 for the 480x492 top-left crop of Set14
        ``baboon``; this gives 5.72957359 (tests/test_niqe.py).
    Raises:
        TypeError for a non-uint8 array; ValueError for a bad shape, an image too small for two blocks,
        or one where fewer than two blocks give each AGGD fit values of both signs (flat blocks, or patterns as
        strict as alternating 0/255 columns, whose neighbour products all have one sign).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        if hasattr(image, "getpixel"):  # a PIL image: "quantise first" sent its users the wrong way
            raise TypeError("niqe expects a uint8 numpy image, got a PIL image; pass np.asarray(image.convert('RGB'))")
        if isinstance(image, np.ndarray):  # advice by its values: to_uint8 of 0-255 floats made a white image
            raise TypeError(f"niqe expects a uint8 numpy image, got a {image.dtype} array; {_uint8_advice(image)}")
        raise TypeError(f"niqe expects a uint8 numpy image, got {type(image).__name__}; quantise first "
                        "(srgan.metrics.to_uint8)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"niqe expects an HxW, HxWx1 or HxWx3 image, got shape {image.shape}")
    y = shave(np.floor(rgb_to_y(image) + 0.5), border)  # MATLAB rgb2ycbcr(uint8) rounds half up
    rows, cols = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if rows * cols < 2:
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks; the image is {y.shape[0]}x{y.shape[1]}"
                         f" after the {int(border)}-px border crop")
    full = np.ascontiguousarray(y[: rows * BLOCK, : cols * BLOCK])
    half = imresize(torch.from_numpy(full)[None], scale=0.5)[0].numpy()
    feats = np.concatenate([_block_features(full, rows, cols), _block_features(half, rows, cols)], axis=1)

    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) < 2:
        # A feature is NaN where a fit's values all share one sign: a flat block (all zero), or one so regular
        # that every neighbour product has one sign (alternating columns), which is not "flat".
        raise ValueError(f"NIQE is undefined for this image: only {len(complete)} of {len(feats)} blocks give each fit "
                         "values of both signs (flat blocks give none; patterns as strict as alternating columns give "
                         "neighbour products of one sign)")
    mu_pris, cov_pris, _ = _pristine()
    d = mu_pris - np.nanmean(feats, axis=0)
    cov = (cov_pris + np.cov(complete, rowvar=False)) / 2
    return float(np.sqrt(d @ np.linalg.pinv(cov) @ d))
