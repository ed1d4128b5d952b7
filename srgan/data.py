"""Training patches: aligned (LR, HR) crops of an image pool, cached, seeded per sample.

Training data (:class:`TrainDataset`)
    Any number of folder trees of images (png, jpg, jpeg, bmp, webp, tif/tiff; searched
    recursively, hidden files skipped). Each image is read as RGB and mod-cropped
    (top-left) to a multiple of ``scale``, and its LR is the MATLAB uint8 bicubic of the
    *whole* image (:func:`srgan.imresize.imresize_uint8`, the recipe that regenerates the
    benchmark ``LR_bicubic_x4`` PNGs bit for bit). A sample is an aligned pair: an HR crop
    at a multiple of ``scale`` and the LR crop at HR position / ``scale``, then the same
    random element of the dihedral group (horizontal flip, vertical flip, 90-degree
    rotation, exact pixel permutations) applied to both. So a training LR patch is
    exactly a patch of a benchmark-style LR image: no train/test mismatch in the
    degradation, its borders or its quantisation. (Downscaling each crop on its own would
    replicate the crop's edge: its outer 2-px LR ring would differ by up to 13 levels.)

    Colour handling is :func:`srgan.images.read_rgb_uint8`: grayscale is replicated to
    RGB, an alpha channel is *dropped* (not composited: the stored colour of transparent
    pixels is used as is), 16-bit data is divided by 65535 and rounded to 8 bits, EXIF
    orientation is applied.

    Bad input never kills a run: images smaller than the crop are skipped and reported
    in one warning line at start (how many, which); an unreadable or corrupt file is
    reported in one warning line naming it and skipped. No usable image at all raises a
    ``ValueError`` naming the roots. Warnings go to the ``srgan.data`` logger (printed on
    stderr when logging is not configured).

Pre-decoded cache
    With ``cache=True`` (default) every image is decoded and downscaled once into
    :mod:`srgan.imagecache` (HR and whole-image LR as uint8 ``.npy``, memory-mapped), so
    per-sample work is two crops and a flip. The cache dir is ``cache_dir``, else
    ``$SRGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/srgan``, else ``~/.cache/srgan`` (never
    next to the data, which may be read-only). If it cannot be written, one warning is
    printed and each sample decodes its image and downscales a window of it with a
    ``2 * scale`` px margin, which gives the same LR crop (the bicubic reads no further;
    tested). The cache also validates every file fully at start; without it, the first
    pass only reads headers, and a file that turns out corrupt when decoded later is
    reported once per process (main or DataLoader worker) and replaced by the next image.

Randomness
    Every random choice of sample ``i`` comes from its own generator,
    ``numpy.random.default_rng([seed, epoch, i])``. A sample therefore depends only on
    ``(seed, epoch, i)``: the same with the cache or without, with ``num_workers=0`` or
    any number of DataLoader workers, in any order. No worker seeding is needed.
    ``srgan train`` draws ``TrainDataset.sample(i, epoch)`` through :mod:`srgan.batches`,
    whose batches are a function of the step (so a resume draws what the uninterrupted run
    would have). A plain DataLoader over ``dataset[i]`` (:func:`train_loader`, seeded shuffling,
    one torch thread per worker; what ``scripts/make_int8.py`` uses) needs
    :meth:`TrainDataset.set_epoch` before each epoch, or a virtual ``length``
    (``steps * batch_size``) drawn as one epoch; otherwise epoch ``e`` repeats epoch 0's crops.

Benchmark sets and ``srgan degrade`` are :mod:`srgan.benchmark_sets`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .benchmark_sets import in_lr_folder
from .imagefind import find_images, passed_over_note
from .outputs import few, first_and_more
from .images import ImageError, read_size
from .datasets import default_cache_dir
from .imagecache import ImageCache, load_hr
from .imresize import degrade_uint8
from .files import file_identity

__all__ = ["TrainDataset", "augment", "lr_crop", "train_loader"]

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- helpers


def augment(hr: np.ndarray, hflip: bool, vflip: bool, rot90: bool) -> np.ndarray:
    """Apply horizontal flip, then vertical flip, then a 90-degree counter-clockwise rotation.

    ``hr`` is HxW or HxWxC. The 8 combinations are the 8 symmetries of the square; each is
    an exact permutation of the pixels (a view, no copy).
    """
    if hflip:
        hr = hr[:, ::-1]
    if vflip:
        hr = hr[::-1]
    if rot90:  # counter-clockwise, as np.rot90(hr, 1)
        hr = hr.swapaxes(0, 1)[::-1]
    return hr


def lr_crop(hr: np.ndarray, top: int, left: int, size: int, scale: int) -> np.ndarray:
    """The LR of ``hr[top:top+size, left:left+size]`` exactly as it is inside ``degrade_uint8(hr)``.

    ``hr``'s sides and ``top``, ``left``, ``size`` are multiples of ``scale``. An LR pixel reads HR pixels
    less than ``2 * scale`` away from its centre, so a window with that margin (cut short only at the
    image border, whose replicate padding is then the same) reproduces the whole-image downscale there.
    """
    m, s = 2 * scale, scale
    h, w = hr.shape[:2]
    t0, l0 = max(top - m, 0), max(left - m, 0)
    lr = degrade_uint8(hr[t0: min(top + size + m, h), l0: min(left + size + m, w)], s)
    return lr[(top - t0) // s: (top - t0 + size) // s, (left - l0) // s: (left - l0 + size) // s]


def to_chw_float(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float().div_(255.0)


# --------------------------------------------------------------------------- training data


def training_files(roots: Sequence[str | os.PathLike], unreadable: list[str] | None = None,
                   ) -> tuple[list[Path], list[Path], list[Path]]:
    """The image files of ``roots`` (folders or files) to train on, each file once whatever names and links reach
    it; those left out for lying in a low-resolution folder (``LR``, ``LR_bicubic_x4``, ``LRbicx4``: a
    benchmark-style folder's inputs, not HR targets, as ``srgan eval`` reads a set); and the files passed over for
    their format (a GIF). Folders that cannot be read are added to ``unreadable``, one line each."""
    files: list[Path] = []
    others: list[Path] = []
    low_res: list[Path] = []
    for root in map(Path, roots):
        try:
            found = find_images([root], others=others, unreadable=unreadable)
        except ImageError as exc:
            raise ValueError(f"training data: {exc}") from None
        if root.is_dir():
            in_lr = [in_lr_folder(f.relative_to(root).parts[:-1]) for f in found]
            low_res += [f for f, lr in zip(found, in_lr) if lr]
            found = [f for f, lr in zip(found, in_lr) if not lr]
        files.extend(found)
    seen: set[tuple[int, int]] = set()
    return [f for f in files if not ((key := file_identity(f)) in seen or seen.add(key))], low_res, others


def _fingerprint(files: list[Path]) -> dict:
    """The training image files by name and size, in order: sample i is cut from image i % n, so a resumed run
    draws the same patches only from the same files (srgan.train checks it). Names, not folders: a moved copy is
    the same. An edit that keeps a file's size is not seen (hashing every file's bytes would cost a read of the
    whole pool at every start)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{path.stat().st_size}\n".encode())
    return {"images": len(files), "sha256": digest.hexdigest()}


