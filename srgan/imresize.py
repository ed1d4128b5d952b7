"""MATLAB-compatible bicubic ``imresize`` in PyTorch (batched, device-agnostic).

Why this module exists
----------------------
Every published super-resolution number (SRCNN, SRResNet/SRGAN, EDSR, RCAN, ...) is
measured on LR images made by MATLAB ``imresize(HR, 1/4, 'bicubic')``. Other resizers
produce *different* images, and a model trained or evaluated on them is not comparable:

* ``torch.nn.functional.interpolate(mode='bicubic')`` uses the cubic coefficient
  a = -0.75 (not MATLAB's -0.5) and, by default, no antialiasing: downscaling x4 then
  samples 4 taps out of every 16 and aliases.
* OpenCV ``INTER_CUBIC`` is likewise a = -0.75 without antialiasing.
* PIL ``BICUBIC`` (and ``F.interpolate(..., antialias=True)``, ported from Pillow) uses
  a = -0.5 with a stretched kernel but clips the window at the border and renormalises,
  instead of MATLAB's mirrored border; the uint8 PIL path also uses fixed-point weights.

The MATLAB algorithm, reproduced here, is separable. For each axis:

* kernel: Keys cubic with a = -0.5 (support [-2, 2]);
* antialiasing: when downscaling by ``s < 1`` the kernel is stretched to ``s*k(s*x)``,
  so its support grows to ``4/s`` input pixels (16 taps for x1/4);
* output length ``ceil(in_len * s)`` when a scale is given (``s = out/in`` when a size is);
* output sample ``x`` (1-based) reads input coordinate ``u = x/s + 0.5*(1 - 1/s)``
  (pixel centres aligned, the ``align_corners=False`` convention);
* the weights of each output sample are normalised to sum to 1 *before* out-of-range
  indices are folded back into the image, so a border pixel can receive the weight
  of several taps;
* the axis with the smaller scale is resized first (the height on a tie), as MATLAB's
  ``dimensionOrder`` does.

Two paths, two golden references (see ``shared/data/MANIFEST.md``):

``imresize`` (float path)
    Works in the input's float dtype, no intermediate rounding, *symmetric* (mirror)
    border indices. Matches the double-precision MATLAB arrays
    ``benchmarks/matlab_golden/*.mat`` (``imresize(double(im), 1/4)`` and back x4) to
    ~1e-12 in float64.

``imresize_uint8`` (uint8 path)
    Height pass first, then width (equal scales); after *each* 1-D pass the result is rounded half up
    and clipped to 0..255 (as MATLAB does for uint8 inputs); *replicate*
    (clamp-to-edge) border indices. This is the recipe that regenerates all 119
    ``LR_bicubic_x4`` PNGs of Set5/Set14/BSD100 bit for bit. Mirror borders give 0/119
    (differences in the outer ~2 px) and one pass with a single final rounding differs
    by up to 6 grey levels, so neither variation is used here.

Implementation: per axis, MATLAB's ``contributions`` (the input indices and normalised
weights of each output sample, in float64) are cut into bands of consecutive outputs that
read about 64 input pixels each; a band's weights become a small dense block (border folding
is a scatter-add), cached per ``(in_len, out_len, scale, border, device, dtype)``, and each
1-D pass is one matmul per band: fast on CPU (BLAS) and GPU, any batch shape, and memory and
time linear in the image side. (One dense ``(out_len, in_len)`` matrix per axis, as this
module first used, is quadratic: 1.40 s for a 4000x6000 float32 x1/4 against 0.10 s banded,
and a 120000-pixel-wide image needed a 29 GB matrix; ``benchmarks/imresize_speed.py``.)
Exact zeros outside a band add nothing, so the result equals a gather + weighted sum up to
the float summation order (~1e-13 in float64). The uint8 path computes in float64 on the
input's device (a band at a time) so that the round-half-up decisions are exactly MATLAB's.

Fast path, measured
-------------------
``F.interpolate(x, scale_factor=1/4, mode='bicubic', antialias=True,
align_corners=False)`` uses the same a = -0.5 stretched kernel and the same pixel-centre
coordinates, and differs from the exact float path only where the kernel window reaches
past the image border (Pillow-style clipped and renormalised window vs. MATLAB mirror).
Measured on the five Set5 HR images in float [0, 1] (torch 2.13 CPU), x4 downscale,
interior = outputs at least 2 px from each border (their 16-tap windows lie inside the
image; output 1 already reaches input -2):

* interior, float32: max |diff| = 3.6e-7 (float rounding); float64: 7.8e-16;
* interior from 1 px (only the outermost ring dropped): up to 1.1e-2;
* whole image: max |diff| = 5.9e-2.

So it matches to ~1e-5 away from the borders (re-measured by ``tests/test_imresize.py``), but
srgan does not use it: benchmark LR images must come from :func:`imresize_uint8`, and for
training it is not even faster on the CPU (a batch of 16x3x96x96 float32 -> x1/4, 1 thread,
torch 2.13, AMD EPYC Zen 4, median of 51: the exact path 0.41 ms, ``F.interpolate`` 0.84 ms,
the uint8 path 1.04 ms).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    "cubic",
    "output_size",
    "contributions",
    "resize_matrix",
    "imresize",
    "imresize_uint8",
    "imresize_np",
    "mod_crop",
    "degrade_uint8",
]

ScaleArg = Union[float, Sequence[float], None]
SizeArg = Union[int, Sequence[int], None]

_KERNEL_WIDTH = 4.0  # support of the Keys cubic, in (unstretched) pixels
# Input pixels a band of outputs reads (plus the kernel): a few dozen keeps each matmul dense enough for BLAS
# while the zeros it multiplies stay few (16-64 measured alike on a 4000x6000 image, within the noise of a shared
# machine).
_BAND_INPUT = 64


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``imresize`` 'bicubic').

    a = -0.5 is the only choice for which the interpolant reproduces quadratics;
    PyTorch/OpenCV use a = -0.75, which sharpens more and gives different pixels.
    """
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    ) * ((ax > 1) & (ax <= 2))


