"""What three rounding paths that srgan no longer takes cost, measured on the bundled samples (CPU, fp32 model).

    python benchmarks/rounding_paths.py

* Grayscale (8-bit L input): the output rounded once (the luma of the float RGB output, then 8 bits, as
  ``srgan upscale`` and now ``srgan.upscale`` do) against rounded twice (RGB to 8 bits, then the luma again, as the
  API did for uint8 grayscale arrays and L/LA images). Model: the shipped SRResNet.
* 16-bit grayscale: the same, in 16 bits (RGB to uint16, then the luma again, as ``srgan upscale`` and
  ``upscale_file`` did for 16-bit grayscale files), in levels of 65535. The input is the sample's luma in 16 bits.
* Bicubic in bf16: MATLAB bicubic with its input and output carried in bfloat16 (what precision 'auto' gave it on
  bf16 CPUs) against float64 (what it runs in now, as in ``srgan eval``).

Prints, per sample, the share of output pixels that differ and the largest difference, in levels.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import srgan  # noqa: E402
from srgan.loading import BicubicUpscaler  # noqa: E402
from srgan.images import read_rgb_uint8, to_uint8  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.pixels import LUMA_BT601  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "srgan", "samples")


def differ(a: np.ndarray, b: np.ndarray) -> str:
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return f"{(d > 0).mean():7.2%} of pixels differ, max {d.max()} level(s)"


def main() -> None:
    # no options: --help (or a mistyped one) ran the whole measurement, minutes on an AVX2 CPU
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    engine = srgan.prepare("srresnet", "cpu", "fp32")
    bicubic = BicubicUpscaler(4)
    print(f"{'sample':<16} {'grayscale: once vs twice':<42} {'16-bit grayscale: once vs twice':<42} "
          "bicubic: bf16 vs float64")
    for path in find_images([SAMPLES]):
        rgb = read_rgb_uint8(path)
        gray = np.rint(rgb.astype(np.float32) @ LUMA_BT601).astype(np.uint8)
        out = srgan.upscale(gray.astype(np.float32) / 255, model=engine, tile=0)  # the float path: luma of float RGB
        once = to_uint8(out)
        rgb_out = srgan.upscale(np.repeat(gray[..., None], 3, axis=2), model=engine, tile=0)  # 8-bit RGB first
        twice = to_uint8(rgb_out.astype(np.float32) / 255 @ LUMA_BT601)
        gray16 = np.rint(rgb.astype(np.float32) / 255 @ LUMA_BT601 * 65535) / 65535
        out16 = np.clip(srgan.upscale(gray16.astype(np.float32), model=engine, tile=0), 0, 1)
        once16 = np.rint(out16 * 65535)
        rgb16 = np.rint(np.clip(srgan.upscale(np.repeat(gray16[..., None], 3, axis=2).astype(np.float32),
                                              model=engine, tile=0), 0, 1) * 65535)  # uint16 RGB first
        twice16 = np.rint(np.clip(rgb16 / 65535 @ LUMA_BT601, 0, 1) * 65535)
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255
        exact = to_uint8(bicubic(x)[0].permute(1, 2, 0).numpy())
        bf16 = to_uint8(bicubic(x.to(torch.bfloat16)).float()[0].permute(1, 2, 0).numpy())
        print(f"{os.path.basename(path):<16} {differ(once, twice):<42} {differ(once16, twice16):<42} "
              f"{differ(exact, bf16)}")


if __name__ == "__main__":
    main()
