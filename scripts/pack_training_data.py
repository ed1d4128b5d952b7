"""Pack training folders small enough to carry to a GPU box, without changing a single training pixel.

    python scripts/pack_training_data.py ../shared/data/train -o .devdata/a --folders BSD200 BSDS500_test200
    python scripts/pack_training_data.py ../shared/data/train -o .devdata/b --folders T91 SunHays80
    python scripts/pack_training_data.py ../shared/data/train -o .devdata/b --folders ImageNet1000 --max-mib 27
    python scripts/pack_training_data.py ../shared/data/train -o .devdata/val --validation

(docs/TRAINING.md, "The shipped weights": each of a and b must fit a 64 MiB device call with the working tree.)

JPEG files are copied byte for byte (their pixels are the training data; re-encoding would only add loss or
bytes). Everything else is written as lossless WebP (~40% smaller than PNG/BMP), checked to decode to exactly
the same RGB pixels. The validation split (srgan/validation.py) is always left out, or packed alone with
``--validation``. With ``--max-mib`` the files
are taken in a seeded random order until the budget is full, so a partial pack is an unbiased sample.
"""
from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.imagefind import find_images
from srgan.images import ImageNotFoundError, read_rgb_uint8
from srgan.validation import is_validation_image


def pack_one(path: Path, target_stem: Path) -> Path:
    if path.suffix.lower() in (".jpg", ".jpeg"):
        target = target_stem.with_suffix(path.suffix.lower())
        shutil.copyfile(path, target)
        return target
    pixels = read_rgb_uint8(path)
    target = target_stem.with_suffix(".webp")
    Image.fromarray(pixels).save(target, lossless=True, quality=100, method=4)
    if not np.array_equal(read_rgb_uint8(target), pixels):
        raise SystemExit(f"{target}: lossless WebP did not round-trip; stopping")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="training pool root (searched recursively)")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--folders", nargs="*", help="only these sub-folders of source (default: all)")
    parser.add_argument("--max-mib", type=float, help="stop adding files at this many MiB")
    parser.add_argument("--seed", type=int, default=0, help="file order when --max-mib cuts the pack short")
    parser.add_argument("--validation", action="store_true", help="pack only the validation split")
    args = parser.parse_args()
    if args.max_mib is not None and not args.max_mib > 0:  # 0 read as "no budget" and packed everything
        parser.error(f"--max-mib must be a positive number, got {args.max_mib:g}")
    source, output = Path(args.source), Path(args.output)
    roots = [source / f for f in args.folders] if args.folders else [source]
    try:
        files = [p for p in find_images(roots) if is_validation_image(p) == args.validation]
    except ImageNotFoundError as exc:  # no such source or --folders entry
        parser.error(str(exc))
    if args.max_mib is not None:
        random.Random(args.seed).shuffle(files)
    budget = float("inf") if args.max_mib is None else args.max_mib * 2**20
    total = packed = 0
    for path in files:
        stem = output / path.relative_to(source).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        target = pack_one(path, stem)
        size = target.stat().st_size
        if total + size > budget:
            target.unlink()
            continue
        total += size
        packed += 1
    print(f"wrote {output}: {packed} of {len(files)} files, {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
