"""Writing image files (:func:`write_image`), checking an output file (:func:`check_output_file`) or folder
(:func:`check_writable_dir`).

* The format comes from the extension (:data:`~srgan.images.IMAGE_EXTENSIONS`); anything else is an
  :class:`~srgan.images.ImageError`.
* Input is float RGB in [0, 1], or integer RGB: uint8 (written 8-bit) or uint16 (written 16-bit where the format
  can). Integer input is converted in row blocks, never as a whole float copy, so a 16000x12000 output costs
  little more than the array itself (the streaming path of ``srgan upscale``).
* 16-bit output: PNG (all colour types, via a small built-in encoder because Pillow cannot write 16-bit RGB)
  and TIFF grayscale without alpha. Everything else (JPEG, WebP, BMP, 16-bit RGB/LA TIFF) is written with
  8 bits per channel.
* Alpha is kept by PNG, TIFF and WebP; JPEG and BMP drop it (Pillow reads 32-bit BMP back without alpha).
  Grayscale is written as L/LA except to WebP (always RGB). Grayscale of a colour array is ITU-R BT.601 luma
  (0.299 R + 0.587 G + 0.114 B).
* JPEG is written at quality 95 without chroma subsampling; WebP lossy at quality 95.
* PNG at zlib level ``png_level`` (default 6, zlib's; ``srgan upscale --png-level`` defaults to 1). Levels 0-1
  use a built-in encoder with one fixed filter, 2-9 Pillow's (five filters tried per row: smaller, slower).
  A 4x SR photo output (1920x1280, Xeon, 2 busy cores): level 1 12.8 MPix/s, 5.90 MB; Pillow at level 1
  2.8 MPix/s, 5.82 MB; at 6 2.7 MPix/s, 5.69 MB; level 0 (stored) ~7.4 MB.
* An ICC profile is embedded for PNG, JPEG, WebP and TIFF when its colour space matches the written image
  (RGB profile for colour, GRAY for grayscale); BMP drops it.
* Atomic: the data goes to a hidden temporary file in the destination folder, is fsync'ed, then moved into
  place (``os.link`` without overwrite, so an existing file is never replaced even by a concurrent writer;
  ``os.replace`` with overwrite). On any failure the temporary file is removed, an existing destination is
  untouched and an :class:`~srgan.images.ImageError` is raised (``ENOSPC`` reads "disk full").
"""
from __future__ import annotations

import errno
import os
import secrets
import struct
import zlib
from glob import escape as glob_escape
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from .images import IMAGE_EXTENSIONS, ImageError, ImageExistsError, to_uint8, to_uint16
from .files import fsync_folder, make_folder, mkdir_problem, name_problem, remove_if_empty, temp_prefix
from .pixels import LUMA_BT601, icc_colour_space

__all__ = ["format_of", "format_losses", "check_output_file", "check_writable_dir", "write_image"]

# What each file extension is written as (IMAGE_EXTENSIONS, the ones read, are the same).
_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jfif": "JPEG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


#: Raw bytes filtered and compressed at a time by the built-in PNG encoder (~170 rows of an 8000-px RGB output).
PNG_BLOCK_BYTES = 1 << 22
#: Formats written without alpha (Pillow reads 32-bit BMP back without it).
NO_ALPHA = ("JPEG", "BMP")


def format_of(extension: str) -> str | None:
    """The Pillow format srgan writes for a file extension (``.jpeg`` -> ``JPEG``), or None."""
    return _FORMATS.get(extension.lower())


