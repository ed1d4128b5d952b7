"""Mean colour offset of models on benchmark sets: does the output drift red, green or blue?

    python scripts/colour_report.py bicubic srresnet srgan             # Set5, Set14, BSD100

A tint is a complaint users of other SRGAN code keep making (an output "slightly red", "under-saturated"). For
each image, the mean of SR - HR per RGB channel over the image less a 4-px border, in 8-bit levels; printed per
set: the mean of those offsets over the images ("mean_rgb"), the largest offset of any one image and channel
("worst_image"), and, for local drift, the median over the images of the largest mean offset of any 32x32 block
and channel ("block_median"). ``--back-project`` measures the outputs after srgan.backproject's correction.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from srgan.backproject import BackProjected
from srgan.benchmark_sets import BenchmarkSet
from srgan.evaluate import BicubicUpscaler, resolve_model, super_resolve

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
    parser.add_argument("--data", type=Path, default=Path("../shared/data/benchmarks"))
    parser.add_argument("--back-project", action="store_true")
    args = parser.parse_args()
    sets = {name: list(BenchmarkSet(args.data / name, SCALE)) for name in args.sets}
    for spec in args.models:
        model = BicubicUpscaler(SCALE) if spec == "bicubic" else resolve_model(spec)
        if args.back_project:
            model = BackProjected(model, SCALE, radius=0)
            spec += " (back-projected)"
        print(spec, json.dumps({name: report(model, pairs) for name, pairs in sets.items()}), flush=True)


if __name__ == "__main__":
    main()
