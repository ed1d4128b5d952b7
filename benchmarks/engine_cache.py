"""What ``srgan.upscale(img, model=module)`` pays to check that its cached engine still fits the module's weights,
what the cache saves, and what preparing the model on one thread saves.

    python benchmarks/engine_cache.py [--repeats 20]

The engine cached per module is reused only while :func:`srgan.engines._weights_stamp` is unchanged: each
tensor's id, version and data pointer, and its float64 sum (``p.data.add_(...)`` moves none of the others).
Prints, for the shipped generator on the CPU in fp32, interleaved, as medians of ``--repeats`` runs:

* ``stamp``: the check alone;
* ``upscale NxN``: whole ``upscale`` calls on 32x32 and 64x64 LR images, the engine cached;
* ``rebuilt NxN``: the same calls with the module's cached engine dropped first, so each call folds BatchNorm and
  builds the engine again, as every call did before the cache (plus two stamps: the lookup and the store);
* ``prepare, N threads``: ``srgan.prepare`` of the shipped weights file (loading, checking, folding BatchNorm)
  on one thread, as ``srgan upscale`` runs it, and on torch's default threads.
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
from srgan.engines import _ENGINES, _weights_stamp  # noqa: E402
from srgan.pipeline import one_thread  # noqa: E402
from srgan.shipped import weights_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.repeats < 1:  # the median of no runs was a traceback after the model had loaded
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    g = srgan.load_model("srgan", "cpu")
    path = weights_file("srgan")
    threads = torch.get_num_threads()
    images = {side: torch.rand(3, side, side, generator=torch.Generator().manual_seed(side)) for side in (32, 64)}
    for x in images.values():  # warm-up: the engine is built once, then reused
        srgan.upscale(x, g, device="cpu", precision="fp32")

    def rebuilt(x):
        _ENGINES.pop(g, None)  # forget the module's engine, so prepare folds and builds it again
        return srgan.upscale(x, g, device="cpu", precision="fp32")

    def prepare_file():
        return srgan.prepare(path, "cpu", "fp32")

    def prepare_one_thread():
        with one_thread():
            return prepare_file()

    contenders = {"stamp": lambda: _weights_stamp(g)}
    for side, x in images.items():
        contenders[f"upscale {side}x{side}"] = lambda x=x: srgan.upscale(x, g, device="cpu", precision="fp32")
        contenders[f"rebuilt {side}x{side}"] = lambda x=x: rebuilt(x)
    contenders["prepare, 1 thread"] = prepare_one_thread
    contenders[f"prepare, {threads} threads"] = prepare_file
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, call in contenders.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    print(f"{cpu_name()}, {threads} threads, torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.2f}; medians of {args.repeats}")
    for name, values in times.items():
        print(f"{name:>20}: {statistics.median(values) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
