"""Whole-CLI speed against the prepared model's, and files/s on many tiny PNGs (issue 14, items 1-2).

    python benchmarks/cli_throughput.py --data ../shared/data/benchmarks/BSD100/HR
    python benchmarks/cli_throughput.py --data DIR --large 2000x1500 --photos 8 --runs 3 --small 10000

Three workloads, each measured ``--runs`` times, interleaved with its model-only reference:

* **one large image**: a ``--large`` WxH PNG pasted together from the photos in ``--data``;
* **a folder of photos**: the first ``--photos`` images of ``--data``;
* **many small files**: ``--small`` random 8x8 PNGs.

"model" is the prepared engine alone on the decoded images (:func:`srgan.upscaling.upscale_planes`, tiled as the
CLI tiles, output assembled in memory): no decoding, encoding or files. "cli" is ``srgan upscale`` called in this
process (``srgan.cli.main``: planning, loading the weights, decoding, the model, encoding, atomic writes);
"cli+startup" also counts a fresh interpreter (``python -m srgan upscale`` in a subprocess: imports, torch
start-up). Output MPix/s = output pixels / wall seconds; the ratio cli / model is the issue's bar (>= 0.9);
small files/s has the bar >= 50 on 2 cores. The load average is printed: other processes share the cores.
"""
from __future__ import annotations

import argparse
import atexit
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.cli import main as srgan_main  # noqa: E402
from srgan.device import cpu_name  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import ImageError, read_image  # noqa: E402
from srgan.engines import prepare  # noqa: E402
from srgan.upscaling import upscale_planes  # noqa: E402


def make_large(photos: list[Path], width: int, height: int, dest: Path) -> Path:
    """A width x height photo mosaic (real image statistics, unlike noise, for the PNG encoder too)."""
    canvas = Image.new("RGB", (width, height))
    x = y = row = 0
    for path in photos * (1 + width * height // (320 * 480)):
        with Image.open(path) as im:
            im = im.convert("RGB")
            canvas.paste(im, (x, y))
            x += im.width
            row = max(row, im.height)
        if x >= width:
            x, y = 0, y + row
            if y >= height:
                break
    canvas.save(dest)
    return dest


def model_seconds(engine, files: list[Path]) -> float:
    images = [read_image(f) for f in files]  # decoded before the clock
    start = time.perf_counter()
    for img in images:
        upscale_planes(engine, torch.from_numpy(img.rgb).permute(2, 0, 1), tile="auto", out="uint8")
    return time.perf_counter() - start


def cli_seconds(args: list[str], out: Path, subprocess_run: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    if subprocess_run:
        subprocess.run([sys.executable, "-m", "srgan", "upscale", *args, "-o", str(out), "--quiet"], check=True)
    else:
        assert srgan_main(["upscale", *args, "-o", str(out), "--quiet"]) == 0
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a folder of photos (e.g. BSD100/HR)")
    parser.add_argument("--model", default="srresnet", help="what srgan upscale runs by default")
    parser.add_argument("--large", default="2000x1500", help="WxH of the large image (the size issue 14 names)")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--small", type=int, default=2000, help="number of 8x8 PNGs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-subprocess", action="store_true", help="skip the cli+startup timings")
    args = parser.parse_args(argv)
    # all checked before the temporary folder is made: a bad --large was a traceback that left it behind
    size = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", args.large.lower())
    if size is None:
        parser.error(f"--large is WxH in pixels, such as 2000x1500, got {args.large!r}")
    width, height = map(int, size.groups())
    for name in ("photos", "small", "runs"):  # 0 runs: the median of nothing; 0 files: files/s divided by zero
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    try:
        photos = find_images([args.data])
    except ImageError as exc:
        parser.error(f"--data {exc}")
    if not photos:
        parser.error(f"--data {args.data}: no images there")
    try:
        engine = prepare(args.model, "cpu", "auto")
    except ValueError as exc:  # a bad --model (CheckpointError is a ValueError)
        parser.error(str(exc))
    work = Path(tempfile.mkdtemp(prefix="srgan-cli-bench-"))
    atexit.register(shutil.rmtree, work, True)  # also when a run fails: --small writes thousands of files
    large = make_large(photos, width, height, work / "large.png")
    folder = work / "photos"
    folder.mkdir()
    for p in photos[:args.photos]:
        shutil.copy(p, folder / p.name)
    small = work / "small"
    small.mkdir()
    rng = np.random.default_rng(0)
    for i in range(args.small):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(small / f"{i:05d}.png")
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, precision "
          f"{str(engine.dtype).replace('torch.', '')}; load average before: {os.getloadavg()[0]:.2f}")
    common = ["--model", args.model, "--device", "cpu"]
    cases = {
        f"one {width}x{height} image": ([large], [str(large), *common]),
        f"{args.photos} photos": (sorted(folder.iterdir()), [str(folder), *common]),
    }
    model_seconds(engine, [large])  # warm-up: oneDNN primitives for these shapes
    for name, (files, cli_args) in cases.items():
        mpix = sum(Image.open(f).width * Image.open(f).height for f in files) * engine.scale ** 2 / 1e6
        times = {"model": [], "cli": [], "cli+startup": []}
        for _ in range(args.runs):
            times["model"].append(model_seconds(engine, files))
            times["cli"].append(cli_seconds(cli_args, work / "out", False))
            if not args.no_subprocess:
                times["cli+startup"].append(cli_seconds(cli_args, work / "out", True))
        med = {k: statistics.median(v) for k, v in times.items() if v}
        print(f"\n{name}: {mpix:.1f} output MPix, median of {args.runs} interleaved runs")
        for k, s in med.items():
            print(f"  {k:<12} {s:7.2f} s  {mpix / s:6.3f} MPix/s  {med['model'] / s:5.2f} of model")
    times = {"cli": [], "cli+startup": []}
    for _ in range(args.runs):
        times["cli"].append(cli_seconds([str(small), *common], work / "out", False))
        if not args.no_subprocess:
            times["cli+startup"].append(cli_seconds([str(small), *common], work / "out", True))
    print(f"\n{args.small} 8x8 PNGs, median of {args.runs} runs (bar: >= 50 files/s)")
    for k, v in times.items():
        if v:
            print(f"  {k:<12} {statistics.median(v):7.2f} s  {args.small / statistics.median(v):7.1f} files/s")
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (other processes share these cores)")


if __name__ == "__main__":
    main()
