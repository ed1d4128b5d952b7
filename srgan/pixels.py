"""From a decoded Pillow image to numpy planes: the pixel formats of every file and PIL input.

* Every Pillow mode becomes RGB (:func:`pixels_by_mode`): L/1 are replicated to three channels; LA, RGBA, PA,
  P with transparency and L/RGB with a PNG ``tRNS`` colour give an alpha plane that is returned separately
  (never composited); P, CMYK, YCbCr go through Pillow's ``convert("RGB")``. CMYK uses Pillow's plain
  conversion, not a colour-managed one.
* 16-bit data is divided by 65535 exactly. Pillow 13 has no 16-bit-per-channel RGB mode: it decodes 48/64-bit
  PNG and TIFF to 8-bit by keeping the high byte of each sample. For those files the reader decodes the data a
  second time with the opposite-endian raw mode (:data:`LOW_BYTE_RAWMODE`), which yields the low bytes, and
  :func:`sixteen_bit_planes` recombines them, so 16-bit RGB(A) and gray+alpha PNG/TIFF keep full precision.
  Mode ``I`` (32-bit int) is read as 16-bit when its values fit [0, 65535], ``F`` (float TIFF) as 16-bit when
  they lie in [0, 1] (half an 8-bit step of rounding allowed); values outside are a ValueError, not clipped.
* :func:`exif_upright` applies EXIF orientation; :func:`icc_colour_space` says what an ICC profile describes.

Nothing here opens files: :mod:`srgan.images` does, and turns these ValueErrors into one-line ImageErrors.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

#: BT.601 luma weights, for writing or upscaling colour data as grayscale.
LUMA_BT601 = np.array([0.299, 0.587, 0.114], np.float32)

#: High-byte raw modes Pillow uses for 16-bit colour data -> the raw mode giving the low bytes.
LOW_BYTE_RAWMODE = {
    "RGB;16B": "RGB;16L",
    "RGB;16L": "RGB;16B",
    "RGBA;16B": "RGBA;16L",
    "RGBA;16L": "RGBA;16B",
    "RGBX;16B": "RGBX;16L",
    "RGBX;16L": "RGBX;16B",
}
#: 16-bit gray+alpha PNG: Pillow reads it as RGBA from "LA;16B"; the 8-bit "RGBA" raw mode has the same 4 bytes
#: per pixel and hands us the bytes L_hi, L_lo, A_hi, A_lo.
LA16_RAWMODE = "LA;16B"
_LOW_BIT_SCALE = {"1": 255, "L;2": 85, "L;4": 17}  # PNG tRNS value -> 8-bit pixel value


def rawmode(im: PILImage.Image) -> str | None:
    """The raw mode an opened (not yet loaded) image will decode its data with, if Pillow says."""
    if not im.tile:
        return None
    args = im.tile[0].args
    if isinstance(args, tuple):
        args = args[0] if args else None
    return args if isinstance(args, str) else None


def with_rawmode(im: PILImage.Image, mode: str) -> None:
    """Make ``im`` (opened, not loaded) decode its data with another raw mode."""
    tiles = []
    for tile in im.tile:
        args = tile.args
        args = (mode, *args[1:]) if isinstance(args, tuple) else mode
        tiles.append(tile._replace(args=args))
    im.tile = tiles


def sixteen_bit_planes(im: PILImage.Image, raw: str, low: PILImage.Image | None, transparency=None):
    """``(colour, alpha, 65535, grayscale)`` of a 16-bit file Pillow decoded to 8 bits. For :data:`LA16_RAWMODE`
    ``im`` was decoded with the "RGBA" raw mode; for :data:`LOW_BYTE_RAWMODE` ``low`` holds the low bytes (None if
    that second decode failed: the high bytes alone, 8-bit precision)."""
    if raw == LA16_RAWMODE:
        b = np.asarray(im).astype(np.uint16)
        return (b[..., 0] << 8) | b[..., 1], (b[..., 2] << 8) | b[..., 3], 65535, True
    hi = np.asarray(im).astype(np.uint16)
    full = hi * 257 if low is None else (hi << 8) | np.asarray(low)
    color, alpha = full[..., :3], (full[..., 3] if full.shape[2] == 4 else None)
    if alpha is None and isinstance(transparency, tuple) and len(transparency) == 3 and low is not None:
        alpha = np.where(np.all(color == np.array(transparency), axis=-1), 0, 65535)
    return color, alpha, 65535, False


def exif_upright(im: PILImage.Image) -> PILImage.Image:
    """``im`` turned by its EXIF orientation; a broken EXIF block is ignored rather than making the pixels
    unreadable."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        return im
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im)
    return im


