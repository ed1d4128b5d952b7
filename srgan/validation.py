"""The held-out validation split: which training-pool images are never trained on.

Models are chosen (checkpoint, EMA or not, which SRGAN step to ship) on these images only; Set5, Set14 and
BSD100 are reported, never used to pick. The split is 20 images of the BSDS500 test split
(``train/BSDS500_test200`` in the shared data): every tenth file name in sorted order, starting with the
first. BSDS500's test images overlap neither BSD100 nor BSD200 (shared data MANIFEST.md §7), so the split
shares no photo with the training set or the benchmarks.
"""
from __future__ import annotations

import os
from pathlib import Path

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