def _pair(v, name: str) -> Tuple:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"{name} must be a number or a pair, got {v!r}")
        return tuple(v)
    return (v, v)


def output_size(
    in_hw: Tuple[int, int], scale: ScaleArg = None, size: SizeArg = None
) -> Tuple[Tuple[int, int], Tuple[float, float]]:
    """Return ``((out_h, out_w), (scale_h, scale_w))`` by MATLAB's rules.

    With ``scale``: ``out = ceil(in * scale)`` (MATLAB computes exactly this in double, so
    e.g. 1/3 of 10 gives 4). With ``size``: the per-axis scale is ``out / in``.
    Exactly one of ``scale`` and ``size`` must be given.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale= and size=")
    h, w = int(in_hw[0]), int(in_hw[1])
    if h < 1 or w < 1:
        raise ValueError(f"empty image ({h}x{w} pixels)")
    if scale is not None:
        sh, sw = (float(s) for s in _pair(scale, "scale"))
        if not (0 < sh < math.inf and 0 < sw < math.inf):  # NaN fails too
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        return (int(math.ceil(h * sh)), int(math.ceil(w * sw))), (sh, sw)
    pair = _pair(size, "size")
    if any(isinstance(s, bool) or not float(s).is_integer() or s <= 0 for s in pair):  # 2.7 was cut to 2
        raise ValueError(f"size must be whole numbers of pixels > 0, got {size!r}")
    oh, ow = (int(s) for s in pair)
    return (oh, ow), (oh / h, ow / w)


@functools.lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float, border: str = "symmetric"
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: ``(indices, weights)``, each ``(out_len, taps)``, for one axis.

    Output ``o`` (0-based) is ``sum_k weights[o, k] * x[indices[o, k]]``. Indices are 0-based and already
    folded into the image (``border``: 'symmetric' mirrors, 'replicate' clamps); taps whose weight is zero for
    every output are dropped, as MATLAB does. Read-only float64 / int64 arrays, cached.
    """
    if scale < 1.0:  # antialias: stretch the kernel by 1/scale
        kernel_width = _KERNEL_WIDTH / scale

        def h(t):
            return scale * cubic(scale * t)
    else:
        kernel_width = _KERNEL_WIDTH
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    wts = h(u[:, None] - idx)
    wts = wts / wts.sum(axis=1, keepdims=True)
    idx0 = idx.astype(np.int64) - 1  # 0-based, may be out of range
    if border == "symmetric":
        # MATLAB: aux = [1:n, n:-1:1]; idx = aux(mod(idx-1, 2n) + 1)
        period = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
        idx0 = period[np.mod(idx0, 2 * in_len)]
    elif border == "replicate":
        idx0 = np.clip(idx0, 0, in_len - 1)
    else:
        raise ValueError(f"border must be 'symmetric' or 'replicate', got {border!r}")
    used = np.any(wts != 0, axis=0)
    idx0, wts = np.ascontiguousarray(idx0[:, used]), np.ascontiguousarray(wts[:, used])
    idx0.setflags(write=False)
    wts.setflags(write=False)
    return idx0, wts


