"""Paper-convention PSNR / SSIM for super-resolution (Y channel, border shave, float64).

Why a dedicated module: SR papers (SRCNN ... SRGAN, EDSR, RCAN) all report numbers that
were measured with MATLAB on 8-bit images, and every deviation shifts results by
0.01-1 dB, enough to make comparisons meaningless. The convention implemented here:

1. **8-bit first.** The SR output is clamped to [0, 1], scaled by 255 and rounded to
   uint8 *before* measuring (it is what gets saved and what MATLAB measured). That is the
   caller's job; use :func:`to_uint8`, which clamps a model's overshoot but refuses values
   on another scale (0-255, 16-bit, [-1, 1]) rather than clip them. We round half to even
   (``np.round``, as BasicSR's ``tensor2img``); MATLAB's ``im2uint8`` rounds half away
   from zero. The two differ only on exact ``k + 0.5`` values of ``x*255``, which a network
   output essentially never hits (measured: identical bicubic-baseline means to 4 decimals).
2. **Y channel, BT.601 studio swing** as MATLAB ``rgb2ycbcr``:
   ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in 0..255, giving
   16..235. Not the full-range JPEG/PIL/OpenCV "YCbCr" (a common cause of wrong numbers).
   :func:`rgb_to_y` returns the exact float64 value. **For PSNR/SSIM the Y plane is then
   rounded to integers (half up) by default (``round_y=True``), because MATLAB
   ``rgb2ycbcr`` of a uint8 image returns uint8 Y** and that is how the published
   reference numbers were measured (e.g. SelfExSR ``compute_difference.m``). BasicSR
   keeps Y unrounded (``round_y=False``); the two differ by <= ~0.015 dB per set.
   Grayscale images are treated as R = G = B, i.e. ``Y = 16 + 219 v/255`` (the same as
   replicating them to 3 channels, which is what RCAN's script does).
3. **Border shave** of ``scale`` pixels on each side (4 for x4).
4. **PSNR** = ``10 log10(255^2 / MSE)`` in float64; ``inf`` for identical images.
   Set means are means of per-image PSNR.
5. **SSIM** as Wang et al.'s original ``ssim_index.m``: 11x11 Gaussian window, sigma 1.5,
   ``C1 = (0.01*255)^2``, ``C2 = (0.03*255)^2``, statistics from 'valid' filtering (no
   padding, so the map is 10 px smaller in each direction), mean of the map, no
   downsampling. scikit-image reproduces it with ``gaussian_weights=True, sigma=1.5,
   use_sample_covariance=False, data_range=255`` (default ``truncate=3.5`` gives
   ``2*int(3.5*1.5+0.5)+1 = 11`` taps); skimage pads and then crops 5 px off its map,
   which leaves exactly the valid region, so its mean equals ours (tested to 1e-12).
   Its defaults (7x7 uniform window, sample covariance) do not.

Bicubic baseline, measured (x4; each ``LR_bicubic_x4`` PNG upscaled with
``srgan.imresize.imresize`` in float64, clamped and rounded to uint8; Y; shave 4; mean of
per-image values). Published: Set5 28.42, Set14 26.00, BSD100 25.96 dB.

=========  =====================  ========================  ===========
set        PSNR, ``round_y=True``  PSNR, ``round_y=False``   SSIM (True)
=========  =====================  ========================  ===========
Set5       28.4189                28.4318                   0.8102
Set14      26.0885                26.0928                   0.7042
BSD100     25.9575                25.9630                   0.6673
=========  =====================  ========================  ===========

Rounded Y reproduces the published Set5/BSD100 PSNR; unrounded Y reads 28.43 on Set5.
(Commonly cited bicubic SSIMs are 0.8104 / 0.7027 / 0.6675; unrounded-Y SSIM here is
0.8113 / 0.7049 / 0.6682.)
Set14 reads 26.09, not 26.00, because of ``bridge``, the one grayscale image: measured on
its *raw* grey values (``to_y=False``, i.e. no studio-swing scaling, which MATLAB scripts
do when ``rgb2ycbcr`` is skipped for 1-channel images) its PSNR drops from 24.46 to
23.15 dB (``20 log10(255/219) = 1.32`` dB) and the Set14 mean becomes 25.9944 -> 26.00.
We keep the consistent R = G = B treatment and document the gap instead.

The no-reference NIQE (naturalness, what SRGAN optimises for) is in :mod:`srgan.niqe`.

Runtime dependencies: numpy only (torch optional, for :func:`to_uint8` /
:func:`psnr_ssim_y_tensor`). The Gaussian filtering is a separable 'valid' convolution
written with 11 shifted slices, so scipy is not needed.
"""
from __future__ import annotations