def icc_colour_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (b'RGB ', b'GRAY', b'CMYK', ...)."""
    return bytes(profile[16:20]) if len(profile) >= 20 else b""


def check_float_range(lo: float, hi: float, *, uint8_ok: bool = True) -> None:
    """Float images must lie in [0, 1]: a 0-255 float image would otherwise be clipped to white without a word,
    and NaN would come out as NaN. Half an 8-bit step of slack keeps rounding noise (1.0000001) acceptable.
    ``uint8_ok``: the caller takes uint8 too, so the advice may say "or pass uint8" (a tensor path that refuses
    uint8 must not)."""
    slack = 0.5 / 255
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("the image has NaN or infinite values")
    if lo < -slack or hi > 1 + slack:
        raise ValueError(f"float image values must lie in [0, 1], got [{lo:g}, {hi:g}]"
                         f"{float_range_hint(lo, hi, slack, uint8_ok)}")


def value_scale(lo: float, hi: float, slack: float = 0.5 / 255) -> str | None:
    """The scale that values ``lo..hi``, outside [0, 1] by more than ``slack``, most likely are on: ``"0-255"``,
    ``"16-bit"``, ``"[-1, 1]"``, ``"hdr"`` or None. The one guess behind every "divide it by ..." hint (upscale's,
    the metrics', LPIPS'): three guessers disagreed, and an unclamped 0-255 SR (0..262) was told to divide by 65535."""
    if lo < -0.5 and hi <= 1 + slack:  # GAN code (and the lpips package) keep images in [-1, 1]
        return "[-1, 1]"
    if 16 < hi <= 255 * 1.5 and lo >= -255 * 0.5:  # a 0-255 image reaches tens at least; unclamped SR overshoots
        return "0-255"
    if 255 * 1.5 < hi <= 65535.5 and lo >= -0.5:  # or scene-linear light
        return "16-bit"
    if hi > 1 + slack and lo >= -slack:  # an HDR (scene-linear) image goes a little or far past 1
        return "hdr"
    return None


def float_range_hint(lo: float, hi: float, slack: float = 0.5 / 255, uint8_ok: bool = True) -> str:
    """What to do with values ``lo..hi`` (outside [0, 1]) for a function that takes [0, 1], as " (...)", or ""."""
    return {"0-255": f" (a 0-255 image? divide it by 255{', or pass uint8' if uint8_ok else ''})",
            "16-bit": " (16-bit values? divide them by 65535; an HDR image? tone-map it to [0, 1] first)",
            "[-1, 1]": " (a [-1, 1] image? map it to [0, 1] with (x + 1) / 2)",
            "hdr": " (an HDR image? tone-map it to [0, 1] first)"}.get(value_scale(lo, hi, slack), "")


def check_16bit_range(lo: int, hi: int) -> None:
    """32-bit integer images must fit 16 bits: clipping would give a white (or black) image without a word."""
    if lo < 0 or hi > 65535:
        raise ValueError(f"32-bit integer values {lo}..{hi} do not fit 16 bits (0..65535); scale the image to 16 bits "
                         "first")


def pixels_by_mode(im: PILImage.Image, raw: str | None = None, transparency=None):
    """The pixels of a decoded Pillow image, by its mode: ``(colour, alpha, white, grayscale)``, where ``colour``
    is HxW (grayscale) or HxWx3, ``alpha`` an array or None and ``white`` the value of white (255, 65535, or 1
    for float). The one mode dispatch of files (:func:`srgan.images.read_image`) and of the API's PIL inputs.
    ``raw`` (the file's raw mode) scales a low-bit PNG's ``tRNS`` value; ``transparency`` defaults to
    ``im.info``'s. ValueError for 32-bit values beyond 16 bits, floats outside [0, 1], or a mode Pillow cannot
    convert to RGB."""
    mode = im.mode
    trns = im.info.get("transparency") if transparency is None else transparency
    alpha = None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        color = np.asarray(im).astype(np.uint16)
        if isinstance(trns, int):
            alpha = np.where(color == trns, 0, 65535)
        return color, alpha, 65535, True
    if mode == "I":
        color = np.asarray(im)
        if color.size:
            check_16bit_range(int(color.min()), int(color.max()))
        return color.astype(np.uint16), None, 65535, True
    if mode == "F":
        color = np.asarray(im, dtype=np.float32)
        if color.size:
            check_float_range(float(color.min()), float(color.max()))
        return np.clip(color, 0.0, 1.0), None, 1, True
    if mode in ("1", "L"):
        color = np.asarray(im.convert("L"))
        if isinstance(trns, int):
            value = trns * _LOW_BIT_SCALE.get(raw or mode, 1)
            alpha = np.where(color == value, 0, 255).astype(np.uint8)
        return color, alpha, 255, True
    if mode in ("LA", "La"):
        b = np.asarray(im.convert("LA"))
        return b[..., 0], b[..., 1], 255, True
    if mode == "RGB":
        color = np.asarray(im)
        if isinstance(trns, tuple) and len(trns) == 3:
            alpha = np.where(np.all(color == np.array(trns), axis=-1), 0, 255)
        return color, alpha, 255, False
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and (trns is not None or im.palette.mode == "RGBA")):
        b = np.asarray(im.convert("RGBA"))
        return b[..., :3], b[..., 3], 255, False
    try:
        converted = im.convert("RGB")  # P, RGBX, CMYK, YCbCr, HSV ...
    except ValueError as exc:
        raise ValueError(f"unsupported colour mode {mode}") from exc
    return np.asarray(converted), None, 255, False


def float_planes(color: np.ndarray, alpha: np.ndarray | None, white: int) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`pixels_by_mode`'s planes as float32 in [0, 1]: HxWx3 RGB (grayscale replicated), and alpha."""
    rgb = color.astype(np.float32)
    if white != 1:
        rgb /= np.float32(white)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    if alpha is not None:
        alpha = alpha.astype(np.float32) / np.float32(white if white != 1 else 255)
    return np.ascontiguousarray(rgb), alpha
