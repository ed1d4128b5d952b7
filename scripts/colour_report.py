"""Mean colour offset of models on benchmark sets: does the output drift red, green or blue?

    python scripts/colour_report.py bicubic srresnet srgan             # Set5, Set14, BSD100

A tint is a complaint users of other SRGAN code keep making (an output "slightly red", "under-saturated"). For
each image, the mean of SR - HR per RGB channel over the image less a 4-px border, in 8-bit levels; printed per
set: the mean of those offsets over the images, and the largest offset of any one image and channel.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from srgan.benchmark_sets import BenchmarkSet
from srgan.evaluate import BicubicUpscaler, resolve_model, super_resolve

SCALE = 4
BORDER = 4


def colour_offset(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Mean of SR - HR per RGB channel (8-bit levels), less a ``BORDER``-px border."""
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return (sr[inner].astype(np.float64) - hr[inner]).reshape(-1, 3).mean(axis=0)


def report(model, pairs) -> dict:
    offsets = np.array([colour_offset(super_resolve(model, lr, "cpu"), hr) for _name, lr, hr in pairs])
    return {"mean_rgb": [round(float(v), 3) for v in offsets.mean(axis=0)],
            "worst_image": round(float(np.abs(offsets).max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="bicubic, srresnet, srgan or a weights file")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/benchmarks"))
    args = parser.parse_args()
    sets = {name: list(BenchmarkSet(args.data / name, SCALE)) for name in args.sets}
    for spec in args.models:
        model = BicubicUpscaler(SCALE) if spec == "bicubic" else resolve_model(spec)
        print(spec, json.dumps({name: report(model, pairs) for name, pairs in sets.items()}), flush=True)


if __name__ == "__main__":
    main()