class TrainDataset(Dataset):
    """Random (LR, HR) training patches from folder trees of images.

    Args:
        roots: folders (searched recursively) or image files; a single path is accepted.
        crop_size: HR patch side in pixels, a multiple of ``scale``.
        scale: downscaling factor; LR patches are ``crop_size // scale`` px.
        cache: decode every image once into a uint8 ``.npy`` cache (see module doc).
        cache_dir: where; default :func:`default_cache_dir`.
        seed: base seed; sample ``i`` of epoch ``e`` uses ``default_rng([seed, e, i])``.
        length: virtual epoch length; sample ``i`` is cut from image ``i % n_images``.
            Default: one sample per image.
        progress: show the tqdm bar while building the cache.
        hold_out: ``hold_out(path)`` true for files never to train on (the validation split,
            :func:`srgan.validation.hold_out_rule`), listed in ``held_out``.

    ``dataset[i]`` is ``(lr, hr)``: float32 tensors ``(3, crop/scale, crop/scale)`` and
    ``(3, crop, crop)`` in [0, 1].
    """

    def __init__(
        self,
        roots,
        *,
        crop_size: int = 96,
        scale: int = 4,
        cache: bool = True,
        cache_dir=None,
        seed: int = 0,
        length: int | None = None,
        progress: bool = True,
        hold_out: Callable[[Path], bool] | None = None,
    ):
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        self.roots = [Path(r) for r in roots]
        if not self.roots:
            raise ValueError("TrainDataset needs at least one folder of images")
        scale, crop_size = int(scale), int(crop_size)
        if scale < 1 or crop_size < scale or crop_size % scale:
            raise ValueError(f"crop_size ({crop_size}) must be a positive multiple of scale ({scale})")
        if length is not None and int(length) < 1:
            raise ValueError(f"length must be positive, got {length}")
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.crop_size, self.scale, self.seed = crop_size, scale, int(seed)
        self.length = None if length is None else int(length)
        self.epoch = 0

        unreadable: list[str] = []
        files, low_res, others = training_files(self.roots, unreadable)
        for line in unreadable:  # its images were left out of training without a word
            log.warning("%s", line)
        if low_res:  # named: "lr-export" is a low-resolution folder by its name
            folders = list(dict.fromkeys(str(f.parent) for f in low_res))
            log.warning("left out %d image(s) in low-resolution folders (%s; LR, LR_*, LRbicx4, ...): inputs, not "
                        "training targets; rename a folder to train on it", len(low_res), first_and_more(folders))
        if others:  # a GIF in the pool was passed over without a word
            log.warning("%s", passed_over_note(others))
        self.files_found = len(files)
        self.held_out = [f for f in files if hold_out is not None and hold_out(f)]
        files = [f for f in files if not (hold_out is not None and hold_out(f))]
        # Before decoding: with the cache every file is decoded, without it only headers are read, so which broken
        # files are found differs, and --resume may switch the cache.
        self.fingerprint = _fingerprint(files)

        self.cache: ImageCache | None = None
        if cache:
            folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            try:
                self.cache = ImageCache(folder, scale)
            except OSError as exc:
                log.warning("cache folder %s is not writable (%s); decoding images per sample instead",
                            folder, exc.strerror or exc)
        self.skipped_bad: list[Path] = []
        if self.cache is not None:
            entries = self.cache.fill(files, crop_size, progress, self._report_bad)
        else:
            entries = self._scan_headers(files)

        small = [p for p, _, (h, w) in entries if h < crop_size or w < crop_size]
        self.skipped_small = small
        usable = [(p, c) for p, c, (h, w) in entries if h >= crop_size and w >= crop_size]
        if small:
            log.warning("skipped %d image(s) smaller than the %d-px crop: %s", len(small), crop_size, few(small, 10))
        if not usable:
            raise ValueError(
                f"no usable training images in {', '.join(str(r) for r in self.roots)}: "
                f"{self.files_found} image file(s) found, {len(self.held_out)} held out for validation (val_data), "
                f"{len(small)} smaller than the {crop_size}-px crop, {len(self.skipped_bad)} unreadable"
                f"{f', {len(low_res)} in low-resolution folders (left out)' if low_res else ''}")
        self.files = [p for p, _ in usable]
        self._cached = [c for _, c in usable]
        self._open: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bad_now: set[int] = set()

    # ------------------------------------------------------------------ scanning

    def _report_bad(self, exc: Exception, path: Path) -> None:
        self.skipped_bad.append(path)
        self._warn_unreadable(exc, path)

    @staticmethod
    def _warn_unreadable(exc: Exception, path: Path) -> None:
        log.warning("skipping unreadable image: %s", exc if isinstance(exc, ImageError) else f"{path}: {exc}")

    def _scan_headers(self, files: list[Path]):
        entries = []
        for path in files:
            try:
                w, h = read_size(path)  # orientation does not matter for the min side
                entries.append((path, None, (h, w)))
            except ImageError as exc:
                self._report_bad(exc, path)
        return entries

    # ------------------------------------------------------------------ sampling

    def __len__(self) -> int:
        return self.length if self.length is not None else len(self.files)

    @property
    def num_images(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        """Use fresh crops for epoch ``epoch`` (call before creating the epoch's iterator)."""
        self.epoch = int(epoch)

    def _pair(self, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(HR, whole-image LR) of usable image ``j``: memory-mapped from the cache, or (HR, None) decoded."""
        entry = self._cached[j]
        if entry is None:
            hr = load_hr(self.files[j], self.scale)
            if min(hr.shape[:2]) < self.crop_size:  # the header promised more (EXIF or a broken file)
                raise ImageError(self.files[j], f"decodes to {hr.shape[1]}x{hr.shape[0]}, under the crop")
            return hr, None
        pair = self._open.get(j)
        if pair is None:
            pair = self._open[j] = ImageCache.load(entry)
            if len(self._open) > 64:  # bound the number of open maps (file descriptors)
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(j)
        return pair

    def sample(self, i: int, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(lr, hr)`` uint8 HxWx3 arrays of sample ``i`` (what ``__getitem__`` converts)."""
        if not 0 <= i < len(self):
            raise IndexError(f"sample index {i} out of range for {len(self)} samples")
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(i)])
        j = i % len(self.files)
        for _ in range(len(self.files)):
            if j not in self._bad_now:
                try:
                    image, lr_image = self._pair(j)
                    break
                except (ImageError, OSError, ValueError) as exc:
                    self._bad_now.add(j)
                    self._warn_unreadable(exc, self.files[j])
            j = (j + 1) % len(self.files)
        else:
            raise ValueError(f"every training image turned out unreadable when decoded ({len(self.files)} file(s); "
                             "see the warnings above)")
        c, s = self.crop_size, self.scale
        h, w = image.shape[:2]
        top = s * int(rng.integers(0, (h - c) // s + 1))  # aligned: the HR crop starts on an LR pixel
        left = s * int(rng.integers(0, (w - c) // s + 1))
        if lr_image is None:
            lr = lr_crop(image, top, left, c, s)
        else:
            lr = lr_image[top // s: (top + c) // s, left // s: (left + c) // s]
        flips = [bool(f) for f in rng.integers(0, 2, size=3)]
        hr = augment(image[top: top + c, left: left + c], *flips)
        # private, writable copies (never views of the cache maps)
        return np.array(augment(lr, *flips), order="C"), np.array(hr, order="C")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.sample(int(i))
        return to_chw_float(lr), to_chw_float(hr)

    def __getstate__(self):  # DataLoader workers under 'spawn': do not pickle open maps
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state


def worker_init(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one thread per worker, and leave stopping to the main process."""
    torch.set_num_threads(1)  # the per-sample bicubic is tiny; many threads per worker only contend
    # Ctrl-C, `timeout` and job schedulers signal the whole process group. The main process decides when to
    # stop (it finishes the step and saves); a worker killed first would make that step fail. Workers still
    # exit when the main process does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def train_loader(dataset: TrainDataset, batch_size: int, *, num_workers: int = 0, seed: int | None = None,
                 shuffle: bool = True, drop_last: bool = True, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``dataset`` whose order is reproducible too.

    Shuffling draws from ``torch.Generator().manual_seed(seed)`` (default: the dataset's
    seed); the samples themselves do not depend on workers (see the module doc), so the
    batches are identical for any ``num_workers``.
    """
    generator = torch.Generator().manual_seed(dataset.seed if seed is None else int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, generator=generator, pin_memory=pin_memory,
                      worker_init_fn=worker_init if num_workers > 0 else None,
                      persistent_workers=False)