def format_losses(dest: str | os.PathLike, *, alpha: bool, bit_depth: int = 8, grayscale: bool = False,
                  icc: bool = False) -> list[str]:
    """Warnings for what ``dest``'s format drops of an image with (or without) ``alpha``, of ``bit_depth`` bits:
    the alpha in JPEG and BMP; 16 bits in a colour or alpha TIFF, which the format could hold but srgan's writer
    cannot (one came out 8-bit without a word: 211 levels left of 18,808). JPEG, WebP and BMP are 8-bit formats."""
    fmt, said = _FORMATS.get(Path(dest).suffix.lower()), []
    if alpha and fmt in NO_ALPHA:
        said.append(f"{dest}: {fmt} has no transparency; the input's alpha is dropped (write .png, .webp or .tif "
                    "to keep it)")
    if bit_depth == 16 and fmt == "TIFF" and not (grayscale and not alpha):
        said.append(f"{dest}: srgan writes colour or alpha TIFF with 8 bits per channel; the input's 16 bits are "
                    "rounded (write .png to keep them)")
    if icc and fmt == "BMP":  # an Adobe RGB photo's colours were shown as sRGB without a word
        said.append(f"{dest}: BMP cannot hold the input's ICC colour profile; it is dropped and colours will look "
                    "different (write .png, .jpg, .webp or .tif to keep it)")
    return said


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _write_png(f, planes: np.ndarray, icc_profile: bytes | None, level: int, rows_ready=None) -> None:
    """Write a PNG (gray, gray+alpha, RGB or RGBA from HxWxC uint8 or uint16) in row blocks.

    A minimal encoder: IHDR, optional iCCP, IDAT (each row with the "Sub" filter), IEND. Pillow cannot write
    16-bit colour PNGs; for 8 bits it tries five filters on every row, which at zlib level 1 costs 4x the
    compression itself (12.8 vs 2.8 MPix/s on a 1920x1280 SR output, Xeon, for 1.4% more bytes).
    ``rows_ready(y)``, if given, is called before rows up to ``y`` are read: it returns once they are final.
    """
    h, w, c = planes.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    depth = planes.dtype.itemsize * 8
    bpp = planes.dtype.itemsize * c
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)))
    if icc_profile:
        f.write(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile)))
    z = zlib.compressobj(level)
    rows_per_block = max(1, PNG_BLOCK_BYTES // max(1, w * bpp))
    for y0 in range(0, h, rows_per_block):
        if rows_ready is not None:
            rows_ready(min(h, y0 + rows_per_block))
        block = planes[y0 : y0 + rows_per_block].astype(">u2" if depth == 16 else np.uint8, copy=False)
        block = block.reshape(-1, w * c).view(np.uint8)
        filtered = np.empty((block.shape[0], w * bpp + 1), np.uint8)
        filtered[:, 0] = 1  # Sub: each byte minus the byte one pixel to the left
        filtered[:, 1 : bpp + 1] = block[:, :bpp]
        np.subtract(block[:, bpp:], block[:, :-bpp], out=filtered[:, bpp + 1 :])
        data = z.compress(filtered.tobytes())
        if data:
            f.write(_png_chunk(b"IDAT", data))
    f.write(_png_chunk(b"IDAT", z.flush()))
    f.write(_png_chunk(b"IEND", b""))


def _integer_planes(rgb: np.ndarray, alpha: np.ndarray | None, grayscale: bool) -> np.ndarray:
    """HxWxC (gray or RGB, + alpha) in ``rgb``'s integer dtype, in row blocks: a huge image never becomes float."""
    channels = (1 if grayscale else 3) + (alpha is not None)
    if channels == 3:
        return rgb
    top, quantise = (255, to_uint8) if rgb.dtype == np.uint8 else (65535, to_uint16)
    out = np.empty(rgb.shape[:2] + (channels,), rgb.dtype)
    for y0 in range(0, rgb.shape[0], 1024):
        rows = slice(y0, y0 + 1024)
        if grayscale:
            out[rows, :, 0] = quantise(rgb[rows].astype(np.float32) @ (LUMA_BT601 / top))
        else:
            out[rows, :, :3] = rgb[rows]
        if alpha is not None:
            out[rows, :, -1] = alpha[rows]
    return out


def _uint16_to_uint8(data: np.ndarray) -> np.ndarray:
    out = np.empty(data.shape, np.uint8)
    for y0 in range(0, data.shape[0], 1024):
        out[y0:y0 + 1024] = to_uint8(data[y0:y0 + 1024].astype(np.float32) / 65535)
    return out


def _streams(fmt: str, rgb: np.ndarray, alpha, grayscale: bool, png_level: int) -> bool:
    """Whether the image can be encoded while its later rows are still being computed (``rows_ready``)."""
    return fmt == "PNG" and png_level <= 1 and rgb.dtype == np.uint8 and alpha is None and not grayscale


def _encoder(fmt: str, rgb, alpha, bit_depth: int, grayscale: bool, icc_profile, png_level: int, rows_ready=None):
    """Return ``save(f)`` that encodes the image into an open binary file."""
    if fmt == "WEBP":
        grayscale = False  # WebP has no grayscale mode
    if fmt in NO_ALPHA:
        alpha = None
    if icc_profile is not None and icc_colour_space(icc_profile) != (b"GRAY" if grayscale else b"RGB "):
        icc_profile = None
    if fmt == "BMP":
        icc_profile = None

    if rgb.dtype == np.uint8:
        data = _integer_planes(rgb, alpha, grayscale)
    elif rgb.dtype == np.uint16:
        data = _integer_planes(rgb, alpha, grayscale)
        if fmt == "PNG":
            return lambda f: _write_png(f, data, icc_profile, png_level)
        if fmt == "TIFF" and data.shape[2] == 1:
            im, data = PILImage.fromarray(data[..., 0]), None  # mode I;16
        else:
            data = _uint16_to_uint8(data)
    else:
        planes = [np.asarray(rgb, np.float32) @ LUMA_BT601] if grayscale else [rgb[..., i] for i in range(3)]
        if alpha is not None:
            planes.append(alpha)
        if bit_depth == 16 and fmt == "PNG":
            data16 = to_uint16(np.stack(planes, axis=-1))
            return lambda f: _write_png(f, data16, icc_profile, png_level)
        if bit_depth == 16 and fmt == "TIFF" and grayscale and alpha is None:
            data = None
            im = PILImage.fromarray(to_uint16(planes[0]))  # mode I;16
        else:
            data = to_uint8(np.stack(planes, axis=-1))
    if data is not None and fmt == "PNG" and png_level <= 1:  # fast levels: one fixed filter (see _write_png)
        return lambda f: _write_png(f, data, icc_profile, png_level, rows_ready)
    if data is not None:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[data.shape[2]]
        im = PILImage.fromarray(data[..., 0] if mode == "L" else data, mode=mode)
    options: dict = {}
    if icc_profile is not None:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=95)
    elif fmt == "PNG":
        options.update(compress_level=png_level)
    return lambda f: im.save(f, format=fmt, **options)


