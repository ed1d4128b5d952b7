"""How far other LR images lie from srgan's own bicubic LR: the margins behind BenchmarkSet's LR_CHECK_PSNR.

    python benchmarks/lr_check_margins.py --data ../shared/data/benchmarks/Set14/HR

For each HR image (mod-cropped), PSNR-Y of an LR made another way against ``degrade_uint8(hr)``: Pillow's bicubic
and box downscales, our own LR saved as JPEG q=75, and another image's LR of the same size (a swapped pair, where
the set has one). Prints the range of each over the set; a given LR under LR_CHECK_PSNR is refused by eval.
"""
from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.benchmark_sets import LR_CHECK_PSNR  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import read_rgb_uint8  # noqa: E402
from srgan.imresize import degrade_uint8, mod_crop  # noqa: E402
from srgan.metrics import psnr  # noqa: E402


def jpeg(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/benchmarks/Set14/HR", help="a folder of HR images")
    args = parser.parse_args(argv)
    scores: dict[str, list[float]] = {"Pillow bicubic": [], "Pillow box": [], "JPEG q=75": [], "swapped pair": []}
    refs = []
    for path in find_images([args.data]):
        hr = mod_crop(read_rgb_uint8(path), 4)
        ref = degrade_uint8(hr, 4)
        size = ref.shape[1], ref.shape[0]
        scores["Pillow bicubic"].append(psnr(np.asarray(Image.fromarray(hr).resize(size, Image.BICUBIC)), ref))
        scores["Pillow box"].append(psnr(np.asarray(Image.fromarray(hr).resize(size, Image.BOX)), ref))
        scores["JPEG q=75"].append(psnr(jpeg(ref), ref))
        twin = next((other for other in refs if other.shape == ref.shape), None)
        if twin is not None:
            scores["swapped pair"].append(psnr(twin, ref))
        refs.append(ref)
    print(f"PSNR-Y (dB) against srgan's bicubic LR, {len(refs)} images of {args.data}; eval refuses < {LR_CHECK_PSNR:g}")
    for name, values in scores.items():
        print(f"{name:<15} " + (f"{min(values):5.1f} - {max(values):5.1f} ({len(values)})" if values else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
