"""``srgan eval --sr-images DIR``: score SR images made elsewhere (another method's published outputs) exactly as
``srgan eval`` scores a model's, so that its numbers and theirs share one convention (docs/EVALUATION.md).

The SR image of a set's HR image ``baby`` is looked for in ``DIR/<set>/`` when that folder exists (the layout
``--save-images`` writes), else in ``DIR``: the file of the same name (``baby.png``, any image extension), else
the one file named after it as SR methods name their outputs, the HR name, ``_`` and anything (``baby_x4_SR.png``,
``baby_SRGAN.png``; :func:`srgan.benchmark_sets.named_after`). Nested sets' names keep their subfolders.
It is read as the HR images are (:func:`srgan.images.read_rgb_uint8`: 8 or 16 bits, grayscale replicated to RGB,
alpha dropped) and must be as large as the HR as scored, mod-cropped to a multiple of the scale: it is never
cropped or resized here, which would score other pixels than the method's.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .benchmark_sets import BenchmarkSet, named_after
from .imagefind import find_images
from .images import read_rgb_uint8

__all__ = ["SRImages"]


class SRImages:
    """A folder of SR images, given to :func:`srgan.evaluate.evaluate` in place of a model."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"{folder}: --sr-images folder not found")

    def __str__(self) -> str:
        return str(self.folder)

    def folder_for(self, bench: BenchmarkSet, key: str | None = None) -> Path:
        """Where ``bench``'s SR images are: ``<folder>/<key>`` when it exists, else the folder itself. ``key`` is
        the set's name in the report, as ``--save-images`` names its folder: the second of two sets called ``test``
        is ``test#2``, and reading ``test/`` for it scored its HR against the first set's SR images."""
        key = key or bench.name
        own = self.folder / key
        if own.is_dir():
            return own
        if key != bench.name:  # the folder itself would serve both sets of that name
            raise ValueError(f"{self.folder}: two sets are named {bench.name}; give each its own folder of SR "
                             f"images, {self.folder / bench.name} and {own}, as --save-images writes them")
        return self.folder

    def files(self, bench: BenchmarkSet, key: str | None = None) -> dict[str, Path]:
        """The SR image of each of ``bench``'s HR images, by name; a missing or ambiguous one raises, before any
        image is scored. ``key``: as :meth:`folder_for`."""
        root = self.folder_for(bench, key)
        names = {name for name, _path in bench.items}
        exact: dict[str, list[Path]] = {}
        suffixed: dict[str, list[Path]] = {}
        for path in find_images([root]):
            stem = path.relative_to(root).with_suffix("").as_posix()
            name = named_after(stem, names)
            if name is not None:
                (exact if stem == name else suffixed).setdefault(name, []).append(path)
        found, missing = {}, []
        for name, _path in bench.items:
            candidates = exact.get(name) or suffixed.get(name, [])
            if len(candidates) > 1:  # baby.png beside baby.jpg, or baby_x4_SR.png beside baby_SRGAN.png
                raise ValueError(f"{root}: {len(candidates)} SR images for {bench.name}'s {name} "
                                 f"({', '.join(p.name for p in candidates[:3])}); keep one")
            if candidates:
                found[name] = candidates[0]
            else:
                missing.append(name)
        if missing:  # as a missing LR image is: scoring the others would be a mean over another set
            raise ValueError(f"{root}: no SR image for {len(missing)} of the {len(names)} HR images of {bench.name} "
                             f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); name each as its HR "
                             f"image ({missing[0]}.png) or after it ({missing[0]}_x{bench.scale}_SR.png)")
        return found

    @staticmethod
    def read(path: Path, hr: np.ndarray, scale: int) -> np.ndarray:
        """The SR image at ``path`` as HxWx3 uint8, which must be as large as ``hr`` (mod-cropped)."""
        sr = read_rgb_uint8(path)
        if sr.shape != hr.shape:
            raise ValueError(f"{os.fspath(path)}: SR is {sr.shape[1]}x{sr.shape[0]} but its HR as scored is "
                             f"{hr.shape[1]}x{hr.shape[0]} (cropped to a multiple of {scale} from the top-left); "
                             "SR images are scored as they are, never cropped or resized")
        return sr