import math
import sys
from typing import Tuple

import numpy as np

__all__ = [
    "rgb_to_y",
    "to_uint8",
    "shave",
    "psnr",
    "ssim",
    "psnr_ssim_y",
    "psnr_ssim_y_tensor",
    "gaussian_window",
]

_Y_COEFFS = np.array([65.481, 128.553, 24.966], dtype=np.float64)

#: How far past [0, 1] :func:`to_uint8` clamps a float image, as a model's overshoot, before it calls the values
#: another scale: half the range, the line ``_check_8bit_range`` draws between [0, 1] and 0-255 images too.
OVERSHOOT = 0.5


def rgb_to_y(img) -> np.ndarray:
    """BT.601 studio-swing luma of an 8-bit-scaled image, as MATLAB ``rgb2ycbcr``.

    Args:
        img: ``HxWx3`` RGB (channels last), or ``HxW`` / ``HxWx1`` grayscale, with values on the 0..255
            scale: uint8, or float/integer in 0..255 (half a level of slack). Anything else is a ValueError:
            a [0, 1] float image (max <= 1.5) would come out as 16..16.9, a plausible dark Y.
    Returns:
        float64 ``HxW`` array in 16..235 (not rounded). Grayscale is treated as R=G=B,
        i.e. ``16 + 219*v/255``.
    """
    a = _as_array(img)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        # (3, H, W) gave a (3, W) "Y" of garbage; RGBA was read as RGB
        chw = " (channels first? take HxWx3: a tensor's .permute(1, 2, 0))" if a.ndim == 3 and a.shape[0] in (1, 3) \
            else ""
        raise ValueError(f"expected HxW, HxWx1 or HxWx3, got shape {a.shape}{chw}")
    _check_8bit_range(a, "rgb_to_y's input", takes="rgb_to_y takes")
    a = a.astype(np.float64, copy=False)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return 16.0 + a * (219.0 / 255.0)
    # Same operation order as MATLAB: weighted sum of 0..255 values, /255, +16.
    return 16.0 + (a[..., 0] * _Y_COEFFS[0] + a[..., 1] * _Y_COEFFS[1] + a[..., 2] * _Y_COEFFS[2]) / 255.0


