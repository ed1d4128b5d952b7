"""What ``--png-level`` costs and saves: srgan's PNG writer at each level on one SR output, interleaved.

    python benchmarks/png_level.py                             # srgan/samples/coffee.png -> SRResNet x4, 2400x1600
    python benchmarks/png_level.py --image photo.png --levels 0 1 6 9 --runs 7

The image is upscaled once (the shipped SRResNet, as ``srgan upscale`` writes it: uint8 RGB); then
:func:`srgan.imagewrite.write_image` writes it at each level in turn, ``--runs`` times, so that other load hits
every level alike. Level 1 is srgan's own row-block encoder (the CLI's default), the others go through Pillow.
Prints the median MPix/s and the file size of each level, and each one's ratio to level 6 (Pillow's default).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.engines import prepare  # noqa: E402
from srgan.images import ImageError, read_rgb_uint8  # noqa: E402
from srgan.imagewrite import write_image  # noqa: E402
from srgan.upscaling import upscale  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(os.path.dirname(__file__), "..", "srgan", "samples",
                                                        "coffee.png"))
    parser.add_argument("--model", default="srresnet")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 1, 6, 9])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.runs < 1:  # the median of no runs was a traceback after the upscale
        parser.error(f"--runs must be at least 1, got {args.runs}")
    bad = [level for level in args.levels if not 0 <= level <= 9]
    if bad:  # write_image refused them only after the model had run
        parser.error(f"--levels are PNG levels 0-9, got {' '.join(map(str, bad))}")
    try:
        image, engine = read_rgb_uint8(args.image), prepare(args.model)
    except (ImageError, ValueError) as exc:  # a bad --image or --model: one line, no traceback
        parser.error(str(exc))
    sr = upscale(image, model=engine)
    megapixels = sr.shape[0] * sr.shape[1] / 1e6
    seconds = {level: [] for level in args.levels}
    sizes = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.runs):
            for level in args.levels:
                path = os.path.join(work, f"level{level}.png")
                start = time.perf_counter()
                write_image(path, sr, png_level=level, overwrite=True)
                seconds[level].append(time.perf_counter() - start)
                sizes[level] = os.path.getsize(path)
    print(f"{args.image} -> {sr.shape[1]}x{sr.shape[0]} ({args.model}), median of {args.runs} interleaved runs")
    rate = {level: megapixels / statistics.median(s) for level, s in seconds.items()}
    for level in args.levels:
        against = (f"; {rate[level] / rate[6]:.1f}x the speed of level 6, {sizes[level] / sizes[6] - 1:+.1%} bytes"
                   if 6 in rate and level != 6 else "")
        print(f"level {level}: {rate[level]:6.1f} MPix/s, {sizes[level] / 1e6:.2f} MB{against}")


if __name__ == "__main__":
    main()