def _dense(idx: np.ndarray, wts: np.ndarray, in_len: int) -> np.ndarray:
    """The ``(rows, in_len)`` matrix of these contributions: folded taps that meet on one pixel add up."""
    mat = np.zeros((idx.shape[0], in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(idx.shape[0])[:, None], idx.shape)
    np.add.at(mat, (rows, idx), wts)
    return mat


def resize_matrix(in_len: int, out_len: int, scale: float, border: str = "symmetric") -> torch.Tensor:
    """The dense float64 ``(out_len, in_len)`` matrix ``M`` with ``y = M @ x`` for one axis.

    For inspection and tests: the resize itself never builds it (it is quadratic in the side; see the banded
    blocks of :func:`_bands`).
    """
    idx, wts = contributions(int(in_len), int(out_len), float(scale), border)
    return torch.from_numpy(_dense(idx, wts, int(in_len)))


@functools.lru_cache(maxsize=256)
def _bands(
    in_len: int, out_len: int, scale: float, border: str, device: torch.device, dtype: torch.dtype
) -> Tuple[Tuple[int, int, torch.Tensor], ...]:
    """``(first_input, end_input, block)`` per band of consecutive outputs; the blocks stacked are the dense matrix.

    Built in float64 and then cast, so float32 blocks are correctly rounded.
    """
    idx, wts = contributions(in_len, out_len, scale, border)
    per_band = -(-out_len // max(1, in_len // _BAND_INPUT))  # a whole number of bands, one for a small image
    bands = []
    for r0 in range(0, out_len, per_band):
        i = idx[r0:r0 + per_band]
        c0, c1 = int(i.min()), int(i.max()) + 1
        block = _dense(i - c0, wts[r0:r0 + per_band], c1 - c0)
        bands.append((c0, c1, torch.from_numpy(block).to(device=device, dtype=dtype)))
    return tuple(bands)


def _check_image(x: torch.Tensor) -> Tuple[torch.Tensor, bool]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return x.unsqueeze(0), True
    if x.dim() == 4:
        return x, False
    raise ValueError(f"expected (C,H,W) or (N,C,H,W), got shape {tuple(x.shape)}")


def _resize_axis(x: torch.Tensor, dim: int, bands, dtype: torch.dtype) -> torch.Tensor:
    """One 1-D pass along ``dim`` (-2 height, -1 width), computed in ``dtype`` a band at a time."""
    if dim == -2:
        parts = [torch.matmul(block, x[..., c0:c1, :].to(dtype)) for c0, c1, block in bands]
    else:
        parts = [torch.matmul(x[..., c0:c1].to(dtype), block.transpose(0, 1)) for c0, c1, block in bands]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _resize(x: torch.Tensor, out_hw, scales, border: str, dtype: torch.dtype, round_each: bool) -> torch.Tensor:
    """Both passes, the axis with the smaller scale first (MATLAB's ``dimensionOrder``; height on a tie).

    ``round_each``: round half up and clip to 0..255 after each pass (the uint8 path), keeping uint8 between them.
    """
    order = (-2, -1) if scales[0] <= scales[1] else (-1, -2)
    for dim in order:
        axis = 0 if dim == -2 else 1
        bands = _bands(x.shape[dim], out_hw[axis], scales[axis], border, x.device, dtype)
        x = _resize_axis(x, dim, bands, dtype)
        if round_each:
            x = torch.floor(x.add_(0.5)).clamp_(0, 255).to(torch.uint8)
    return x


def imresize(x: torch.Tensor, scale: ScaleArg = None, size: SizeArg = None) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` on floats, exactly (double-path semantics).

    Args:
        x: float tensor ``(C,H,W)`` or ``(N,C,H,W)``, any value range (no clipping: bicubic overshoots, clip
            yourself if you need a range). float16 and bfloat16 are computed, and returned, in float32.
        scale: a number or ``(sh, sw)``; output size ``ceil(H*sh), ceil(W*sw)``.
        size: ``(out_h, out_w)`` (or one int for both) instead of ``scale``.

    Returns:
        tensor of the same dtype (float32 for half-precision input), device and rank. Symmetric (mirror)
        border indices and no intermediate rounding, as MATLAB's double path; matches the MATLAB arrays to
        ~1e-12 in float64.
    Raises:
        ValueError for NaN or infinite values: the banded matrix product multiplies each by the zero weights of
        its whole band (0 x NaN = NaN), so one NaN pixel became a 16x16 block of NaN at x1/4.
    """
    x4, squeeze = _check_image(x)
    if not x4.is_floating_point():
        raise TypeError(f"imresize expects a float tensor, got {x.dtype}; use imresize_uint8")
    if x4.dtype not in (torch.float32, torch.float64):
        x4 = x4.float()
    (oh, ow), (sh, sw) = output_size(x4.shape[-2:], scale, size)
    # The sum is a fast first test (a NaN or Inf makes it non-finite); only a failed one pays for isfinite()
    if not math.isfinite(float(x4.sum())) and not bool(torch.isfinite(x4).all()):
        raise ValueError("imresize: the image has NaN or infinite values")
    y = _resize(x4, (oh, ow), (sh, sw), "symmetric", x4.dtype, round_each=False)
    return y.squeeze(0) if squeeze else y


def imresize_uint8(x: torch.Tensor, scale: ScaleArg = None, size: SizeArg = None) -> torch.Tensor:
    """MATLAB-style bicubic resize of a uint8 image, bit-exact with the benchmark LR PNGs.

    Height pass, round half up + clip to 0..255, width pass, round + clip again (the axis with the smaller
    scale first, as MATLAB), with replicate (clamp-to-edge) borders: the recipe that reproduces the 119
    ``LR_bicubic_x4`` PNGs of Set5/Set14/BSD100 from their HR bit for bit. Any number of
    channels works (grayscale ``(1,H,W)`` included). Computes in float64 on ``x.device``.

    Args:
        x: uint8 tensor ``(C,H,W)`` or ``(N,C,H,W)``.
        scale / size: as in :func:`imresize`.
    Returns:
        uint8 tensor, same rank and device.
    """
    x4, squeeze = _check_image(x)
    if x4.dtype != torch.uint8:
        raise TypeError(f"imresize_uint8 expects uint8, got {x.dtype}")
    (oh, ow), (sh, sw) = output_size(x4.shape[-2:], scale, size)
    y = _resize(x4, (oh, ow), (sh, sw), "replicate", torch.float64, round_each=True)
    return y.squeeze(0) if squeeze else y


def imresize_np(img: np.ndarray, scale: ScaleArg = None, size: SizeArg = None) -> np.ndarray:
    """NumPy convenience wrapper for ``HxW`` or ``HxWxC`` arrays.

    uint8 input goes through :func:`imresize_uint8` (uint8 out); float input through
    :func:`imresize` in float64 (float64 out).
    """
    arr = np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize_np expects an HxW or HxWxC array, got shape {arr.shape}")
    chw = torch.from_numpy(np.ascontiguousarray(arr[..., None] if arr.ndim == 2 else arr))
    chw = chw.permute(2, 0, 1)
    if arr.dtype == np.uint8:
        out = imresize_uint8(chw, scale, size)
    else:
        out = imresize(chw.to(torch.float64), scale, size)
    out = out.permute(1, 2, 0).numpy()
    return out[..., 0] if arr.ndim == 2 else out


def _whole_scale(scale) -> int:
    if isinstance(scale, bool) or not float(scale).is_integer() or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")
    return int(scale)


def mod_crop(x, scale: int):
    """Top-left crop of the last two (tensor ``...,H,W``) axes to a multiple of ``scale``.

    For a NumPy ``HxW`` / ``HxWxC`` array the first two axes are cropped instead. This is
    how the benchmark HR images were prepared (top-left crop, as MATLAB ``modcrop``).
    """
    scale = _whole_scale(scale)
    if isinstance(x, torch.Tensor):
        h, w = x.shape[-2:]
        return x[..., : h - h % scale, : w - w % scale]
    h, w = x.shape[:2]
    return x[: h - h % scale, : w - w % scale, ...]


def degrade_uint8(hr: np.ndarray, scale: int) -> np.ndarray:
    """LR of an HxWx3 (or HxW) uint8 image whose sides are multiples of ``scale`` (:func:`mod_crop`; other
    sides round up, as MATLAB's ``ceil``).

    MATLAB ``imresize(hr, 1/scale, 'bicubic')`` on uint8: :func:`imresize_np`'s uint8 path, which never
    silently takes the float one here.
    """
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8:
        raise TypeError(f"degrade_uint8 expects uint8, got {getattr(hr, 'dtype', type(hr).__name__)}")
    return imresize_np(hr, 1.0 / _whole_scale(scale))
