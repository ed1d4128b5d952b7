"""Which shipped model looks better on real photos: NIQE and checkerboard score per model, PNG and JPEG q=75 inputs.

    python scripts/compare_on_photos.py                 # the bundled srgan/samples
    python scripts/compare_on_photos.py photos/ --quality 75

Each photo is upscaled as it is and after a JPEG round trip at --quality (real inputs are mostly JPEG). Printed
per image and input kind: NIQE of the output (4-px border; lower = more natural) and its checkerboard score
(srgan/checkerboard.py; 10 dB is where a grid becomes visible). This is the evidence behind `srgan upscale`'s
default model (docs/RESULTS.md, "Which model upscale uses").
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.checkerboard import checkerboard_score
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler, resolve_model
from srgan.imagefind import find_images
from srgan.images import ImageNotFoundError, read_rgb_uint8
from srgan.niqe import niqe


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))  # writable, for torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", default=[str(Path(__file__).parents[1] / "srgan" / "samples")])
    parser.add_argument("--models", nargs="+", default=["srresnet", "srgan"])
    parser.add_argument("--quality", type=int, default=75)
    args = parser.parse_args()
    if not 1 <= args.quality <= 100:  # 500 was labelled "JPEG q=500"
        parser.error(f"--quality is a JPEG quality 1-100, got {args.quality}")
    try:
        models = {name: resolve_model(name) for name in args.models}
        photos = find_images(args.photos)
    except (ImageNotFoundError, ValueError) as exc:  # a bad --models value is a CheckpointError, a ValueError
        parser.error(str(exc))
    bicubic = BicubicUpscaler(4)
    for path in photos:
        photo = read_rgb_uint8(path)
        for kind, lr in (("as is", photo), (f"JPEG q={args.quality}", jpeg_round_trip(photo, args.quality))):
            reference = super_resolve(bicubic, lr, "cpu")
            cells = []
            for name, model in models.items():
                sr = super_resolve(model, lr, "cpu")
                cells.append(f"{name}: NIQE {niqe(sr, border=4):.2f}, grid {checkerboard_score(sr, reference):.1f} dB")
            print(f"{path.name} ({kind}) | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