def to_uint8(x) -> np.ndarray:
    """Float image in [0, 1] -> uint8 numpy array: clamp, ``*255``, ``np.round``, cast.

    ``np.round`` rounds half to even (BasicSR's ``tensor2img`` does the same). A torch
    tensor ``(C,H,W)`` becomes ``HxWxC``; ``(N,C,H,W)`` becomes ``NxHxWxC``; numpy input
    keeps its layout. A uint8 image is already quantised and comes back as it is; other
    integer types, and NaN or infinite values, raise rather than being scaled or cast
    into plausible numbers (a uint8 image x255 is all white, NaN casts to 0).

    The clamp is for a model's overshoot (bicubic rings to about -0.1..1.1), so values within
    :data:`OVERSHOOT` of [0, 1] are clamped; beyond that the image is on another scale (0-255,
    16-bit, [-1, 1]) and clamping it would give believable wrong scores (Set5 baby in [-1, 1]
    read 33.90 dB / 0.9074 for 32.06 / 0.8618), so it is a ValueError that names the likely scale.
    A [-1, 1] image with no value under -0.5 (nothing darker than a quarter) is not caught here.
    """
    torch = sys.modules.get("torch")  # x can be a tensor only once torch is loaded; numpy callers need not load it
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        a = (t.to(torch.float64) if t.is_floating_point() else t).numpy()  # bf16 has no numpy dtype
        if a.ndim == 3:
            a = a.transpose(1, 2, 0)
        elif a.ndim == 4:
            a = a.transpose(0, 2, 3, 1)
    else:
        a = np.asarray(x)
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind != "f":
        raise TypeError(f"to_uint8 takes a float image in [0, 1] (or uint8, returned as it is), got {a.dtype}")
    if not a.size:
        return a.astype(np.uint8)
    lo, hi = float(a.min()), float(a.max())  # NaN and inf propagate to these
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("the image has NaN or infinite values")
    if lo < -OVERSHOOT or hi > 1 + OVERSHOOT:
        from .pixels import float_range_hint  # upscale's hints; Pillow is loaded only when this raises

        raise ValueError(f"to_uint8 takes a float image in [0, 1] (a model's overshoot up to {OVERSHOOT:g} past it "
                         f"is clamped), got [{lo:g}, {hi:g}]{float_range_hint(lo, hi, OVERSHOOT)}")
    return np.round(np.clip(a.astype(np.float64, copy=False), 0.0, 1.0) * 255.0).astype(np.uint8)


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from each side of the first two axes."""
    if isinstance(border, (bool, np.bool_)) or not float(border).is_integer() or border < 0:
        raise ValueError(f"border must be a whole number of pixels >= 0, got {border!r}")
    border = int(border)
    if border == 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"image {img.shape[:2]} too small for a {border}-px border")
    return img[border:-border, border:-border, ...]


def _check_8bit_range(a: np.ndarray, label: str, takes: str = "PSNR and SSIM here take") -> None:
    """Inputs on another scale give plausible wrong numbers ([0, 1] floats 67 dB, 16-bit -16 dB on Set5 baby;
    an unclamped [0, 1] SR with overshoot to 1.015 against uint8 HR, 5.6 dB)."""
    if a.ndim == 3 and a.shape[2] not in (1, 3):
        if a.shape[0] in (1, 3, 4) and a.shape[2] > 4:  # CHW: "has 512 channels ... drop alpha first" misled
            raise ValueError(f"{label} is {a.shape[0]}x{a.shape[1]}x{a.shape[2]}: channels first (CHW)? PSNR and "
                             "SSIM here take HxWxC images (a tensor: .permute(1, 2, 0))")
        raise ValueError(f"{label} has {a.shape[2]} channels; expected RGB or grayscale (drop alpha first)")
    if a.dtype.kind not in "iuf":  # bool masks scored 67.9 dB
        raise TypeError(f"{label} is a {a.dtype} array; {takes} uint8 (or 0-255) images")
    if not a.size or a.dtype == np.uint8:
        return
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{label} has NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo < -0.5 or hi > 255.5:  # floats within half a level: what rounding to uint8 would keep
        raise ValueError(f"{label} values {lo:g}..{hi:g} are not 8-bit (0-255); {_rescale_advice(lo, hi)}")
    if a.dtype.kind == "f" and hi <= 1.5:  # a 0-255 image this dark is black; [0, 1] ones overshoot a little
        raise ValueError(f"{label} looks like a [0, 1] float image (max {hi:g}); {takes} 0-255 values: quantise "
                         "first (to_uint8)")


def _rescale_advice(lo: float, hi: float) -> str:
    """How to bring values ``lo..hi``, outside 0-255, to uint8. "quantise first (to_uint8)" alone sent 16-bit
    values into to_uint8's clamp: an all-white image and 24.36 dB for 32.06 on Set5 baby."""
    from .pixels import value_scale

    return {"16-bit": "16-bit values? pass to_uint8(x / 65535)",
            "[-1, 1]": "a [-1, 1] image? pass to_uint8((x + 1) / 2)",
            "0-255": "clamp and round it first: to_uint8(x / 255)"}.get(value_scale(lo, hi, OVERSHOOT),
                                                                        "rescale it to [0, 1] and pass to_uint8(x)")


