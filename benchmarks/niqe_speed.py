"""Time NIQE (srgan.niqe) over a folder of images: the issue's bar is all 100 BSD100 HR images in 20 s on 2 cores.

    python benchmarks/niqe_speed.py --data ../shared/data/benchmarks/BSD100/HR --border 4

Images are decoded before the clock starts; the timed loop is ``niqe(image, border=...)`` only. Prints the mean
NIQE (the number to compare with BasicSR's ``calculate_niqe(..., crop_border=4)``), the total and per-image
time, torch's thread count, the CPU model and the load average.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.datasets import development_data  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import ImageNotFoundError, read_rgb_uint8  # noqa: E402
from srgan.device import cpu_name  # noqa: E402
from srgan.niqe import niqe  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(development_data() / "benchmarks" / "BSD100" / "HR"), help="a folder of images")
    parser.add_argument("--border", type=int, default=4, help="pixels cropped from each side (default 4)")
    args = parser.parse_args(argv)
    if args.border < 0:
        parser.error(f"--border must be >= 0, got {args.border}")
    try:
        paths = find_images([args.data])
    except ImageNotFoundError as exc:
        parser.error(f"--data {exc}")
    if not paths:  # images[0] below was an IndexError
        parser.error(f"--data {args.data}: no images there")
    images = [read_rgb_uint8(p) for p in paths]
    niqe(images[0], border=args.border)  # load the pristine model and build the shape grid outside the clock
    start = time.perf_counter()
    scores = [niqe(img, border=args.border) for img in images]
    elapsed = time.perf_counter() - start
    print(f"{len(images)} images from {args.data}, border {args.border}: mean NIQE {np.mean(scores):.4f}")
    print(f"time {elapsed:.2f} s ({1000 * elapsed / len(images):.1f} ms/image), torch threads "
          f"{torch.get_num_threads()}, cpu {cpu_name()} x{os.cpu_count()}, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
