"""What ``--back-project`` costs: the prepared engine with and without it, interleaved, on one image.

    python benchmarks/back_project.py                          # srgan/samples/coffee.png (600x400 -> 2400x1600)
    python benchmarks/back_project.py --image photo.png --model srresnet --runs 7

Both engines run as ``srgan upscale`` runs them (:func:`srgan.upscaling.upscale_planes`, tile 'auto', the
precision 'auto' resolves to here, output assembled in memory); runs alternate so that other load hits both
alike. The back-projected engine is opaque to the tiling, so it also loses the split of the network into
large-tile features and small-tile reconstruction (srgan/tiling.py): that is part of what is measured. The
correction alone (srgan/backproject.py's two MATLAB-bicubic resizes, on the whole output) is timed too.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.images import ImageError, read_image  # noqa: E402
from srgan.imresize import imresize  # noqa: E402
from srgan.engines import prepare  # noqa: E402
from srgan.upscaling import upscale_planes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(os.path.dirname(__file__), "..", "srgan", "samples",
                                                        "coffee.png"))
    parser.add_argument("--model", default="srgan")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.runs < 1:  # the median of no runs was a traceback after the warm-up
        parser.error(f"--runs must be at least 1, got {args.runs}")
    try:
        rgb = torch.from_numpy(read_image(args.image).rgb).permute(2, 0, 1)
        engines = {name: prepare(args.model, "cpu", args.precision, back_project=name == "back-projected")
                   for name in ("plain", "back-projected")}
    except (ImageError, ValueError) as exc:  # a bad --image, --model or --precision: one line, no traceback
        parser.error(str(exc))
    for engine in engines.values():  # warm-up: the first call builds oneDNN kernels
        upscale_planes(engine, rgb, tile="auto", out="uint8")
    times = {name: [] for name in engines}
    for _ in range(args.runs):
        for name, engine in engines.items():
            start = time.perf_counter()
            upscale_planes(engine, rgb, tile="auto", out="uint8")
            times[name].append(time.perf_counter() - start)
    h, w = rgb.shape[1:]
    lr, sr = rgb[None].float() / 255, torch.rand(1, 3, 4 * h, 4 * w)
    correction = []
    for _ in range(args.runs):  # BackProjected.forward after the model: residual down, back up, added
        start = time.perf_counter()
        sr + imresize(lr - imresize(sr, 1 / 4), 4)
        correction.append(time.perf_counter() - start)
    print(f"{args.model}, {w}x{h} -> {4 * w}x{4 * h}, {engines['plain'].dtype}, {torch.get_num_threads()} threads, "
          f"median of {args.runs} (load average {os.getloadavg()[0]:.2f})")
    for name, samples in times.items():
        print(f"  {name:15s} {statistics.median(samples):.2f} s")
    print(f"  ratio           {statistics.median(times['back-projected']) / statistics.median(times['plain']):.3f}")
    print(f"  correction only {statistics.median(correction):.3f} s")


if __name__ == "__main__":
    main()
