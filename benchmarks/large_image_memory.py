"""Peak memory of a large upscale: 4000x3000 -> 16000x12000 through ``srgan upscale`` under /usr/bin/time -v.

    python benchmarks/large_image_memory.py                      # Generator(x4, 1 block, 64 channels), random
    python benchmarks/large_image_memory.py --blocks 16 --tile auto --workdir /tmp/big

Writes a synthetic 4000x3000 RGB PNG and random generator weights into ``--workdir`` (a temporary folder by
default; nothing here belongs in the repository), runs ``python -m srgan upscale`` on it as a child process
under ``/usr/bin/time -v`` (``apt-get install time`` if missing) and prints wall time and the maximum resident
set size. Activation memory per tile depends on the channel count, not on the number of residual blocks, so
a 1-block, 64-channel generator has the full model's peak memory at a fraction of its run time; the full
model's time is estimated from the per-pixel rate of ``benchmarks/inference.py``.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.checkpoint import save_generator  # noqa: E402
from srgan.models import Generator  # noqa: E402


def synthetic_image(path: Path, width: int, height: int) -> None:
    """A smooth colour field with some texture, written row band by row band (no huge temporaries)."""
    rng = np.random.default_rng(0)
    out = np.empty((height, width, 3), np.uint8)
    xs = np.linspace(0, 6 * np.pi, width, dtype=np.float32)
    for y0 in range(0, height, 500):
        ys = np.linspace(0, 4 * np.pi, height, dtype=np.float32)[y0:y0 + 500, None]
        for c in range(3):
            band = 127 + 60 * np.sin(xs[None] * (c + 1) / 3 + ys) + rng.normal(0, 12, (len(ys), width))
            out[y0:y0 + 500, :, c] = np.clip(band, 0, 255)
    Image.fromarray(out).save(path, compress_level=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--tile", default="auto")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="srgan-bigmem-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"input_{args.width}x{args.height}.png"
    if not src.exists():
        synthetic_image(src, args.width, args.height)
    torch.manual_seed(0)
    weights = save_generator(Generator(num_blocks=args.blocks, channels=args.channels).eval(),
                             work / f"g{args.blocks}x{args.channels}.safetensors")
    dest = work / "output.png"
    if dest.exists():
        dest.unlink()
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "srgan", "upscale", str(src), "-o", str(dest),
           "--model", str(weights), "--device", "cpu", "--tile", str(args.tile)]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0 or not peak:
        print(proc.stderr[-3000:])
        return 1
    print(f"peak RSS {int(peak.group(1)) / 2**20:.2f} GiB, wall {wall:.0f} s", flush=True)
    peak_gib = int(peak.group(1)) / 2**20
    Image.MAX_IMAGE_PIXELS = None  # our own output; only the header is read
    with Image.open(dest) as im:
        size = im.size
    print(f"Generator(x4, {args.blocks} blocks, {args.channels} channels), tile {args.tile}: "
          f"{args.width}x{args.height} -> {size[0]}x{size[1]} in {wall:.0f} s, peak RSS {peak_gib:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
