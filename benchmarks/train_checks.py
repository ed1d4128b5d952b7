"""What ``srgan train`` pays, before any work, to find validation and eval images among its training images.

    python benchmarks/train_checks.py [--data ../shared/data] [--repeats 7]

The config is the shared pool (``<data>/train``, ~1,570 images) with ``val_data=pool`` and
``eval_data=[Set5, Set14, BSD100]``. Prints medians of ``--repeats`` interleaved runs, with warm file caches, of:
the byte-for-byte copy check (:func:`srgan.runstart.refuse_trained_copies`: a scan of train_data, then a hash of the
files whose size equals a held image's), the scan of train_data alone, and all of the checks before training
(:func:`srgan.runstart.check_config`, which includes the copy check).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.config import load_config  # noqa: E402
from srgan.data import training_files  # noqa: E402
from srgan.datasets import development_data  # noqa: E402
from srgan.device import cpu_name  # noqa: E402
from srgan.runstart import check_config, refuse_trained_copies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(development_data()))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.repeats < 1:  # the median of no runs was a traceback after the warm-up's checks
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    pool = Path(args.data) / "train"
    if not pool.is_dir():
        sys.exit(f"{pool}: not found; pass --data (the folder that holds train/ and benchmarks/)")
    os.environ["SRGAN_DATA"] = str(args.data)  # eval_data names are found there
    config = load_config("paper-srresnet", [f"train_data={pool}", "val_data=pool", "eval_every=1000",
                                            'eval_data=["Set5", "Set14", "BSD100"]', "out_dir=/nonexistent/run"])
    val_set, eval_sets = check_config(config)  # warm-up: file caches, imports
    held = len(val_set) + sum(len(s) for s in eval_sets)
    runs = {
        "copy check": lambda: refuse_trained_copies(config, val_set, eval_sets),
        "scan of train_data": lambda: training_files(config.train_data),
        "all checks before training": lambda: check_config(config),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"{cpu_name()}, load average {os.getloadavg()[0]:.2f}; {len(training_files(config.train_data)[0])} "
          f"training files, {held} held images (val_data=pool, Set5, Set14, BSD100); medians of {args.repeats}")
    for name, values in times.items():
        print(f"  {name:28s} {statistics.median(values) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
