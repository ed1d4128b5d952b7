"""Super-resolve real images: the Python API (:func:`upscale`, :func:`upscale_file`; models are made ready by
:func:`srgan.engines.prepare`).

* Any size: exact tiling (:mod:`srgan.tiling`), output assembled in a preallocated uint8 (8-bit), uint16
  (16-bit files) or float32 array, never a list of float tiles. ``tile='auto'`` sizes tiles from free memory.
* Any image: RGB, L, RGBA/LA (alpha upscaled by MATLAB bicubic and re-attached; the hidden colour of fully
  transparent pixels filled from the visible ones first, :func:`fill_transparent`), P, CMYK, 16-bit; reading,
  EXIF orientation, ICC profiles and writing go through :mod:`srgan.images`.
* Fast: the model runs as :func:`~srgan.engines.prepare` made it (BN folded, channels_last, polyphase tail);
  precision 'auto' is fp32 on CPUs without native bf16 (AVX2: bf16 is emulated and slower), bf16 on
  AMX/AVX512-BF16 CPUs, bf16/fp16 on CUDA (:func:`srgan.device.resolve_precision`).

The ``srgan upscale`` command around it is :mod:`srgan.upscale_cli`.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .engines import prepare
from .images import to_uint8
from .pixels import LUMA_BT601, check_float_range, exif_upright, float_planes, icc_colour_space, pixels_by_mode
from .shipped import DEFAULT_MODEL
from .tiling import Engine, iter_alpha_tiles, run_tiled

__all__ = ["upscale", "upscale_file", "upscale_planes"]

#: Grayscale outputs larger than this (HR pixels) are assembled as uint8 rather than float32 (~3 float copies of a
#: 16000x12000 image would need > 7 GB). 8-bit colour is always assembled as uint8, 16-bit as uint16
#: (srgan.pipeline.output_dtype).
LARGE_OUTPUT_PIXELS = 40_000_000

#: A side under this many LR pixels is edge-padded to it, and the output cropped back. The network learnt its
#: borders on 24-px patches; on a 1- or 2-px image its zero padding outweighs the picture: a mid-grey 1x1 image
#: came out 85, and 1x1 crops of Set14 scored 10.7 dB against their HR (padded 20.1, as bicubic's 20.1), 2x2 crops
#: 18.7 dB (padded 24.6).
#: Padding to 4 scored best, and more padding worse (benchmarks/tiny_inputs.py, Set14 crops).
MIN_SIDE = 4


# --------------------------------------------------------------------------- core


def _to_uint8_torch(y: torch.Tensor) -> torch.Tensor:
    # clip, x255, round half to even: the same rule as images.to_uint8
    return y.clamp(0, 1).mul_(255).round_().to(torch.uint8)


def _to_uint16_numpy(y: torch.Tensor) -> np.ndarray:
    # NaN -> 0, clip, x65535, round half to even: the same rule (and float32 arithmetic) as images.to_uint16
    return y.nan_to_num(0.0).clamp_(0, 1).mul_(65535).round_().to(torch.int32).cpu().numpy().astype(np.uint16)


def upscale_planes(engine: Engine, rgb: torch.Tensor, alpha: torch.Tensor | None = None, *,
                   tile: int | str = "auto", out: str = "uint8", progress=None, result: np.ndarray | None = None,
                   rows_done=None):
    """Upscale a (3,H,W) float [0,1] image (and an optional (H,W) alpha) into preallocated HWC arrays.

    ``out`` = 'uint8' | 'uint16' | 'float32' (numpy HWC) | 'tensor' (float32 CHW torch tensor on the input's device).
    Returns ``(rgb_out, alpha_out | None)``; alpha is MATLAB-bicubic upscaled, clipped to [0, 1]. For 'uint8'
    the caller may pass the (sH, sW, 3) array as ``result`` and ``rows_done(y)`` to hear when its rows ``[0, y)``
    are final (:func:`srgan.tiling.run_tiled`): the streaming write of ``srgan upscale`` encodes them meanwhile.
    """
    _, h, w = rgb.shape
    if h == 0 or w == 0:  # the first 9x9 convolution would fail with a padding message that names no image
        raise ValueError(f"empty image ({h}x{w} pixels)")
    s = engine.scale
    if alpha is not None:
        rgb = fill_transparent(rgb, alpha.to(rgb.device))
    if out == "tensor":
        result = torch.empty(3, h * s, w * s, dtype=torch.float32, device=rgb.device)

        def sink(y0, x0, t):
            result[:, y0:y0 + t.shape[1], x0:x0 + t.shape[2]] = t.to(result.device)
    elif out == "uint8":
        if result is None:
            result = np.empty((h * s, w * s, 3), np.uint8)

        def sink(y0, x0, t):
            result[y0:y0 + t.shape[1], x0:x0 + t.shape[2]] = _to_uint8_torch(t).permute(1, 2, 0).cpu().numpy()
    elif out == "uint16":
        result = np.empty((h * s, w * s, 3), np.uint16)

        def sink(y0, x0, t):
            result[y0:y0 + t.shape[1], x0:x0 + t.shape[2]] = _to_uint16_numpy(t.permute(1, 2, 0))
    elif out == "float32":
        result = np.empty((h * s, w * s, 3), np.float32)

        def sink(y0, x0, t):
            result[y0:y0 + t.shape[1], x0:x0 + t.shape[2]] = t.permute(1, 2, 0).cpu().numpy()
    else:
        raise ValueError(f"out must be 'uint8', 'uint16', 'float32' or 'tensor', got {out!r}")
    if (h < MIN_SIDE or w < MIN_SIDE) and engine.pad_tiny:
        _run_tiny(engine, rgb, sink, tile, progress, rows_done)
    else:
        run_tiled(engine, rgb, sink, tile=tile, progress=progress, rows_done=rows_done)
    alpha_out = None
    if alpha is not None:
        alpha_out = _upscale_alpha(alpha, s, tile, out)
    return result, alpha_out


def fill_transparent(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``rgb`` (3,H,W) with the colour of its fully transparent pixels (``alpha`` 0), which no one sees, filled
    from the visible pixels around them; visible pixels are unchanged. Upscaled as they were, hidden colours
    (most often black) bled into the visible edge: a white disc on a transparent background came out with a grey
    fringe, edge pixels averaging (221, 220, 210) (tests/test_upscale.py). Pull-push fill: the visible colour averaged over ever coarser
    2x2 cells, then each hidden pixel takes the finest cell around it that holds a visible pixel."""
    hidden = alpha <= 0
    if not bool(hidden.any()) or bool(hidden.all()):
        return rgb
    weight = (~hidden).to(rgb.dtype)[None]
    levels = [(rgb * weight, weight)]
    while max(levels[-1][1].shape[-2:]) > 1:  # sums and visible counts, 2x2-pooled (partial cells at the edges)
        colour, seen = levels[-1]
        levels.append((F.avg_pool2d(colour[None], 2, ceil_mode=True)[0],
                       F.avg_pool2d(seen[None], 2, ceil_mode=True)[0]))
    filled = levels[-1][0] / levels[-1][1]  # the mean visible colour (some pixel is visible)
    for colour, seen in reversed(levels[:-1]):
        # each cell to its 2x2 pixels (F.interpolate's nearest is off by one at some indices of odd sides >= ~10000)
        h, w = colour.shape[-2:]
        coarser = filled.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[:, :h, :w]
        filled = torch.where(seen > 0, colour / seen.clamp_min(1e-12), coarser)
    return torch.where(hidden[None], filled, rgb)


def _run_tiny(engine: Engine, rgb: torch.Tensor, sink, tile, progress, rows_done) -> None:
    """:func:`run_tiled` for an image with a side under :data:`MIN_SIDE`: edge-padded (centred) to that size, and
    only the HR pixels of the image itself handed on."""
    _, h, w = rgb.shape
    top, left = (max(MIN_SIDE - h, 0) // 2, max(MIN_SIDE - w, 0) // 2)
    bottom, right = max(MIN_SIDE - h, 0) - top, max(MIN_SIDE - w, 0) - left
    padded = F.pad(rgb[None], (left, right, top, bottom), mode="replicate")[0]
    s = engine.scale
    y_lo, y_hi, x_lo, x_hi = top * s, (top + h) * s, left * s, (left + w) * s

    def cropped(y0, x0, t):
        ya, yb = max(y0, y_lo), min(y0 + t.shape[1], y_hi)
        xa, xb = max(x0, x_lo), min(x0 + t.shape[2], x_hi)
        if ya < yb and xa < xb:
            sink(ya - y_lo, xa - x_lo, t[:, ya - y0:yb - y0, xa - x0:xb - x0])

    run_tiled(engine, padded, cropped, tile=tile,
              rows_done=rows_done and (lambda y: rows_done(min(max(y - y_lo, 0), y_hi - y_lo))))
    if progress:
        progress(h * w)


def _upscale_alpha(alpha: torch.Tensor, scale: int, tile, out: str):
    from .imresize import imresize

    a = alpha.detach().to("cpu", torch.float32)
    h, w = a.shape
    if out == "tensor":
        result = torch.empty(h * scale, w * scale, dtype=torch.float32)
    else:
        result = np.empty((h * scale, w * scale), {"uint8": np.uint8, "uint16": np.uint16}.get(out, np.float32))
    step = 512 if tile == "auto" else int(tile or 0)  # None: untiled, as for the colour planes
    if step <= 0:
        pieces = [(0, 0, imresize(a[None, None], scale=scale)[0, 0])]
    else:
        pieces = iter_alpha_tiles(a, scale, max(step, 16))
    for y0, x0, t in pieces:
        t = t.clamp(0, 1)
        if out == "uint8":
            t = _to_uint8_torch(t).numpy()
        elif out == "uint16":
            t = _to_uint16_numpy(t)
        elif out == "float32":
            t = t.numpy()
        result[y0:y0 + t.shape[0], x0:x0 + t.shape[1]] = t
    return result.to(alpha.device) if out == "tensor" else result


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of float HWC RGB (as images.write_image writes grayscale)."""
    return np.asarray(rgb, np.float32) @ LUMA_BT601


# --------------------------------------------------------------------------- the API


def gray_output_dtype(height: int, width: int, scale: int, large_output_pixels: int = LARGE_OUTPUT_PIXELS,
                      integer: str = "uint8") -> str:
    """How a grayscale output is assembled, for files and the API alike: float32 up to ``large_output_pixels`` HR
    pixels, so that its luma is taken before the one rounding to the source's bits (rounding RGB first, then the
    luma, put about 12% of 8-bit pixels and 16% of 16-bit ones one level off: benchmarks/rounding_paths.py);
    beyond, where float copies would not fit, ``integer`` (the source's: uint8, or uint16 for a 16-bit file)."""
    return "float32" if height * width * scale * scale <= large_output_pixels else integer


def _from_pil(image):
    """PIL image -> (float HWC rgb, alpha | None, the PIL mode of the result), by images' own mode dispatch."""
    color, alpha, white, grayscale = pixels_by_mode(image)
    rgb, alpha = float_planes(color, alpha, white)
    if white == 1:
        return rgb, None, "F"
    if white == 65535:  # 16-bit gray; the result has no alpha plane to keep a tRNS value in
        return rgb, None, "I" if image.mode == "I" else "I;16"
    if grayscale:
        return rgb, alpha, "L" if alpha is None else "LA"
    return rgb, alpha, "RGB" if alpha is None else "RGBA"


def _to_pil(rgb_u8_or_f, alpha, mode: str, info: dict):
    from PIL import Image as PILImage

    if mode in ("I;16", "I", "F"):
        gray = _luma(rgb_u8_or_f)
        if mode == "F":
            im = PILImage.fromarray(np.clip(gray, 0, 1).astype(np.float32))  # mode F
        else:
            im = PILImage.fromarray(np.rint(np.clip(gray, 0, 1) * 65535).astype(np.uint16))  # mode I;16
            if mode == "I":
                im = im.convert("I")
    else:
        rgb = rgb_u8_or_f
        if mode in ("L", "LA"):
            g = _luma(rgb.astype(np.float32) / 255 if rgb.dtype == np.uint8 else rgb)
            planes = [np.rint(np.clip(g, 0, 1) * 255).astype(np.uint8)]
        else:
            planes = [rgb[..., i] for i in range(3)]
        if alpha is not None:
            planes.append(alpha if alpha.dtype == np.uint8 else to_uint8(alpha))
        im = PILImage.fromarray(np.ascontiguousarray(np.stack(planes, axis=-1) if len(planes) > 1 else planes[0]))
        assert im.mode == mode, (im.mode, mode)
    icc = info.get("icc_profile")
    if icc and icc_colour_space(icc) == (b"RGB " if mode in ("RGB", "RGBA") else b"GRAY"):
        im.info["icc_profile"] = icc  # a CMYK or Lab profile would not describe these pixels (files drop it too)
    return im


def upscale(image, model: str | os.PathLike | nn.Module | Engine = DEFAULT_MODEL, *, tile: int | str = "auto",
            precision: str = "auto", device: str | torch.device = "auto", back_project: bool = False):
    """Super-resolve ``image`` and return the same kind of object.

    * PIL image -> PIL image (RGB, RGBA, L, LA, I;16, I and F modes kept; P becomes RGB/RGBA, CMYK and other
      colour modes become RGB). I holds 16-bit values (0-65535), as Pillow reads a 16-bit PNG; F is [0, 1].
      Alpha is upscaled by MATLAB bicubic. The ICC profile is carried over.
      Fully transparent pixels take their colour from the visible ones around them (:func:`fill_transparent`).
      An EXIF orientation is applied, so the result is upright as the CLI writes it; arrays and tensors are
      taken as they are.
    * numpy HxW, HxWx1, HxWx2 (gray+alpha), HxWx3 or HxWx4 (RGBA); uint8, uint16 or float in [0, 1] ->
      same shape layout and dtype.
    * torch tensor CHW or NCHW (C = 1, 3 or 4), float in [0, 1] -> same rank, dtype and device, detached (no
      gradient flows through; train with the module itself).

    Float values outside [0, 1] (beyond half an 8-bit step), NaN or infinity raise ValueError rather than being
    clipped.

    ``model`` is a name, a path, an ``nn.Module`` or an :class:`~srgan.tiling.Engine` from :func:`prepare`
    (reuse one for many images). ``tile``: LR tile size, 'auto' or 0 (no tiling); tiling is exact: each tile
    carries the network's receptive radius of context, found from its layers. A module of your own that keeps
    weights or buffers outside them (``F.conv2d(x, self.weight)``) has it measured once (its forward runs); a
    ``radius`` attribute (LR pixels) is taken at its word; an adaptive pooling or attention layer (each output
    pixel depends on the whole image) gets a warning: pass tile=0 for it. A global op written as code
    (``x.mean((2, 3))``) is not seen.
    ``back_project``: pull the output's low frequencies back to the input's (:mod:`srgan.backproject`); an
    engine has it or not from :func:`prepare`, and one without it refuses ``back_project=True``.
    """
    from PIL import Image as PILImage

    if isinstance(image, torch.Tensor) and (image.is_meta or image.layout != torch.strided):
        # they failed in torch's words ("device must be one of ... got 'meta'", "Could not run 'aten::aminmax'")
        kind = "meta-device" if image.is_meta else str(image.layout).replace("torch.", "")
        raise ValueError(f"expected a tensor with its pixels in memory, got a {kind} tensor (.to_dense(), or "
                         "materialise it first)")
    if isinstance(image, torch.Tensor) and device == "auto" and image.device.type != "cpu" \
            and not isinstance(model, Engine):
        device = image.device
    engine = prepare(model, device, precision, back_project=back_project)

    if isinstance(image, PILImage.Image):
        image = exif_upright(image)  # EXIF orientation, as files are read: Image.open of a phone photo came back turned
        rgb, alpha, mode = _from_pil(image)
        _warn_slow_tile(engine, *rgb.shape[:2], tile)
        out = ("float32" if mode in ("I;16", "I", "F") else
               gray_output_dtype(*rgb.shape[:2], engine.scale) if mode in ("L", "LA") else "uint8")
        y, a = upscale_planes(engine, torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1),
                              None if alpha is None else torch.from_numpy(alpha), tile=tile, out=out)
        return _to_pil(y, a, mode, image.info)

    if isinstance(image, np.ndarray):
        arr = image if image.dtype.isnative else image.astype(image.dtype.newbyteorder("="))  # '>u2' from FITS
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
            raise ValueError(f"expected an HxW or HxWxC (C = 1, 2, 3, 4) array, got shape {arr.shape}")
        if arr.dtype == np.uint8:
            white = 255.0
            gray = arr.ndim == 2 or arr.shape[2] < 3
            out = gray_output_dtype(*arr.shape[:2], engine.scale) if gray else "uint8"
        elif arr.dtype == np.uint16:
            white, out = 65535.0, "float32"
        elif np.issubdtype(arr.dtype, np.floating):
            white, out = 1.0, "float32"
            if arr.size:
                check_float_range(float(np.min(arr)), float(np.max(arr)))
        else:
            raise TypeError(f"expected a uint8, uint16 or float array, got {arr.dtype}")
        _warn_slow_tile(engine, *arr.shape[:2], tile)
        x = arr[..., None] if arr.ndim == 2 else arr
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / np.float32(white))
        channels = x.shape[2]
        color = x[..., :3] if channels >= 3 else x[..., :1].expand(-1, -1, 3)
        alpha = x[..., 3] if channels == 4 else (x[..., 1] if channels == 2 else None)
        y, a = upscale_planes(engine, color.permute(2, 0, 1).contiguous(), alpha, tile=tile, out=out)
        if channels < 3:
            y = _luma(y.astype(np.float32) / 255 if y.dtype == np.uint8 else y)[..., None]
        if arr.dtype == np.uint8 and y.dtype != np.uint8:
            y = to_uint8(y)
            a = None if a is None else to_uint8(a)
        planes = [y] + ([a[..., None]] if a is not None else [])
        res = np.concatenate(planes, axis=2) if len(planes) > 1 else y
        if arr.ndim == 2:
            res = res[..., 0]
        if arr.dtype == np.uint16:
            return np.rint(np.clip(res, 0, 1) * 65535).astype(np.uint16)
        return res.astype(arr.dtype, copy=False)

    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got {image.dtype}"
                            f"{' (divide it by 255)' if image.dtype == torch.uint8 else ''}")
        if image.dim() not in (3, 4) or image.shape[-3] not in (1, 3, 4):
            raise ValueError(f"expected a CHW or NCHW tensor with 1, 3 or 4 channels, got {tuple(image.shape)}")
        if image.numel():
            # a tensor must be float, so the advice for 0-255 values is to divide, not to pass uint8
            check_float_range(*(float(v) for v in torch.aminmax(image.detach())), uint8_ok=False)
        batch = image if image.dim() == 4 else image[None]
        if len(batch) == 0:  # an empty batch upscales to an empty batch, as a model call would
            return image.new_empty(0, image.shape[1], image.shape[2] * engine.scale, image.shape[3] * engine.scale)
        _warn_slow_tile(engine, *batch.shape[-2:], tile)
        outs = []
        for item in batch:
            item = item.detach().float()
            channels = item.shape[0]
            color = item[:3] if channels >= 3 else item.expand(3, -1, -1)
            alpha = item[3] if channels == 4 else None
            y, a = upscale_planes(engine, color.contiguous(), alpha, tile=tile, out="tensor")
            if channels == 1:
                y = (y * torch.tensor(LUMA_BT601, device=y.device)[:, None, None]).sum(0, keepdim=True)
            if a is not None:
                y = torch.cat([y, a[None]])
            outs.append(y)
        res = torch.stack(outs).to(image.dtype)
        return res if image.dim() == 4 else res[0]

    raise TypeError(f"upscale takes a PIL image, a numpy array or a torch tensor, not {type(image).__name__}")


