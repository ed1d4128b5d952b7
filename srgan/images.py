"""Reading, writing and finding image files: the one place the project touches them.

Everything that can go wrong with a user's file becomes an :class:`ImageError` whose
message is one line, ``<file>: <problem>``, so callers can report it and carry on.

Reading (:func:`read_image`, :func:`read_rgb_uint8`)
    * Every Pillow mode becomes RGB: L/1 are replicated to three channels; LA, RGBA, PA,
      P with transparency and L/RGB with a PNG ``tRNS`` colour give an alpha plane that is
      returned separately (never composited); P, CMYK, YCbCr go through Pillow's
      ``convert("RGB")``.  CMYK uses Pillow's plain conversion, not a colour-managed one,
      and the (CMYK) ICC profile is dropped.
    * 16-bit data is divided by 65535 exactly.  Pillow 13 has no 16-bit-per-channel
      RGB mode: it decodes 48/64-bit PNG and TIFF to 8-bit by keeping the high byte of
      each sample.  For those files we decode the data a second time with Pillow's
      opposite-endian raw mode, which yields the low bytes, and recombine them, so
      16-bit RGB(A) and gray+alpha PNG/TIFF are read at full precision.  If that ever
      fails (another Pillow version) we fall back to the high bytes (8-bit precision).
      Mode ``I`` (32-bit int) is read as 16-bit when its values fit [0, 65535], ``F`` (float
      TIFF) as 16-bit when they lie in [0, 1] (half an 8-bit step of rounding allowed); values
      outside are an ImageError, not clipped.
    * EXIF orientation is applied (:func:`PIL.ImageOps.exif_transpose`).  An unreadable
      EXIF block is ignored rather than making the whole image unreadable.
    * Multi-frame files (GIF, APNG, multi-page TIFF): the first frame is read; :func:`extra_frames`
      counts the others.
    * Decompression bombs: images with more than ``max_pixels`` pixels are refused
      (default :data:`DEFAULT_MAX_PIXELS` = 200 megapixels, e.g. 16000x12500; ``None``
      disables the check).  Pillow's own bomb check is switched off while we open a file
      so that our limit is the only one and Pillow's warning/error never escape.
    * The whole file is decoded inside :func:`read_image`, so truncated data is detected
      when reading (unless the caller set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``).

Finding: :mod:`srgan.imagefind` (:func:`find_images`); writing: :mod:`srgan.imagewrite` (:func:`write_image`
and :func:`check_writable_dir`). All three are importable from here too.

Quantisation (:func:`to_uint8`, :func:`to_uint16`): clip to [0, 1], NaN -> 0, scale by
255 or 65535 and round half to even (``np.rint``).
"""
from __future__ import annotations

import math
import os
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Image",
    "ImageError",
    "ImageExistsError",
    "ImageNotFoundError",
    "check_writable_dir",
    "extra_frames",
    "find_images",
    "pixels_by_mode",
    "read_image",
    "read_rgb_uint8",
    "read_size",
    "to_uint16",
    "to_uint8",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

#: Largest image (in pixels) read by default: 200 megapixels, e.g. 16000 x 12500.
#: As float32 RGB that is 2.4 GB, about the most a desktop should be asked to hold.
DEFAULT_MAX_PIXELS = 200_000_000

_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


# --------------------------------------------------------------------------- errors


