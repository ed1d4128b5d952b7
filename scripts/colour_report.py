"""Mean colour offset of models on benchmark sets: does the output drift red, green or blue?

    python scripts/colour_report.py bicubic srresnet srgan             # Set5, Set14, BSD100

A tint is a complaint users of other SRGAN code keep making (an output "slightly red", "under-saturated"). For
each image, the mean of SR - HR per RGB channel over the image less a 4-px border, in 8-bit levels; printed per
set: the mean of those offsets over the images ("mean_rgb"), the largest offset of any one image and channel
("worst_image"), and, for local drift, the median over the images of the largest mean offset of any 32x32 block
and channel ("block_median"). ``--back-project`` measures the outputs after srgan.backproject's correction.

    python scripts/colour_report.py bicubic srresnet srgan --flat

``--flat``: flat patches of a few colours (strongly saturated ones, and sky, skin and sunlit tones), each pasted
as an 80x80-px square into the LR of Set14's first image; printed per colour, the mean SR - colour per channel over
the square's central 40x40 LR px (x4 in the output), beyond the reach of its edges.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from srgan.backproject import BackProjected
from srgan.benchmark_sets import BenchmarkSet
from srgan.datasets import development_data
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler, resolve_model

SCALE = 4
BORDER = 4
BLOCK = 32


def _difference(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """SR - HR in 8-bit levels, less a ``BORDER``-px border."""
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return sr[inner].astype(np.float64) - hr[inner]


def colour_offset(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Mean of SR - HR per RGB channel (8-bit levels), less the border."""
    return _difference(sr, hr).reshape(-1, 3).mean(axis=0)


def block_offset(sr: np.ndarray, hr: np.ndarray, block: int = BLOCK) -> float:
    """The largest |mean of SR - HR| of any ``block`` x ``block`` tile and channel (8-bit levels), less the border."""
    diff = _difference(sr, hr)
    h, w = diff.shape[0] // block * block, diff.shape[1] // block * block
    tiles = diff[:h, :w].reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
    return float(np.abs(tiles).max())


FLAT_COLOURS = [(10, 10, 200), (20, 200, 60), (200, 30, 90), (100, 150, 220), (60, 90, 160), (200, 60, 40),
                (240, 200, 40)]


def flat_offsets(model, lr: np.ndarray) -> dict:
    """Mean SR - colour per channel inside a flat 80x80-px square of each FLAT_COLOURS colour pasted into ``lr``."""
    offsets = {}
    for colour in FLAT_COLOURS:
        patched = lr.copy()
        patched[10:90, 10:90] = colour
        sr = super_resolve(model, patched, "cpu").astype(np.float64)
        inner = sr[SCALE * 30:SCALE * 70, SCALE * 30:SCALE * 70].reshape(-1, 3)
        offsets[str(colour)] = [round(float(v), 1) for v in inner.mean(axis=0) - colour]
    return offsets


def report(model, pairs) -> dict:
    srs = [(super_resolve(model, lr, "cpu"), hr) for _name, lr, hr in pairs]
    offsets = np.array([colour_offset(sr, hr) for sr, hr in srs])
    return {"mean_rgb": [round(float(v), 3) for v in offsets.mean(axis=0)],
            "worst_image": round(float(np.abs(offsets).max()), 2),
            "block_median": round(float(np.median([block_offset(sr, hr) for sr, hr in srs])), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="bicubic, srresnet, srgan or a weights file")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    parser.add_argument("--data", type=Path, default=development_data() / "benchmarks")
    parser.add_argument("--back-project", action="store_true")
    parser.add_argument("--flat", action="store_true", help="flat colour patches instead of the sets")
    args = parser.parse_args()
    try:  # every set and model before the first is scored: a mistyped model failed after the others' reports
        models = {spec: BicubicUpscaler(SCALE) if spec == "bicubic" else resolve_model(spec) for spec in args.models}
        sets = {} if args.flat else {name: list(BenchmarkSet(args.data / name, SCALE)) for name in args.sets}
        flat_lr = next(iter(BenchmarkSet(args.data / "Set14", SCALE)))[1] if args.flat else None
    except ValueError as exc:  # a set not under --data, or a bad model (CheckpointError is a ValueError)
        parser.error(str(exc))
    for spec, model in models.items():
        if args.back_project:
            model = BackProjected(model, SCALE, radius=0)
            spec += " (back-projected)"
        scores = flat_offsets(model, flat_lr) if args.flat else {name: report(model, pairs) for name, pairs in sets.items()}
        print(spec, json.dumps(scores), flush=True)


if __name__ == "__main__":
    main()
