"""Pack training folders as lossless WebP (pixel-identical, ~40% smaller than PNG/BMP) to carry them to a GPU box.

    python scripts/pack_training_data.py ../shared/data/train -o .devdata/train   # T91 + BSD200: 106 MB -> 39 MiB

Each image is checked to decode to exactly the same RGB pixels before the next one is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.images import find_images, read_rgb_uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of training images (searched recursively)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    source, output = Path(args.source), Path(args.output)
    total = 0
    for path in find_images([source]):
        pixels = read_rgb_uint8(path)
        target = (output / path.relative_to(source)).with_suffix(".webp")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target, lossless=True, quality=100, method=4)
        if not np.array_equal(read_rgb_uint8(target), pixels):
            raise SystemExit(f"{target}: lossless WebP did not round-trip; stopping")
        total += target.stat().st_size
    print(f"wrote {output}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
