"""Regenerate docs/gallery.png: titled crops of bicubic | SRResNet | SRGAN | HR (x4) on benchmark images.

    python scripts/gallery.py --data ../shared/data/benchmarks -o docs/gallery.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from srgan.benchmark_sets import BenchmarkSet
from srgan.datasets import development_data
from srgan.demo import LABELS, comparison_image
from srgan.evaluate import super_resolve
from srgan.loading import resolve_model
from srgan.imagewrite import write_image

# (set, image, crop centre (y, x) in HR pixels): fur, line art, stripes, a natural BSD100 scene.
REPO = Path(__file__).resolve().parents[1]
PICKS = [("Set14", "baboon", (330, 250)), ("Set14", "comic", (120, 110)), ("Set14", "zebra", (150, 330)),
         ("BSD100", "8023", (130, 240)), ("Set5", "butterfly", (128, 128))]
COLUMNS = ("bicubic", "srresnet", "srgan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(development_data() / "benchmarks"), help="folder holding Set5/Set14/BSD100")
    parser.add_argument("-o", "--output", default=str(REPO / "docs" / "gallery.png"))
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    if args.crop < 1 or args.zoom < 1:  # --crop 0 wrote a gallery of titles alone, after all the upscales
        parser.error(f"--crop and --zoom must be at least 1, got {args.crop} and {args.zoom}")
    try:
        sets = {name: BenchmarkSet(Path(args.data) / name, 4) for name, _, _ in PICKS}
    except ValueError as exc:  # a set not under --data
        parser.error(str(exc))

    models = {name: resolve_model(name) for name in COLUMNS}
    rows, centres = [], []
    for set_name, image, centre in PICKS:
        items = {name: (lr, hr) for name, lr, hr in sets[set_name]}
        lr, hr = items[image]
        rows.append([super_resolve(models[m], lr, "cpu") for m in COLUMNS] + [hr])
        centres.append(centre)
    canvas = comparison_image(rows, LABELS, crop=args.crop, centres=centres, zoom=args.zoom)
    write_image(args.output, canvas.astype(np.float32) / 255, overwrite=True)
    print(f"wrote {args.output}: rows {', '.join(i for _, i, _ in PICKS)}; columns {' | '.join(COLUMNS)} | HR")


if __name__ == "__main__":
    main()
