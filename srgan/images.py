"""Reading image files: the one place the project decodes them (finding is :mod:`srgan.imagefind`, writing
:mod:`srgan.imagewrite`).

Everything that can go wrong with a user's file becomes an :class:`ImageError` whose
message is one line, ``<file>: <problem>``, so callers can report it and carry on.

Reading (:func:`read_image`, :func:`read_rgb_uint8`)
    * Pixel formats (every Pillow mode, 16-bit PNG/TIFF at full precision, 32-bit int and float TIFF):
      :mod:`srgan.pixels`.  A CMYK file's ICC profile is dropped (it does not describe the RGB pixels).
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
and :func:`check_writable_dir`), which import from here; nothing here imports them back.

Quantisation (:func:`to_uint8`, :func:`to_uint16`): clip to [0, 1], NaN -> 0, scale by
255 or 65535 and round half to even (``np.rint``).
"""
from __future__ import annotations

import os
import stat
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .pixels import (LA16_RAWMODE, LOW_BYTE_RAWMODE, exif_upright, float_planes, icc_colour_space, pixels_by_mode,
                     rawmode, sixteen_bit_planes, with_rawmode)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Image",
    "ImageError",
    "ImageExistsError",
    "ImageNotFoundError",
    "extra_frames",
    "read_image",
    "read_rgb_uint8",
    "read_size",
    "to_uint16",
    "to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jfif", ".bmp", ".webp", ".tif", ".tiff")  # .jfif: browsers' JPEG saves

# A broken EXIF block is ignored (srgan.pixels.exif_upright); Pillow's warning about it came out as two raw lines
# naming no file, on every read. A filter, not catch_warnings, which is not thread-safe (decoding runs on a reader
# thread beside the model).
warnings.filterwarnings("ignore", message=r"(Possibly )?[Cc]orrupt EXIF", category=UserWarning)

#: Largest image (in pixels) read by default: 200 megapixels, e.g. 16000 x 12500.
#: As float32 RGB that is 2.4 GB, about the most a desktop should be asked to hold.
DEFAULT_MAX_PIXELS = 200_000_000


# --------------------------------------------------------------------------- errors


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``): a file name holding a newline split an error line in
    two, or forged a line of its own (``ok\\nsrgan: error: ...``)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ImageError(Exception):
    """An image file could not be read, written or found.

    ``str(error)`` is one line, ``"<file>: <problem>"`` (control characters in the file name escaped);
    ``.path`` and ``.problem`` hold the two parts.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{printable(str(self.path))}: {self.problem}")

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
                "(decompression bomb protection; upscale and serve take a larger --max-pixels, the API max_pixels)",
            )
        raw, trns = rawmode(im), im.info.get("transparency")
        low = None
        if raw == LA16_RAWMODE:
            with_rawmode(im, "RGBA")
        elif raw in LOW_BYTE_RAWMODE:
            f.seek(0)
            low = PILImage.open(f)
            with_rawmode(low, LOW_BYTE_RAWMODE[raw])
            try:
                low.load()
                low = exif_upright(low)
            except Exception:
                low = None  # fall back to the high bytes (8-bit precision)
            f.seek(0)
            im = PILImage.open(f)
        im.load()  # full decode now: truncation is detected here, inside the try
        im = exif_upright(im)
        if raw == LA16_RAWMODE or raw in LOW_BYTE_RAWMODE:
            return (im, *sixteen_bit_planes(im, raw, low, trns))
        try:
            color, alpha, white, grayscale = pixels_by_mode(im, raw, trns)
        except ValueError as exc:  # out of range, or a mode Pillow cannot convert
            raise ImageError(path, str(exc)) from None
        return im, color, alpha, white, grayscale


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
    if icc is not None and icc_colour_space(icc) not in (b"RGB ", b"GRAY"):
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


def is_single_channel(path: str | os.PathLike) -> bool:
    """Whether the file holds one grey channel (with or without alpha), from its header: Set14's bridge. (An RGB
    file whose channels are equal is RGB: evaluation scripts tell the two apart by the channel count.)"""
    with _header(path) as im:
        return im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


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

