"""How far other LR images lie from srgan's own bicubic LR: the margins behind BenchmarkSet's LR check.

    python benchmarks/lr_check_margins.py --data ../shared/data/benchmarks/{Set5,Set14,BSD100}/HR

For each HR image (mod-cropped), an LR made another way is compared with ``degrade_uint8(hr)`` by PSNR-Y and by
:func:`~srgan.benchmark_sets.content_correlation`: Pillow's bicubic and box downscales, our LR saved as JPEG q=75
and q=20, with Gaussian noise of sigma 15 and 30, and Gaussian blur then decimation (BD), all of which are LR
images of that HR; and every other image's LR of the same size (a swapped pair). Prints the range of each
measure; eval refuses a given LR under LR_CHECK_PSNR or LR_CHECK_CORRELATION.
"""
from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.benchmark_sets import LR_CHECK_CLOSE, LR_CHECK_CORRELATION, LR_CHECK_PSNR, content_correlation  # noqa: E402
from srgan.datasets import development_data  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import ImageNotFoundError, read_rgb_uint8  # noqa: E402
from srgan.imresize import degrade_uint8, mod_crop  # noqa: E402
from srgan.metrics import psnr  # noqa: E402


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def noisy(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return (rgb + rng.normal(0, sigma, rgb.shape)).clip(0, 255).round().astype(np.uint8)


def blurred_decimated(hr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """BD degradation: Gaussian blur (sigma 1.6), then every 4th pixel."""
    return np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(1.6)))[1::4, 1::4][:shape[0], :shape[1]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=[str(development_data() / "benchmarks" / "Set14" / "HR")],
                        help="folders of HR images")
    args = parser.parse_args(argv)
    try:
        paths = find_images(args.data)
    except ImageNotFoundError as exc:
        parser.error(f"--data {exc}")
    if not paths:  # the table of no images said nothing
        parser.error(f"--data {' '.join(args.data)}: no images there")
    rng = np.random.default_rng(0)
    scores: dict[str, list[tuple[float, float]]] = {}
    refs: list[np.ndarray] = []
    for path in paths:
        hr = mod_crop(read_rgb_uint8(path), 4)
        ref = degrade_uint8(hr, 4)
        size = ref.shape[1], ref.shape[0]
        others = {"Pillow bicubic": np.asarray(Image.fromarray(hr).resize(size, Image.BICUBIC)),
                  "Pillow box": np.asarray(Image.fromarray(hr).resize(size, Image.BOX)),
                  "JPEG q=75": jpeg(ref, 75), "JPEG q=20": jpeg(ref, 20),
                  "noise sigma 15": noisy(ref, 15, rng), "noise sigma 30": noisy(ref, 30, rng),
                  "blur (BD)": blurred_decimated(hr, ref.shape)}
        for name, lr in others.items():
            scores.setdefault(name, []).append((psnr(lr, ref), content_correlation(lr, ref)))
        for twin in (other for other in refs if other.shape == ref.shape):
            scores.setdefault("swapped pair", []).append((psnr(twin, ref), content_correlation(twin, ref)))
        refs.append(ref)
    print(f"Against srgan's bicubic LR, {len(refs)} images of {', '.join(args.data)}; eval refuses PSNR-Y < "
          f"{LR_CHECK_PSNR:g} dB, and under {LR_CHECK_CLOSE:g} dB a correlation < {LR_CHECK_CORRELATION:g}")
    for name, values in scores.items():
        v = np.array(values)
        close_enough = (v[:, 0] >= LR_CHECK_CLOSE) | (v[:, 1] >= LR_CHECK_CORRELATION)
        passed = int(((v[:, 0] >= LR_CHECK_PSNR) & close_enough).sum())
        print(f"{name:<15} PSNR-Y {v[:, 0].min():5.1f} - {v[:, 0].max():5.1f} dB, correlation {v[:, 1].min():6.3f} - "
              f"{v[:, 1].max():5.3f}; {passed} of {len(v)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