def _warn_slow_tile(engine: Engine, height: int, width: int, tile) -> None:
    """srgan upscale's tile advice, for the API, where a tile many times the work of 'auto' was silent."""
    if tile in ("auto", 0, "0", None):
        return
    from .progress import tile_advice
    from .tiling import choose_tiles

    choose_tiles(engine, tile)  # a tile that is no size: its ValueError, before tile_advice reads it as one
    if advice := tile_advice(engine, height, width, tile, api=True):
        warnings.warn(advice, stacklevel=3)


# --------------------------------------------------------------------------- files


def resize_planes(planes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pillow's Lanczos resize of HxW or HxWxC uint8/uint16/float32 planes (what ``--outscale`` applies).

    Lanczos, as Real-ESRGAN's ``--outscale`` (OpenCV's INTER_LANCZOS4); Pillow's is separable and sparse, so
    it stays fast on 100-megapixel outputs. One plane at a time
    (Pillow has no 3-channel 16-bit or float mode); the result keeps the dtype.
    """
    from PIL import Image as PILImage

    def one(plane: np.ndarray) -> np.ndarray:
        return np.asarray(PILImage.fromarray(np.ascontiguousarray(plane)).resize((width, height),
                                                                                  PILImage.LANCZOS))

    if planes.ndim == 2:
        return one(planes)
    return np.stack([one(planes[..., c]) for c in range(planes.shape[2])], axis=-1)


def upscale_file(engine, src: str | os.PathLike, dest: str | os.PathLike, *, tile: int | str = "auto",
                 overwrite: bool = False, max_pixels: int | None = None,
                 large_output_pixels: int = LARGE_OUTPUT_PIXELS, outscale: float | None = None,
                 progress=None, png_level: int = 6) -> Path:
    """Read ``src`` (any mode), upscale, write ``dest`` (format from its extension). A bad file or output is an
    ImageError naming it; a bad model a CheckpointError, a bad argument a ValueError.

    ``engine``: from :func:`prepare`, or anything it takes (``"srresnet"``, a weights path, a module), prepared
    here for the default device and precision. ``outscale``: the final scale; the model's own output is then
    resized by :func:`resize_planes` to ``round(outscale * size)``. ``progress(n)`` is called as LR pixels are
    finished.
    """
    from . import images
    from .imagewrite import check_output_file, format_losses
    from .outputs import output_size_problem
    from .pipeline import output_dtype, write_output

    if outscale is not None and not (math.isfinite(outscale) and outscale > 0):
        raise ValueError(f"outscale must be a positive number, got {outscale}")
    # The input first (its header only): a missing file is an ImageNotFoundError, whatever the output; with an
    # existing output, os.path.samefile below raised a bare FileNotFoundError.
    images.read_size(src)
    if Path(dest).is_file() and os.path.samefile(src, dest):  # even with overwrite: the input would be lost
        raise images.ImageError(dest, "is the input file itself; refused (choose another output)")
    # write_image's own checks, before the model is loaded or run: they used to fail only after it (minutes)
    check_output_file(dest, overwrite=overwrite, png_level=png_level)
    if not isinstance(engine, Engine):  # a model name gave "'str' object has no attribute 'scale'"
        engine = prepare(engine)
    max_pixels = images.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    img = images.read_image(src, max_pixels=max_pixels)
    for warning in format_losses(dest, alpha=img.alpha is not None, bit_depth=img.bit_depth, grayscale=img.grayscale,
                                 icc=img.icc_profile is not None):
        warnings.warn(warning, stacklevel=2)  # the CLI says so; this was silent
    height, width = img.rgb.shape[:2]
    _warn_slow_tile(engine, height, width, tile)
    if problem := output_size_problem(width, height, Path(dest), outscale or engine.scale, engine.scale, max_pixels):
        raise images.ImageError(dest, problem)  # before the model runs, as srgan upscale checks it
    rgb = torch.from_numpy(img.rgb).permute(2, 0, 1)
    alpha = None if img.alpha is None else torch.from_numpy(img.alpha)
    out = output_dtype(img, engine.scale, large_output_pixels)
    y, a = upscale_planes(engine, rgb, alpha, tile=tile, out=out, progress=progress)
    rgb = img.rgb = None  # the float input is not needed while the output is encoded
    return write_output(img, y, a, dest, scale=engine.scale, outscale=outscale, overwrite=overwrite,
                        png_level=png_level)