def _uint8_advice(a: np.ndarray) -> str:
    """How to make the uint8 image a uint8-only metric (:func:`srgan.niqe.niqe`) takes of ``a``. "quantise first
    (to_uint8)" alone sent 0-255 floats into to_uint8's clamp: all white, then "NIQE is undefined"."""
    if a.dtype.kind not in "iuf" or not a.size:
        return "pass a uint8 image"
    lo, hi = float(a.min()), float(a.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "it has NaN or infinite values"
    if a.dtype.kind == "f" and -OVERSHOOT <= lo and hi <= 1 + OVERSHOOT:
        return "a [0, 1] image? pass srgan.metrics.to_uint8(x)"
    if -0.5 <= lo and hi <= 255.5:
        return ("0-255 values? pass srgan.metrics.to_uint8(x / 255)" if a.dtype.kind == "f" else
                "its values fit 8 bits: pass x.astype(np.uint8)")
    return _rescale_advice(lo, hi).replace("to_uint8", "srgan.metrics.to_uint8")


def _as_array(x) -> np.ndarray:
    """``x`` as a numpy array; a tensor is detached first (these metrics are not differentiable, and
    np.asarray of a tensor that requires grad failed in torch's words), moved to the CPU, bf16 made float32."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return np.asarray(x)


def _prepare(sr, hr, border: int, to_y: bool, round_y: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    sr = _as_array(sr)
    hr = _as_array(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"shape mismatch: sr {sr.shape} vs hr {hr.shape}")
    _check_8bit_range(sr, "sr")
    _check_8bit_range(hr, "hr")
    if to_y:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
        if round_y:  # MATLAB rgb2ycbcr(uint8) -> uint8: round half away from zero (Y > 0)
            sr, hr = np.floor(sr + 0.5), np.floor(hr + 0.5)
    else:
        sr, hr = sr.astype(np.float64), hr.astype(np.float64)
    return shave(sr, border), shave(hr, border)


def psnr(sr, hr, border: int = 0, *, to_y: bool = True, round_y: bool = True) -> float:
    """PSNR in dB on the Y channel with a ``border``-px shave (``border = scale``).

    Args:
        sr, hr: uint8 (or 0..255 float) ``HxWx3`` RGB or ``HxW`` grayscale, same shape.
            Round SR to uint8 first (:func:`to_uint8`).
        border: pixels removed from each side.
        to_y: if False, measure the arrays as given (e.g. precomputed Y planes, peak 255).
        round_y: round Y to integers as MATLAB ``rgb2ycbcr`` of uint8 does (default; gives
            the published bicubic baselines). False = BasicSR's unrounded float Y.
    Returns:
        ``10*log10(255^2/MSE)`` (float64); ``inf`` when the images are identical.
    """
    a, b = _prepare(sr, hr, border, to_y, round_y)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product is MATLAB ``fspecial('gaussian', 11, 1.5)``."""
    r = (size - 1) / 2.0
    t = np.arange(size, dtype=np.float64) - r
    g = np.exp(-(t * t) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D array with ``outer(g, g)``."""
    k = g.size
    h, w = x.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i in range(k):
        rows += g[i] * x[i : i + h - k + 1, :]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j in range(k):
        out += g[j] * rows[:, j : j + w - k + 1]
    return out


def _ssim_plane(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    g = gaussian_window(11, 1.5)
    if a.shape[0] < g.size or a.shape[1] < g.size:
        raise ValueError(f"image {a.shape} smaller than the 11x11 SSIM window")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_a = _filter_valid(a, g)
    mu_b = _filter_valid(b, g)
    mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_a2
    var_b = _filter_valid(b * b, g) - mu_b2
    cov = _filter_valid(a * b, g) - mu_ab
    smap = ((2 * mu_ab + c1) * (2 * cov + c2)) / ((mu_a2 + mu_b2 + c1) * (var_a + var_b + c2))
    return float(smap.mean())


def ssim(sr, hr, border: int = 0, *, to_y: bool = True, round_y: bool = True) -> float:
    """SSIM (Wang et al. 2004, original ``ssim_index.m``) on Y with a ``border``-px shave.

    11x11 Gaussian (sigma 1.5), C1 = (0.01*255)^2, C2 = (0.03*255)^2, valid region only,
    mean of the map, no downsampling, float64. Arguments as :func:`psnr`; with
    ``to_y=False`` a 3-channel input is measured per channel and averaged.
    """
    a, b = _prepare(sr, hr, border, to_y, round_y)
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def psnr_ssim_y(sr_uint8, hr_uint8, scale: int, *, round_y: bool = True) -> Tuple[float, float]:
    """``(PSNR, SSIM)`` on Y with a ``scale``-px border: the paper convention in one call."""
    a, b = _prepare(sr_uint8, hr_uint8, scale, True, round_y)
    mse = float(np.mean((a - b) ** 2))
    p = math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)
    return p, _ssim_plane(a, b)


def _chw_to_uint8(t, label: str) -> np.ndarray:
    """One ``(C,H,W)`` tensor (or ``HxW``) through :func:`to_uint8`, with errors that name ``label``."""
    shape = tuple(getattr(t, "shape", ()))
    if len(shape) == 4:  # to_uint8 made NHWC of it, which was then called "HxW, HxWx1 or HxWx3 expected"
        raise ValueError(f"{label} is a batch {shape}; psnr_ssim_y_tensor takes one CHW image: pass {label}[i] "
                         f"(or {label}.squeeze(0) for a batch of one)")
    if len(shape) == 3 and shape[0] not in (1, 3) and shape[2] in (1, 3):  # was "has 512 channels ... alpha"
        raise ValueError(f"{label} is {shape[0]}x{shape[1]}x{shape[2]}: channels last (HWC)? psnr_ssim_y_tensor "
                         f"takes CHW tensors ({label}.permute(2, 0, 1)); psnr_ssim_y takes HWC arrays")
    try:
        return to_uint8(t)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def psnr_ssim_y_tensor(sr, hr, scale: int, *, round_y: bool = True) -> Tuple[float, float]:
    """Same as :func:`psnr_ssim_y` for float ``(C,H,W)`` tensors in [0, 1] (or uint8 ones).

    Both are passed through :func:`to_uint8` first: clamp (a model's overshoot), x255, round; uint8 as it is.
    Values on another scale (0-255 floats, 16-bit, [-1, 1]) are a ValueError, as in :func:`to_uint8`.
    """
    return psnr_ssim_y(_chw_to_uint8(sr, "sr"), _chw_to_uint8(hr, "hr"), scale, round_y=round_y)