class ImageError(Exception):
    """An image file could not be read, written or found.

    ``str(error)`` is one line, ``"<file>: <problem>"``; ``.path`` and ``.problem`` hold
    the two parts.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.problem))


class ImageNotFoundError(ImageError, FileNotFoundError):
    """A file, folder or glob pattern names nothing (also a ``FileNotFoundError``)."""


class ImageExistsError(ImageError, FileExistsError):
    """The output exists and ``overwrite`` was not given (also a ``FileExistsError``)."""


# --------------------------------------------------------------------------- reading


@dataclass
class Image:
    """A decoded image, ready for the network.

    ``rgb`` is float32 HxWx3 in [0, 1]; ``alpha`` float32 HxW in [0, 1] or None;
    ``bit_depth`` is 8 or 16 (of the source); ``grayscale`` is True when the source had
    one colour channel; ``icc_profile`` the embedded profile (None for CMYK sources);
    ``mode`` Pillow's mode of the file as opened.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    grayscale: bool = False
    icc_profile: bytes | None = None
    mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), like PIL."""
        return (int(self.rgb.shape[1]), int(self.rgb.shape[0]))


# Pillow checks its global MAX_IMAGE_PIXELS while opening a file.  We switch it off while
# any read is in progress (reference-counted, so parallel reads in threads don't serialise)
# and apply our own per-call limit instead.
_bomb_lock = threading.Lock()
_bomb_users = 0
_bomb_saved: int | None = None


@contextmanager
def _pillow_bomb_check_off() -> Iterator[None]:
    global _bomb_users, _bomb_saved
    with _bomb_lock:
        if _bomb_users == 0:
            _bomb_saved = PILImage.MAX_IMAGE_PIXELS
            PILImage.MAX_IMAGE_PIXELS = None
        _bomb_users += 1
    try:
        yield
    finally:
        with _bomb_lock:
            _bomb_users -= 1
            if _bomb_users == 0:
                PILImage.MAX_IMAGE_PIXELS = _bomb_saved


# High-byte raw modes Pillow uses for 16-bit colour data -> raw mode giving the low bytes.
_LOW_BYTE_RAWMODE = {
    "RGB;16B": "RGB;16L",
    "RGB;16L": "RGB;16B",
    "RGBA;16B": "RGBA;16L",
    "RGBA;16L": "RGBA;16B",
    "RGBX;16B": "RGBX;16L",
    "RGBX;16L": "RGBX;16B",
}
# 16-bit gray+alpha PNG: Pillow reads it as RGBA from "LA;16B"; the 8-bit "RGBA" raw mode
# has the same 4 bytes per pixel and hands us the bytes L_hi, L_lo, A_hi, A_lo.
_LA16_RAWMODE = "LA;16B"
_LOW_BIT_SCALE = {"1": 255, "L;2": 85, "L;4": 17}  # PNG tRNS value -> 8-bit pixel value


def _rawmode(im: PILImage.Image) -> str | None:
    if not im.tile:
        return None
    args = im.tile[0].args
    if isinstance(args, tuple):
        args = args[0] if args else None
    return args if isinstance(args, str) else None


def _with_rawmode(im: PILImage.Image, rawmode: str) -> None:
    """Make ``im`` (opened, not loaded) decode its data with another raw mode."""
    tiles = []
    for tile in im.tile:
        args = tile.args
        args = (rawmode, *args[1:]) if isinstance(args, tuple) else rawmode
        tiles.append(tile._replace(args=args))
    im.tile = tiles


def _problem(exc: BaseException) -> str:
    """Describe an exception raised while opening or decoding a file."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file, or a format Pillow cannot read"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return f"cannot read file ({exc.strerror})"
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return f"truncated or corrupt image ({detail})"


@contextmanager
def _decoding(path: str | os.PathLike) -> Iterator[None]:
    """Turn whatever Pillow raises on a bad file into a one-line ImageError."""
    try:
        yield
    except ImageError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageError(path, f"refused as a possible decompression bomb ({exc})") from exc
    except Exception as exc:  # Pillow's plugins raise many types for corrupt data
        raise ImageError(path, _problem(exc)) from exc


