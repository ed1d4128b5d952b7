"""How tiny images fare with and without edge padding: the measurement behind srgan.upscaling.MIN_SIDE.

    python benchmarks/tiny_inputs.py --data ../shared/data/benchmarks/Set14

Cuts n x n crops (3 random places per image, seed 0) from each LR image, upscales each with the shipped SRResNet
as it is ("raw": the network's zero padding), edge-padded (centred) to a side of 4, 8, 12 or 16 and cropped
back, and with MATLAB bicubic, and prints PSNR (RGB, all pixels) against the matching HR crop per n.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.datasets import development_data  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import ImageNotFoundError, read_rgb_uint8  # noqa: E402
from srgan.imresize import imresize  # noqa: E402
from srgan.engines import load_model, prepare  # noqa: E402

PADS = (4, 8, 12, 16)


def network(engine, lr: np.ndarray) -> np.ndarray:
    """The generator on exactly these pixels, unpadded (the engine directly: the API would pad under MIN_SIDE)."""
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = engine.forward(x)[0].clamp(0, 1)
    return (y.permute(1, 2, 0).numpy() * 255).round()


def padded(engine, lr: np.ndarray, side: int) -> np.ndarray:
    h, w, _ = lr.shape
    top, left = max(side - h, 0) // 2, max(side - w, 0) // 2
    big = np.pad(lr, ((top, max(side - h, 0) - top), (left, max(side - w, 0) - left), (0, 0)), mode="edge")
    return network(engine, big)[4 * top:4 * (top + h), 4 * left:4 * (left + w)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(development_data() / "benchmarks" / "Set14"), help="a set with HR/ and LR_bicubic_x4/")
    args = parser.parse_args(argv)
    lr_dir, hr_dir = os.path.join(args.data, "LR_bicubic_x4"), os.path.join(args.data, "HR")
    try:  # before the model loads
        pairs = list(zip(find_images([lr_dir]), find_images([hr_dir])))
    except ImageNotFoundError as exc:
        parser.error(f"--data {args.data}: {exc} (a set with HR/ and LR_bicubic_x4/)")
    if not pairs:
        parser.error(f"--data {args.data}: no images in its LR_bicubic_x4/ or HR/")
    engine = prepare(load_model("srresnet"), "cpu", "fp32")
    rng = np.random.default_rng(0)
    print(f"PSNR (dB) against the HR crop, {len(pairs)} images x 3 crops, shipped SRResNet")
    print("n  raw     bicubic " + " ".join(f"pad{p:<4d}" for p in PADS))
    for n in (1, 2, 3, 4, 6):
        errors: dict[str, list[float]] = {}
        for lr_path, hr_path in pairs:
            lr, hr = read_rgb_uint8(lr_path), read_rgb_uint8(hr_path).astype(np.float64)
            for _ in range(3):
                y, x = (int(rng.integers(5, side - n - 5)) for side in lr.shape[:2])
                crop, ref = lr[y:y + n, x:x + n], hr[4 * y:4 * (y + n), 4 * x:4 * (x + n)]
                bic = imresize(torch.from_numpy(crop).permute(2, 0, 1)[None].double() / 255, scale=4)
                outs = {"raw": network(engine, crop), "bicubic": (bic[0].permute(1, 2, 0).numpy() * 255).clip(0, 255)}
                outs.update({f"pad{p}": padded(engine, crop, p) for p in PADS})
                for key, out in outs.items():
                    errors.setdefault(key, []).append(float(np.mean((out - ref) ** 2)))
        row = [10 * np.log10(255 ** 2 / np.mean(errors[k])) for k in ["raw", "bicubic", *(f"pad{p}" for p in PADS)]]
        print(f"{n}  " + " ".join(f"{v:7.2f}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