def remove_partial(dest: str | os.PathLike) -> None:
    """Remove the temporary files of writes to ``dest`` still in progress (another thread's, interrupted)."""
    dest = Path(dest)
    for tmp in dest.parent.glob(f"{glob_escape(temp_prefix(dest))}*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass


def _write_problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full (no space left on device); nothing was written"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "read-only file system"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write file ({exc.strerror})"
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot encode image ({detail})"


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False, png_level: int = 6) -> str:
    """The format ``path`` is written in, or the error :func:`write_image` raises for it before encoding.

    An unknown extension, a folder or, without ``overwrite``, an existing file is an :class:`ImageError`; a
    ``png_level`` outside 0-9 a ``ValueError``. Callers with long work before the write (:func:`srgan.upscale_file`)
    call it first, so a bad output fails at once and in write_image's words.
    """
    dest = Path(path)
    if str(path).endswith(("/", os.sep)):  # Path() drops the slash: 'out.png/' became a file called out.png
        raise ImageError(path, "ends with a slash, which names a folder; name the output file")
    suffix = dest.suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        what = f"unknown extension {dest.suffix!r}" if suffix else "no file extension"
        raise ImageError(path, f"{what}: cannot choose an output format (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if dest.is_dir():
        raise ImageError(path, "is a folder")
    if not overwrite and os.path.lexists(dest):
        raise ImageExistsError(path, "already exists (pass overwrite=True / --overwrite to replace it)")
    problem = name_problem(dest)
    if problem:
        raise ImageError(path, problem)
    if isinstance(png_level, bool) or not isinstance(png_level, (int, np.integer)) or not 0 <= png_level <= 9:
        raise ValueError(f"png_level must be a whole number from 0 (stored) to 9 (smallest), got {png_level!r}")
    return fmt


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int | None = None,
    grayscale: bool = False,
    icc_profile: bytes | None = None,
    overwrite: bool = False,
    png_level: int = 6,
    rows_ready=None,
) -> Path:
    """Write RGB (HxWx3, float in [0, 1], uint8 or uint16) to ``path``, atomically; return the path.

    Integer input (with an alpha of the same dtype) gives its own bit depth (uint16: 16 bits where the format
    can) and is never copied as a whole to float, for very large images. ``bit_depth`` (8 or 16) is what float
    input is written with (None: 8); for integer input it may only repeat the dtype's.

    ``rows_ready(y)`` lets the write start before ``rgb`` is complete: it is called with a row count and returns
    once rows ``[0, y)`` are final (or raises to abandon the write). 8-bit RGB PNG at levels 0-1 is encoded band
    by band as rows arrive; every other case waits for the whole image first.

    The format follows the extension; see the module docstring for what each format
    keeps.  Missing parent folders are created.  Without ``overwrite`` an existing
    ``path`` raises :class:`ImageExistsError` and is left untouched.
    """
    dest = Path(path)
    fmt = check_output_file(path, overwrite=overwrite, png_level=png_level)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValueError(f"rgb must be a non-empty HxWx3 array, got shape {rgb.shape}")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must have shape {rgb.shape[:2]}, got {alpha.shape}")
    if bit_depth not in (None, 8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
    if rgb.dtype in (np.uint8, np.uint16):
        bits = 8 if rgb.dtype == np.uint8 else 16
        bit_depth = bits if bit_depth is None else bit_depth  # uint16 with the default was refused as 8-bit
        if bit_depth != bits or (alpha is not None and alpha.dtype != rgb.dtype):
            raise ValueError(f"{rgb.dtype} rgb is written with bit_depth={bits}, with a {rgb.dtype} alpha")

    bit_depth = bit_depth or 8
    streams = rows_ready is not None and _streams(fmt, rgb, alpha, grayscale, png_level)
    if rows_ready is not None and not streams:
        rows_ready(rgb.shape[0])
    save = _encoder(fmt, rgb, alpha, bit_depth, grayscale, icc_profile, png_level, rows_ready if streams else None)

    folder = dest.parent
    try:
        made = make_folder(folder)
    except OSError as exc:  # "cannot write file (File exists)" for a parent that is a file
        raise ImageError(path, f"cannot create its folder ({mkdir_problem(exc)})") from exc
    tmp = None
    try:
        for _ in range(100):
            candidate = folder / f"{temp_prefix(dest)}{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise OSError(errno.EEXIST, "could not create a temporary file")
        with os.fdopen(fd, "wb") as f:
            save(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if dest appeared meanwhile: never clobbers
            except FileExistsError:
                raise ImageExistsError(path, "already exists (pass overwrite=True / --overwrite to replace it)") from None
            except OSError:  # file system without hard links
                if os.path.lexists(dest):
                    raise ImageExistsError(path, "already exists (pass overwrite=True / --overwrite to replace it)") from None
                os.replace(tmp, dest)
        fsync_folder(folder)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:  # the disk is gone: nothing more to tidy
                pass
        remove_if_empty(made)  # a failed write leaves no folder it made
        if isinstance(exc, ImageError) or not isinstance(exc, Exception):
            raise
        raise ImageError(path, _write_problem(exc)) from exc
    if tmp is not None:
        try:
            os.unlink(tmp)  # the hard link's other name (os.replace leaves none)
        except OSError:
            pass
    return dest


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written in it.

    Call it before starting work so that a bad output folder fails at once.  Raises
    :class:`ImageError` with the reason; returns the folder as a ``Path``.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ImageError(path, "exists and is not a folder")
    try:
        made = make_folder(folder)
    except OSError as exc:
        raise ImageError(path, f"cannot create output folder ({mkdir_problem(exc)})") from exc
    probe = folder / f".srgan-write-test-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_if_empty(made)
        raise ImageError(path, f"output folder is not writable ({exc.strerror or exc})") from exc
    return folder