def _check_file(path: str | os.PathLike) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageNotFoundError(path, "no such file") from None
    except OSError as exc:
        raise ImageError(path, _problem(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")


def _orient(im: PILImage.Image) -> PILImage.Image:
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block should not make the pixels unreadable
        return im
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(im)
    return im


def check_float_range(lo: float, hi: float) -> None:
    """Float images must lie in [0, 1]: a 0-255 float image would otherwise be clipped to white without a word,
    and NaN would come out as NaN. Half an 8-bit step of slack keeps rounding noise (1.0000001) acceptable."""
    slack = 0.5 / 255
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("the image has NaN or infinite values")
    if lo < -slack or hi > 1 + slack:
        hint = " (a 0-255 image? divide it by 255, or pass uint8)" if 2 < hi <= 255 + slack else ""
        raise ValueError(f"float image values must lie in [0, 1], got [{lo:g}, {hi:g}]{hint}")


def check_16bit_range(lo: int, hi: int) -> None:
    """32-bit integer images must fit 16 bits: clipping would give a white (or black) image without a word."""
    if lo < 0 or hi > 65535:
        raise ValueError(f"32-bit integer values {lo}..{hi} do not fit 16 bits (0..65535); scale the image to 16 bits "
                         "first")


def _decode(path: str | os.PathLike, max_pixels: int | None):
    """Open, check and fully decode ``path``.

    Returns ``(im, color, alpha, scale, grayscale)`` where ``color`` is an integer or float
    HxW or HxWx3 array, ``alpha`` an array or None, and ``scale`` the value of white.
    """
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer or None, not {max_pixels!r}")
    _check_file(path)
    with _decoding(path), _pillow_bomb_check_off(), open(path, "rb") as f:
        im = PILImage.open(f)
        w, h = im.size
        if max_pixels is not None and w * h > max_pixels:
            raise ImageError(
                path,
                f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                "(decompression bomb protection; raise max_pixels to allow it)",
            )
        rawmode, info = _rawmode(im), dict(im.info)
        low = None
        if rawmode == _LA16_RAWMODE:
            _with_rawmode(im, "RGBA")
        elif rawmode in _LOW_BYTE_RAWMODE:
            f.seek(0)
            low = PILImage.open(f)
            _with_rawmode(low, _LOW_BYTE_RAWMODE[rawmode])
            try:
                low.load()
                low = _orient(low)
            except Exception:
                low = None  # fall back to the high bytes (8-bit precision)
            f.seek(0)
            im = PILImage.open(f)
        im.load()  # full decode now: truncation is detected here, inside the try
        im = _orient(im)

        alpha = None
        trns = info.get("transparency")
        if rawmode == _LA16_RAWMODE:
            b = np.asarray(im).astype(np.uint16)
            color = (b[..., 0] << 8) | b[..., 1]
            alpha = (b[..., 2] << 8) | b[..., 3]
            return im, color, alpha, 65535, True
        if rawmode in _LOW_BYTE_RAWMODE:
            hi = np.asarray(im).astype(np.uint16)
            full = hi * 257 if low is None else (hi << 8) | np.asarray(low)
            color, alpha = full[..., :3], (full[..., 3] if full.shape[2] == 4 else None)
            if alpha is None and isinstance(trns, tuple) and len(trns) == 3 and low is not None:
                alpha = np.where(np.all(color == np.array(trns), axis=-1), 0, 65535)
            return im, color, alpha, 65535, False
        try:
            color, alpha, white, grayscale = pixels_by_mode(im, rawmode, trns)
        except ValueError as exc:  # out of range, or a mode Pillow cannot convert
            raise ImageError(path, str(exc)) from None
        return im, color, alpha, white, grayscale


def pixels_by_mode(im: PILImage.Image, rawmode: str | None = None, transparency=None):
    """The pixels of a decoded Pillow image, by its mode: ``(colour, alpha, white, grayscale)``, where ``colour``
    is HxW (grayscale) or HxWx3, ``alpha`` an array or None and ``white`` the value of white (255, 65535, or 1
    for float). The one mode dispatch of files (:func:`read_image`) and of the API's PIL inputs. ``rawmode``
    (the file's) scales a low-bit PNG's ``tRNS`` value; ``transparency`` defaults to ``im.info``'s. ValueError
    for 32-bit values beyond 16 bits, floats outside [0, 1], or a mode Pillow cannot convert to RGB."""
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
            value = trns * _LOW_BIT_SCALE.get(rawmode or mode, 1)
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


def read_image(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Read any supported image file as float RGB in [0, 1] plus alpha and metadata.

    Raises :class:`ImageError` (one line naming the file) for a missing file, a folder,
    a permission problem, an empty file, a non-image, truncated or corrupt data, or an
    image with more than ``max_pixels`` pixels.
    """
    im, color, alpha, scale, grayscale = _decode(path, max_pixels)
    mode = im.mode
    rgb, alpha = float_planes(color, alpha, scale)
    icc = im.info.get("icc_profile") or None
    if icc is not None and _icc_space(icc) not in (b"RGB ", b"GRAY"):
        icc = None  # a CMYK/Lab profile does not describe our RGB pixels
    return Image(
        rgb=rgb,
        alpha=alpha,
        bit_depth=16 if scale != 255 else 8,
        grayscale=grayscale,
        icc_profile=icc,
        mode=mode,
    )


@contextmanager
def _header(path: str | os.PathLike) -> Iterator[PILImage.Image]:
    """The file opened by Pillow for what its header says, pixels not decoded; ImageError if it cannot be read."""
    _check_file(path)
    with _decoding(path), _pillow_bomb_check_off(), PILImage.open(path) as im:
        yield im


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels; ImageError if it cannot be read."""
    with _header(path) as im:
        return im.size


def extra_frames(path: str | os.PathLike) -> int:
    """Frames after the first in an animated GIF/PNG/WebP or multi-page TIFF (only the first is read); else 0.

    MPO files (JPEGs from many cameras and phones) count as one frame: their other pictures are previews or
    depth maps of the same photo.  An unreadable file counts 0 here; reading it reports the problem.
    """
    try:
        with _header(path) as im:
            if im.format == "MPO" or not getattr(im, "is_animated", False):
                return 0
            return int(im.n_frames) - 1
    except ImageError:
        return 0


def read_rgb_uint8(path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB (for benchmarks and training data).

    Alpha is dropped (not composited), grayscale replicated, 16-bit rounded with
    :func:`to_uint8`.  For 8-bit images this equals Pillow's ``convert("RGB")`` exactly,
    and for every image it equals ``to_uint8(read_image(path).rgb)``.
    """
    im, color, alpha, scale, grayscale = _decode(path, max_pixels)
    if scale == 255:
        out = color.astype(np.uint8, copy=False)
    else:
        x = color.astype(np.float32)
        if scale != 1:
            x /= np.float32(scale)
        out = to_uint8(x)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.require(out, requirements=["C", "W"])  # Pillow's arrays can be read-only


# --------------------------------------------------------------------------- quantising


def _quantise(x: np.ndarray, top: int, dtype) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected a float array in [0, 1], got dtype {x.dtype}")
    y = np.clip(x, 0.0, 1.0)  # keeps float32 as float32
    np.nan_to_num(y, copy=False, nan=0.0)
    y *= top
    np.rint(y, out=y)  # round half to even
    return y.astype(dtype)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8: clip, NaN -> 0, ``x * 255`` rounded half to even."""
    return _quantise(x, 255, np.uint8)


def to_uint16(x: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint16: clip, NaN -> 0, ``x * 65535`` rounded half to even."""
    return _quantise(x, 65535, np.uint16)


# --------------------------------------------------------------------------- shared with writing


LUMA_BT601 = np.array([0.299, 0.587, 0.114], np.float32)  # for writing colour data as grayscale



def _icc_space(profile: bytes) -> bytes:
    """The data colour space of an ICC profile (b'RGB ', b'GRAY', b'CMYK', ...)."""
    return bytes(profile[16:20]) if len(profile) >= 20 else b""


# Finding and writing live in imagefind.py and imagewrite.py; these names stay importable from here.
from .imagefind import find_images  # noqa: E402
from .imagewrite import check_writable_dir, write_image  # noqa: E402
