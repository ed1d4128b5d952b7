"""What ``srgan.upscale(img, model=module)`` pays to check that its cached engine still fits the module's weights.

    python benchmarks/engine_cache.py [--repeats 20]

The engine cached per module is reused only while :func:`srgan.engines._weights_stamp` is unchanged: each
tensor's id, version and data pointer, and its float64 sum (``p.data.add_(...)`` moves none of the others).
Prints, for the shipped generator on the CPU in fp32, the stamp alone and whole ``upscale`` calls on 32x32 and
64x64 LR images, interleaved, as medians of ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import srgan  # noqa: E402
from srgan.device import cpu_name  # noqa: E402
from srgan.engines import _weights_stamp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    g = srgan.load_model("srgan", "cpu")
    images = {side: torch.rand(3, side, side, generator=torch.Generator().manual_seed(side)) for side in (32, 64)}
    for x in images.values():  # warm-up: the engine is built once, then reused
        srgan.upscale(x, g, device="cpu", precision="fp32")
    times: dict[str, list[float]] = {"stamp": [], **{f"upscale {s}x{s}": [] for s in images}}
    for _ in range(args.repeats):
        start = time.perf_counter()
        _weights_stamp(g)
        times["stamp"].append(time.perf_counter() - start)
        for side, x in images.items():
            start = time.perf_counter()
            srgan.upscale(x, g, device="cpu", precision="fp32")
            times[f"upscale {side}x{side}"].append(time.perf_counter() - start)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.2f}; medians of {args.repeats}")
    for name, values in times.items():
        print(f"{name:>16}: {statistics.median(values) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
