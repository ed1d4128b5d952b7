"""Training-loader throughput: patches/s with and without the pre-decoded cache.

    python benchmarks/data_loader.py [--data DIR ...] [--workers 0 2] [--batches 30] [--step-seconds 0.5]

Builds ``TrainDataset`` (96-px HR crops, x4, batch 16 by default) over the training folders,
times ``--batches`` batches from the loader ``srgan train`` runs (``srgan.batches.step_loader`` over
``StepBatches``, as ``num_workers`` sets it) for each worker count, with the cache (default, built
first into a temporary cache folder and timed separately) and without it, and prints the rates next
to what a training step consumes (``batch / step-seconds`` patches/s). The loader keeps up when its
rate is above that.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from srgan.batches import StepBatches, step_loader
from srgan.data import TrainDataset
from srgan.datasets import development_data

DEFAULT_DATA = development_data() / "train"


def measure(dataset: TrainDataset, batch: int, batches: int, workers: int) -> float:
    loader = step_loader(dataset, StepBatches(len(dataset), batch, seed=0, start=0, stop=batches + 1), workers)
    it = iter(loader)
    next(it)  # worker start-up and first batch are not throughput
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        lr, hr = next(it)
        n += hr.shape[0]
    elapsed = time.perf_counter() - start
    del it
    return n / elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=[str(DEFAULT_DATA)], help="training folders")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--batches", type=int, default=30, help="timed batches per configuration")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--step-seconds", type=float, default=0.5, help="seconds one training step takes")
    p.add_argument("--cache-dir", help="default: a fresh temporary folder (so the build is timed)")
    args = p.parse_args(argv)
    for name in ("batch", "crop", "scale", "batches"):  # --batches 0 printed 0 patches/s; --scale 0 a traceback
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if min(args.workers) < 0:
        p.error(f"--workers must be >= 0, got {min(args.workers)}")
    if not args.step_seconds > 0:  # the rate a step needs is batch / step-seconds
        p.error(f"--step-seconds must be > 0, got {args.step_seconds:g}")
    torch.set_num_threads(1)

    need = args.batch / args.step_seconds
    with tempfile.TemporaryDirectory(prefix="srgan-bench-cache-") as tmp:
        cache_dir = args.cache_dir or tmp
        t0 = time.perf_counter()
        try:
            cached = TrainDataset(args.data, crop_size=args.crop, scale=args.scale, cache_dir=cache_dir)
        except ValueError as exc:  # no such --data folder, or a --crop that is no multiple of --scale
            p.error(str(exc))
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = TrainDataset(args.data, crop_size=args.crop, scale=args.scale, cache=False)
        scan = time.perf_counter() - t0
        print(f"data: {', '.join(args.data)}: {cached.num_images} usable images "
              f"({len(cached.skipped_small)} smaller than {args.crop} px)")
        print(f"cache build (decode all, write .npy): {build:.1f} s; header scan without cache: {scan:.2f} s")
        print(f"cpu: {os.cpu_count()} cores, torch threads in main 1, in each worker 1")
        print(f"training step consumes: {need:.1f} patches/s (batch {args.batch} every {args.step_seconds} s)")
        print()
        print("| loader | workers | patches/s | vs. step |")
        print("|---|---:|---:|---:|")
        for workers in args.workers:
            for name, ds in (("cache (mmap .npy)", cached), ("no cache (decode each)", plain)):
                rate = measure(ds, args.batch, args.batches, workers)
                print(f"| {name} | {workers} | {rate:.0f} | {rate / need:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
