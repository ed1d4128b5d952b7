"""Benchmark sets (Set5, Set14, BSD100, a plain folder of HR images) and ``srgan degrade``.

A benchmark pair is the set's HR image, mod-cropped (top-left) to a multiple of the scale, and its LR: the
set's own ``LR_bicubic_x<scale>`` image when there is one, else the MATLAB uint8 bicubic of that HR
(:func:`srgan.imresize.degrade_uint8`), which regenerates the published LR PNGs bit for bit
(docs/EVALUATION.md).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .imagefind import find_images
from .images import extra_frames, read_image, read_rgb_uint8, to_uint8
from .imagewrite import write_image
from .imresize import degrade_uint8, mod_crop
from .metrics import psnr, rgb_to_y
from .files import file_identity, file_output_problem, missing_folders, remove_if_empty

__all__ = ["BenchmarkSet", "degrade_folder"]


#: Folders that hold a set's HR images: srgan's and the staged sets' ``HR``, BasicSR's ``GTmod12`` (mod-12 crops,
#: one ground truth for x2, x3 and x4) and ``GT``.
HR_FOLDERS = ("HR", "GTmod12", "GT")


def lr_folder_names(scale: int) -> tuple[str, ...]:
    """A set's LR folder for ``scale``: srgan's and the staged sets' name, and BasicSR's."""
    return f"LR_bicubic_x{scale}", f"LRbicx{scale}"


def _names_low_res(folder_name: str) -> bool:
    """``LR``, ``LR_bicubic_x4``, ``LRbicx4``, ``DIV2K_valid_LR_bicubic``, ``lq``: a word LR or LQ in the name."""
    words = re.split(r"[_\-.]+", folder_name.lower())  # not at spaces: "2019 LR exports" is Lightroom's
    return any(word in ("lr", "lq") or word.startswith("lrbic") for word in words)


def in_lr_folder(folders: tuple[str, ...]) -> bool:
    """Whether a path below an HR folder (its folder names) lies in a low-resolution folder (``LR``,
    ``LR_bicubic_x4``, BasicSR's ``LRbicx4``, ``DIV2K_valid_LR_bicubic``), which HR searches skip: scored as more
    HR images, a BasicSR-style Set5 was 10 images at 25.56 dB."""
    return any(_names_low_res(part) for part in folders)


def named_after(stem: str, names: set[str]) -> str | None:
    """The name in ``names`` that an image named ``stem`` is named after, as SR methods name their outputs: the
    same stem, or the stem, ``_`` and a method or scale (``baby_x4_SR``, ``baby_SRGAN``); the longest such name
    (``a_b_SR`` is ``a_b``'s, not ``a``'s), or None."""
    cuts = [i for i, c in enumerate(stem) if c == "_"]
    return next((n for n in (stem, *(stem[:i] for i in reversed(cuts))) if n in names), None)


def _refuse_saved_results(files: list[Path]) -> None:
    """Results saved inside an HR folder (``plain/results_srresnet/baby.png`` below ``plain/baby.png``) were scored
    as more HR images: Set5 so read 10 images, 30.04 dB for bicubic instead of 28.42. Their signature is a
    subfolder's images named after images above it; genuinely nested sets keep their recursion."""
    stems: dict[Path, set[str]] = {}
    for path in files:
        stems.setdefault(path.parent, set()).add(path.stem)
    for folder, own in stems.items():
        for above in (f for f in folder.parents if f in stems):
            clash = sorted(s for s in own if named_after(s, stems[above]))
            if clash:
                raise ValueError(f"{folder}: {len(clash)} image(s) named after HR images in {above} "
                                 f"({', '.join(clash[:3])}{', ...' if len(clash) > 3 else ''}): saved results, "
                                 "not more HR images? Move that folder out of the HR folder")


def hr_files(hr_dir: Path, *, scored: bool = True) -> list[Path]:
    """The images under ``hr_dir``, searched recursively, leaving out low-resolution subfolders
    (:func:`in_lr_folder`): LR images kept inside an HR folder are not HR images. For a set to be ``scored``, a
    subfolder of results (:func:`_refuse_saved_results`) is an error; ``srgan degrade`` makes LR images of every
    image it is given (a pool's ``aug/0001_rot90.png`` beside ``0001.png`` is no result)."""
    files = [p for p in find_images([hr_dir]) if not in_lr_folder(p.relative_to(hr_dir).parts[:-1])]
    if scored:
        _refuse_saved_results(files)
    return files


def found_as_hr(folder, hr_dir) -> bool:
    """Whether images written into ``folder`` would be found by :func:`hr_files` of ``hr_dir`` (and so be taken
    for HR images by the next ``srgan eval`` or ``srgan degrade`` of it)."""
    try:
        inside = Path(os.path.realpath(folder)).relative_to(os.path.realpath(hr_dir))
    except ValueError:
        return False
    return not in_lr_folder(inside.parts)


def _refuse_folder_of_sets(folder: Path) -> None:
    """A folder that holds benchmark sets, or a data root, is not one set of HR images: searched recursively, it
    was every set merged into one row (their own LR folders ignored), or with a data root every training image
    too (10 minutes without a word, then a meaningless number)."""
    sets = sorted(d.name for d in folder.iterdir()
                  if d.is_dir() and (any((d / n).is_dir() for n in HR_FOLDERS) or any(d.glob("image_SRF_*"))))
    if sets:
        raise ValueError(f"{folder}: holds {len(sets)} benchmark sets ({', '.join(sets)}), not one; pass each set's "
                         f"folder (--data {folder / sets[0]} ...)")
    if (folder / "benchmarks").is_dir():
        raise ValueError(f"{folder}: a data root, not a benchmark set; pass --data-root {folder} with set names "
                         f"(--data Set5 Set14 BSD100)")


def _locate(folder: Path, scale: int) -> tuple[Path, str, Path | None, bool]:
    """(HR folder, set name, LR folder or None, whether HR and LR are SelfExSR's ``*_HR``/``*_LR`` files side by
    side) for a set folder in any of the layouts :class:`BenchmarkSet` reads."""
    real = folder.resolve()
    selfexsr = sorted(d.name for d in folder.glob("image_SRF_*") if d.is_dir())  # SelfExSR's Set5: _2, _3 and _4
    if selfexsr:
        if f"image_SRF_{scale}" not in selfexsr:  # its files were all scored as HR images
            raise ValueError(f"{folder}: SelfExSR's set has {', '.join(selfexsr)}, no image_SRF_{scale} for x{scale}")
        folder, real = folder / f"image_SRF_{scale}", real / f"image_SRF_{scale}"
    if real.name.startswith("image_SRF_"):
        if real.name != f"image_SRF_{scale}":
            raise ValueError(f"{folder}: SelfExSR's x{real.name.removeprefix('image_SRF_')} pairs, but the scale is "
                             f"{scale}; pass --scale {real.name.removeprefix('image_SRF_')} or the image_SRF_{scale} "
                             "folder")
        return folder, real.parent.name, folder, True
    hr_sub = next((folder / n for n in HR_FOLDERS if (folder / n).is_dir()), None)
    if hr_sub is not None:
        hr_dir, name, parent = hr_sub, real.name, folder
    elif real.name in HR_FOLDERS:  # --data Set5/HR scores Set5's own LR, as --data Set5 does
        hr_dir, name, parent = folder, real.parent.name, real.parent
    else:
        # Set5/LR_bicubic_x4, BasicSR's LRbicx4, DIV2K's DIV2K_valid_LR_bicubic/X4: LR images were scored as HR
        if _names_low_res(real.name):
            raise ValueError(f"{folder}: a low-resolution folder, not a set's HR images; pass the set's folder "
                             f"({folder.absolute().parent}) or its HR images' folder")  # as named, links too
        if re.fullmatch(r"x\d+", real.name.lower()) and _names_low_res(real.parent.name):
            raise ValueError(f"{folder}: a low-resolution folder, not a set's HR images; pass the folder of its HR "
                             "images (DIV2K's DIV2K_valid_HR): their LR is then made from them, by MATLAB bicubic")
        _refuse_folder_of_sets(folder)
        hr_dir, name, parent = folder, real.name, folder
    lr_dir = next((parent / n for n in lr_folder_names(scale) if (parent / n).is_dir()), None)
    return hr_dir, name, lr_dir, False


class BenchmarkSet:
    """A benchmark folder: ``<Set>/HR/*.png`` and optionally ``<Set>/LR_bicubic_x<scale>/*.png``; BasicSR's
    ``<Set>/GTmod12`` with ``<Set>/LRbicx<scale>``; or SelfExSR's ``<Set>/image_SRF_<scale>/*_HR.png`` beside
    their ``*_LR.png`` (its other files, other methods' results, are not read).

    * HR images are read as RGB uint8 (grayscale replicated to 3 channels, alpha dropped)
      and mod-cropped to a multiple of ``scale`` from the top-left.
    * With an ``LR_bicubic_x<scale>`` folder, the LR image of ``HR/<name>.*`` is its ``<name>.*`` (or
      DIV2K's ``<name>x<scale>.*``, or ``<name>_x<scale>.*``), of exactly HR / scale; an HR image without
      one is an error. Without the folder, LR is made on the fly from the mod-cropped HR with the uint8
      MATLAB bicubic (:func:`degrade_uint8`).
    * A folder without an ``HR`` subfolder holds the HR images (searched recursively, leaving out low-resolution
      subfolders: :func:`in_lr_folder`; a subfolder of results named after the images above it is an error); its
      LR folder is ``<folder>/LR_bicubic_x<scale>``, or the sibling one when the folder itself is called ``HR``
      (``--data Set5/HR`` scores Set5's own LR, as ``--data Set5`` does).
    * A given LR image must be what its name says: of the same kind (grayscale or colour) as its HR, within
      :data:`LR_CHECK_PSNR` dB of srgan's own bicubic downscale of it, and under :data:`LR_CHECK_CLOSE` dB alike
      in content (:func:`content_correlation`): swapped pairs are 4-20.5 dB.

    ``name`` is the folder's name (the parent's when the folder itself is called ``HR``).
    ``names`` keeps only those images (names without extension), e.g. the validation split. ``lr=False`` looks at
    no LR folder (scoring the HR images themselves: :meth:`hr_images`).
    Iterating yields ``(image name, lr_uint8 HxWx3, hr_uint8 HxWx3)`` sorted by name.
    """

    def __init__(self, folder, scale: int = 4, *, names: Sequence[str] | None = None, lr: bool = True):
        keep = None if names is None else set(names)
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: benchmark set folder not found")
        self.folder, self.scale = folder, int(scale)
        hr_dir, self.name, lr_dir, side_by_side = _locate(folder, self.scale)
        self.hr_dir, self.lr_dir = hr_dir, (lr_dir if lr else None)
        found_hr = hr_files(hr_dir)  # LR images inside the HR folder were once scored as more HR images
        if side_by_side:
            found_hr = [path for path in found_hr if path.stem.endswith("_HR")]
        if not found_hr:
            raise ValueError(f"{hr_dir}: no images in this benchmark set")
        self.items: list[tuple[str, Path]] = []
        names: dict[str, Path] = {}
        for path in found_hr:
            name = path.relative_to(hr_dir).with_suffix("").as_posix().removesuffix("_HR" if side_by_side else "")
            if name in names:
                raise ValueError(f"{hr_dir}: two images named {name!r} ({names[name].name}, {path.name})")
            names[name] = path
            self.items.append((name, path))
        if keep is not None:
            self.items = [item for item in self.items if item[0] in keep]
        self.items.sort()
        self._lr_files: dict[str, Path] = {}
        self._lr_checked: set[str] = set()  # an LR file's content is checked once, not at every evaluation
        if self.lr_dir is not None:
            found: dict[str, Path] = {}
            twice: dict[str, Path] = {}  # a.png beside a.jpg: which one is the LR is not ours to guess
            for path in find_images([self.lr_dir]):
                lr_name = path.relative_to(self.lr_dir).with_suffix("").as_posix()
                if side_by_side:  # SelfExSR: img_001_SRF_4_LR.png is the LR of img_001_SRF_4_HR.png
                    if not lr_name.endswith("_LR"):
                        continue
                    lr_name = lr_name.removesuffix("_LR")
                if lr_name in found:
                    twice[lr_name] = path
                found.setdefault(lr_name, path)
            # the LR of HR/a.png is LR/a.png, or DIV2K's LR/ax4.png (also a_x4.png)
            spellings = ("", f"x{self.scale}", f"_x{self.scale}")
            for name, _path in self.items:
                lr_name = next((name + s for s in spellings if name + s in found), None)
                if lr_name in twice:
                    raise ValueError(f"{self.lr_dir}: two images named {lr_name!r} ({found[lr_name].name}, "
                                     f"{twice[lr_name].name}); keep the LR of {name} only")
                if lr_name is not None:
                    self._lr_files[name] = found[lr_name]
            missing = [name for name, _path in self.items if name not in self._lr_files]
            if missing:  # a silent fallback to generated LR would score other inputs than the folder's
                how = (f"as SelfExSR does ({missing[0]}_LR.png)" if side_by_side else
                       f"like its HR image ({missing[0]}.png, or {missing[0]}x{self.scale}.png), or remove the folder "
                       "to make LR from HR")
                raise ValueError(f"{self.lr_dir}: no LR image for {len(missing)} of the {len(self.items)} HR images "
                                 f"(e.g. {missing[0]}); name each {how}")

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        lr = self.lr_dir.name if self.lr_dir is not None else "LR generated"
        return f"BenchmarkSet({self.name!r}, {len(self)} images, x{self.scale}, {lr})"

    def load_hr(self, path: Path) -> np.ndarray:
        """The HR image, mod-cropped to a multiple of the scale."""
        hr = mod_crop(read_rgb_uint8(path), self.scale)
        if hr.shape[0] < self.scale or hr.shape[1] < self.scale:
            raise ValueError(f"{path}: image smaller than the scale factor {self.scale}")
        return np.ascontiguousarray(hr)

    def load(self, name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
        hr = self.load_hr(path)
        s = self.scale
        lr_path = self._lr_files.get(name)
        if lr_path is None:  # no LR folder
            return degrade_uint8(hr, s), hr
        lr = read_rgb_uint8(lr_path)
        if lr.shape[0] * s != hr.shape[0] or lr.shape[1] * s != hr.shape[1]:
            turned = lr.shape[1] * s == hr.shape[0] and lr.shape[0] * s == hr.shape[1]
            raise ValueError(f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]} but the HR (mod-cropped) is "
                             f"{hr.shape[1]}x{hr.shape[0]}, not x{s} of it"
                             f"{' (turned: an EXIF orientation tag on one of them?)' if turned else ''}")
        if name not in self._lr_checked:
            _check_lr_content(lr, hr, s, lr_path, path)
            self._lr_checked.add(name)
        return lr, hr

    def check(self) -> None:
        """Read every pair once (sizes, LR content): a bad file fails now, not at a training run's first evaluation,
        after the steps since its last checkpoint. The content check is not repeated later."""
        for _ in self:
            pass

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name, path in self.items:
            lr, hr = self.load(name, path)
            yield name, lr, hr

    def hr_images(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, HR)`` without reading, making or checking any LR: what scoring the ground truth needs."""
        for name, path in self.items:
            yield name, self.load_hr(path)


#: What a set's own LR image must reach against srgan's bicubic downscale of its HR: PSNR-Y (dB), and the
#: correlation of their Y channels averaged over 4x4 blocks (content, whatever the noise). On Set5, Set14 and
#: BSD100 (``python benchmarks/lr_check_margins.py``): published LR PNGs match exactly; Pillow's bicubic gives
#: 48-58 dB, its box filter 35-49, JPEG q=20 24-35, Gaussian blur (BD) 30-44, noise of sigma 30 23-25 dB with a
#: correlation of 0.83 or more; the 3190 swapped same-size pairs 4.4-20.5 dB, and the two above 20 dB (BSD100's
#: 3096 and 196073: 20.5 dB, 296007 and 196073: 20.4) correlate 0.28 and 0.17, none above 17 dB more than 0.51.
#: The correlation is asked for only under LR_CHECK_CLOSE dB: a near-flat wall's good LR (64 dB) correlates 0.43
#: with ours, its content being noise.
LR_CHECK_PSNR = 20.0
LR_CHECK_CORRELATION = 0.7
LR_CHECK_CLOSE = 30.0


def _is_gray(rgb: np.ndarray) -> bool:
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def content_correlation(a: np.ndarray, b: np.ndarray, block: int = 4) -> float:
    """Pearson correlation of two uint8 RGB images' Y channels averaged over ``block`` x ``block`` squares
    (noise and compression average out, the content stays); 1.0 when both are flat there or the images are
    smaller than a block, 0.0 when one only is flat."""
    def low(rgb: np.ndarray) -> np.ndarray:
        y = rgb_to_y(rgb)
        h, w = y.shape[0] // block * block, y.shape[1] // block * block
        low = y[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
        return low - low.mean()

    if min(a.shape[0], a.shape[1]) < block:
        return 1.0
    x, z = low(a), low(b)
    energy_x, energy_z = float((x * x).sum()), float((z * z).sum())
    if energy_x < 1e-9 or energy_z < 1e-9:
        return 1.0 if energy_x < 1e-9 and energy_z < 1e-9 else 0.0
    return float((x * z).sum()) / float(np.sqrt(energy_x * energy_z))


def _check_lr_content(lr: np.ndarray, hr: np.ndarray, scale: int, lr_path: Path, hr_path: Path) -> None:
    """A given LR image that is not its HR's downscale would be scored without a word (swapped names, an EXIF
    turn of a square photo, a grayscale LR beside a colour HR, which PSNR-Y alone barely sees)."""
    if _is_gray(lr) and not _is_gray(hr):
        raise ValueError(f"{lr_path}: LR is grayscale but its HR {hr_path.name} is in colour")
    reference = degrade_uint8(hr, scale)
    match = psnr(lr, reference)
    alike = content_correlation(lr, reference) if match < LR_CHECK_CLOSE else 1.0
    if match < LR_CHECK_PSNR or alike < LR_CHECK_CORRELATION:
        raise ValueError(f"{lr_path}: not the x{scale} downscale of {hr_path.name} (against its bicubic downscale: "
                         f"PSNR-Y {match:.1f} dB, content correlation {alike:.2f}; an LR has >= {LR_CHECK_PSNR:g} dB, "
                         f"and under {LR_CHECK_CLOSE:g} dB a correlation >= {LR_CHECK_CORRELATION:g}): a swapped "
                         "or misnamed pair?")


def degrade_folder(hr_dir, lr_dir, scale: int = 4, overwrite: bool = False, *, progress: bool = False,
                   warn: Callable[[str], None] | None = None) -> list[Path]:
    """Write LR images of every image under ``hr_dir`` into ``lr_dir``; return the written paths.

    Each HR is mod-cropped (top-left) to a multiple of ``scale`` and downscaled with the
    uint8 MATLAB bicubic; the LR keeps the HR's relative path and name, with extension
    ``.png``. Grayscale stays grayscale; alpha is dropped; 16-bit input is rounded to 8
    bits first. Nothing is written when any target exists and ``overwrite`` is False, or
    when two inputs would map to the same output (``a.jpg`` and ``a.png``); an image that
    fails (corrupt, smaller than ``scale``) removes what the run had written. ``warn`` is given a line, before
    any work, for each animated or multi-page input, of which only the first frame is degraded.
    """
    hr_dir, lr_dir, scale = Path(hr_dir), Path(lr_dir), int(scale)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if not hr_dir.is_dir():
        raise ValueError(f"{hr_dir}: HR folder not found")
    if found_as_hr(lr_dir, hr_dir):
        raise ValueError(f"{lr_dir}: is inside the HR folder {hr_dir}, where its LR images would be taken for HR "
                         "images by the next eval or degrade; choose a folder outside it (or an LR or LR_* "
                         "subfolder, which HR searches leave out)")
    files = hr_files(hr_dir, scored=False)
    if not files:
        raise ValueError(f"{hr_dir}: no images found")
    targets: dict[Path, Path] = {}
    inputs = {file_identity(path): path for path in files}  # by identity: links and case-folding spellings too
    for path in files:
        out = lr_dir / path.relative_to(hr_dir).with_suffix(".png")
        if out in targets:
            raise ValueError(f"{path} and {targets[out]} would both be written to {out}")
        problem = file_output_problem(out)  # before out.is_file(), which raises on a name too long
        if problem:
            raise ValueError(f"{out}: {problem}")
        if out.is_file() and file_identity(out) in inputs:
            raise ValueError(f"{out}: output would replace the input {inputs[file_identity(out)]}; "
                             "choose another output folder")
        targets[out] = path
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]} "
                              "(pass --overwrite to replace them)")
    if warn:
        for path in targets.values():
            if extra := extra_frames(path):
                warn(f"{path}: {extra + 1} frames (animated or multi-page); only the first is degraded")
    written = []
    items = list(targets.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="srgan: degrade", unit="img")
    created = missing_folders({out.parent for out in targets})
    try:
        for out, path in items:
            image = read_image(path)
            hr = mod_crop(to_uint8(image.rgb), scale)
            if hr.shape[0] < scale or hr.shape[1] < scale:
                raise ValueError(f"{path}: image smaller than the scale factor {scale}")
            lr = degrade_uint8(hr, scale)
            written.append(write_image(out, lr, grayscale=image.grayscale, overwrite=overwrite))
    except BaseException:
        # All or nothing: an LR set missing the images after a bad one would be scored as if it were whole.
        for out in written:
            if out not in existing:  # a replaced file (--overwrite) cannot be given back; it stays replaced
                out.unlink(missing_ok=True)
        remove_if_empty(created)
        raise
    return written
