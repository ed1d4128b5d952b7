"""The held-out validation split: which training-pool images are never trained on.

Models are chosen (checkpoint, EMA or not, which SRGAN step to ship) on these images only; Set5, Set14 and
BSD100 are reported, never used to pick. The split is 20 images of the BSDS500 test split
(``train/BSDS500_test200`` in the shared data): every tenth file name in sorted order, starting with the
first. BSDS500's test images overlap neither BSD100 nor BSD200 (shared data MANIFEST.md §7), so the split
shares no photo with the training set or the benchmarks.

During training (config ``val_data``, every ``eval_every`` steps) the generator is scored on the split, or on
another folder, with :func:`validate`: PSNR on Y with ``scale`` px shaved, exactly as ``srgan eval``
(:mod:`srgan.evaluate`), and NIQE of the SR outputs (:func:`srgan.niqe.niqe`, same shave), logged as
``val_psnr``, ``val_ssim``, ``val_niqe``.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable

METRICS = ("psnr", "ssim", "niqe")
VALIDATION_FOLDER = "BSDS500_test200"
VALIDATION_IDS = (
    "100007", "104010", "108069", "123057", "141012", "157032", "163096", "187058", "196088", "208078",
    "226043", "246009", "259060", "289011", "317043", "35028", "388006", "45000", "69000", "80085",
)


def is_validation_image(path: str | os.PathLike) -> bool:
    """True for a file of the validation split, wherever the pool lives (matched on folder and stem)."""
    path = Path(path)
    return path.parent.name == VALIDATION_FOLDER and path.stem in VALIDATION_IDS


def validation_images(train_root: str | os.PathLike) -> list[Path]:
    """The split's files under a training-pool root (the folder that holds ``BSDS500_test200/``)."""
    folder = Path(train_root) / VALIDATION_FOLDER
    found = sorted(p for p in folder.glob("*") if is_validation_image(p)) if folder.is_dir() else []
    if len(found) != len(VALIDATION_IDS):
        raise FileNotFoundError(f"{folder}: expected the {len(VALIDATION_IDS)} validation images "
                                f"{', '.join(VALIDATION_IDS[:3])}, ...; found {len(found)}")
    return found


def validation_set(val_data: str, train_data: list[str], scale: int, scored: bool = True):
    """The set ``val_data`` names: ``"pool"`` = the split inside ``train_data``, else a benchmark-style folder.
    ``scored``: it will be scored (NIQE included), so every image must be large enough; else it is only held out."""
    from .datasets import BENCHMARKS

    val_set = _find_validation_set(val_data, train_data, scale)
    if val_set.name.lower() in BENCHMARKS:  # chosen on it, a checkpoint is chosen on the test set, without a word
        logging.getLogger(__name__).warning(
            "val_data %s is a benchmark set: checkpoints chosen by its numbers are chosen on the test set; report "
            "it with eval_data, and validate on val_data=pool (a split held out of the training pool)", val_set.name)
    if scored:
        _check_niqe_sizes(val_set)
    return val_set


def _find_validation_set(val_data: str, train_data: list[str], scale: int):
    from .benchmark_sets import BenchmarkSet

    if val_data != "pool":
        return BenchmarkSet(val_data, scale)
    for root in map(Path, train_data):
        pool = root if (root / VALIDATION_FOLDER).is_dir() else root.parent if root.name == VALIDATION_FOLDER else None
        if pool is not None:
            validation_images(pool)  # all 20 present, or a clear error
            return BenchmarkSet(pool / VALIDATION_FOLDER, scale, names=VALIDATION_IDS)
    raise FileNotFoundError(f"val_data=pool: no {VALIDATION_FOLDER}/ folder in train_data "
                            f"({', '.join(train_data)}); name a validation folder instead")


def _check_niqe_sizes(val_set) -> None:
    """Every image large enough for NIQE (from its header): two 96-px blocks after the mod-crop and the
    ``scale``-px border. A small one used to fail at the first evaluation, after the steps since the last
    checkpoint had been trained."""
    from .images import read_size
    from .niqe import BLOCK

    s = val_set.scale
    for _name, path in val_set.items:
        width, height = read_size(path)
        rows, cols = (height // s * s - 2 * s) // BLOCK, (width // s * s - 2 * s) // BLOCK
        if rows * cols < 2:
            raise ValueError(f"{path}: {width}x{height} is too small to validate on: NIQE needs two {BLOCK}x{BLOCK} "
                             f"blocks after the {s}-px border (e.g. {BLOCK * 2 + 2 * s}x{BLOCK + 2 * s})")


def hold_out_rule(val_data: str) -> Callable[[Path], bool]:
    """What training must not see: the split always, and every file of a ``val_data`` folder."""
    if not val_data or val_data == "pool":
        return is_validation_image
    # By file identity, not by path: a val_data or train_data reached through a link, a val_data folder of links
    # into the pool, or hard links, all held out nothing when paths were compared.
    from .imagefind import find_images
    from .files import file_identity

    held = {file_identity(path) for path in find_images([val_data])}
    return lambda path: is_validation_image(path) or file_identity(Path(path)) in held


def copies_among(files: list[Path], originals: list[Path]) -> list[tuple[Path, Path]]:
    """Each of ``files`` whose bytes are those of one of ``originals``, with that original: the same file by another
    name, and a copy (which file identity misses: a copied validation folder was trained on). Only files of an
    original's size are read, so a training pool costs a ``stat`` per file. A re-encoded copy is not found."""
    by_size: dict[int, list[Path]] = defaultdict(list)
    for original in originals:
        by_size[original.stat().st_size].append(original)
    digests: dict[Path, bytes] = {}

    def digest(path: Path) -> bytes:
        if path not in digests:
            digests[path] = hashlib.sha256(path.read_bytes()).digest()
        return digests[path]

    found = []
    for path in files:
        original = next((o for o in by_size.get(path.stat().st_size, ()) if digest(o) == digest(path)), None)
        if original is not None:
            found.append((path, original))
    return found


def validate(generator, val_set, scale: int, device) -> dict[str, float]:
    """``{"psnr", "ssim", "niqe"}``: set means for ``generator`` (fp32, eval mode) on ``val_set``: exactly
    ``srgan eval --metrics psnr,ssim,niqe`` (:func:`srgan.evaluate.evaluate`)."""
    from .evaluate import evaluate

    (scores,) = evaluate(generator, [val_set], scale, device, "fp32", metrics=METRICS).values()
    return {m: scores[m] for m in METRICS}
