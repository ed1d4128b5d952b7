"""The pre-decoded training-image cache: each image decoded once, and its MATLAB LR made once.

An entry is two uint8 ``.npy`` files in ``<cache dir>/decoded-v<CACHE_VERSION>/``, named by the sha256 of
(absolute path, mtime, size, scale, inode, ctime):

* ``<key>.hr.npy``: the image as RGB (:func:`srgan.images.read_rgb_uint8`), mod-cropped top-left to a
  multiple of ``scale``, exactly as a benchmark HR is;
* ``<key>.lr.npy``: MATLAB ``imresize(hr, 1/scale, 'bicubic')`` of that *whole* image on uint8 (the
  recipe of the benchmark LR PNGs), so a crop of it at ``HR crop / scale`` is
  exactly the matching crop of a benchmark-style LR (a crop downscaled on its own differs in its outer
  2-px ring, by up to 13 levels).

Samples are cut from ``np.load(..., mmap_mode='r')``. Entries are written atomically (LR first, so an HR
file implies its LR), so several processes may build the same cache; a changed file gets a new key. Bump
``CACHE_VERSION`` whenever what an entry holds, or how it is named, changes: older folders are then never
read, and may be deleted (``decoded/`` held the un-cropped HR only; ``decoded-v2/`` was named without inode
and ctime).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .files import atomic_write
from .images import ImageError, read_rgb_uint8
from .imresize import imresize_np, mod_crop

CACHE_VERSION = 3


def load_hr(path: Path, scale: int) -> np.ndarray:
    """The training HR of an image file: RGB uint8, mod-cropped to a multiple of ``scale``."""
    return np.ascontiguousarray(mod_crop(read_rgb_uint8(path), scale))


class ImageCache:
    """The entries of one cache folder for one ``scale``. Raises ``OSError`` if the folder is not writable."""

    def __init__(self, cache_dir, scale: int):
        self.folder = Path(cache_dir).expanduser() / f"decoded-v{CACHE_VERSION}"
        self.scale = int(scale)
        self.folder.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=self.folder, prefix=".probe-").close()

    def entry(self, path: Path) -> tuple[Path, Path]:
        """``(hr file, lr file)`` of ``path`` as it is now (``OSError`` if it cannot be stat'ed)."""
        st = path.stat()
        # inode and ctime too: a file replaced by one of the same size with its mtime kept (cp -p, tar, unzip; a
        # BMP's size follows from its dimensions) was served from the old entry. Copy tools cannot set ctime back.
        key = (f"{os.path.abspath(path)}\0{st.st_mtime_ns}\0{st.st_size}\0{self.scale}\0{st.st_ino}"
               f"\0{st.st_ctime_ns}")
        stem = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        return self.folder / f"{stem}.hr.npy", self.folder / f"{stem}.lr.npy"

    def shape(self, entry: tuple[Path, Path]) -> tuple[int, int] | None:
        """(height, width) of a complete, consistent entry; None when missing or damaged (rebuild it)."""
        try:
            hr, lr = (np.load(f, mmap_mode="r") for f in entry)
        except (OSError, ValueError):
            return None
        s = self.scale
        if hr.ndim != 3 or hr.shape[2] != 3 or lr.shape != (hr.shape[0] // s, hr.shape[1] // s, 3):
            return None
        return hr.shape[:2]

    def build(self, path: Path, entry: tuple[Path, Path], min_size: int) -> tuple[int, int]:
        """Decode ``path`` into ``entry``; returns the HR's (height, width). ``ImageError`` for a bad file.

        An image with a side under ``min_size`` (the crop) is measured but not stored: it is never sampled.
        """
        hr = load_hr(path, self.scale)
        if min(hr.shape[:2]) >= min_size:
            _save_npy_atomic(entry[1], imresize_np(hr, 1.0 / self.scale))
            _save_npy_atomic(entry[0], hr)
        return hr.shape[:2]

    @staticmethod
    def load(entry: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
        """``(hr, lr)`` memory-mapped, read-only."""
        return np.load(entry[0], mmap_mode="r"), np.load(entry[1], mmap_mode="r")

    def fill(self, files: list[Path], min_size: int, progress: bool, report_bad: Callable[[Exception, Path], None]):
        """``[(path, entry, (h, w))]`` for every file that decodes; builds what is missing (tqdm bar).

        Images under ``min_size`` keep no entry, so they are decoded again at each start only to be skipped.
        """
        from tqdm import tqdm

        entries, todo = [], []
        for path in files:
            try:
                entry = self.entry(path)
            except OSError as exc:
                report_bad(ImageError(path, exc.strerror or str(exc)), path)
                continue
            entries.append([path, entry, self.shape(entry)])
            if entries[-1][2] is None:
                todo.append(len(entries) - 1)
        if todo:
            bar = tqdm(todo, desc="srgan: decoding training images into cache", unit="img",
                       disable=None if progress else True, dynamic_ncols=True)  # None: off in a pipe or file
            for k in bar:
                path, entry, _ = entries[k]
                try:
                    entries[k][2] = self.build(path, entry, min_size)
                except ImageError as exc:
                    entries[k] = None
                    bar.clear()
                    report_bad(exc, path)
            bar.close()
        return [tuple(e) for e in entries if e is not None]


def _save_npy_atomic(target: Path, arr: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.save would append ".npy" to a path
            np.save(handle, np.ascontiguousarray(arr))

    atomic_write(target, write)
