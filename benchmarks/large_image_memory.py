"""Peak memory of a large upscale through ``srgan upscale`` (a child process under /usr/bin/time -v).

    python benchmarks/large_image_memory.py                             # 2000x1500 -> 8000x6000, 8-bit RGB
    python benchmarks/large_image_memory.py --bits 16                   # the same from a 16-bit RGB PNG
    python benchmarks/large_image_memory.py --width 4000 --height 3000 --blocks 1   # a random 1-block generator
    python benchmarks/large_image_memory.py --command degrade --width 120000 --height 200   # srgan degrade

Writes a synthetic RGB PNG (8 or 16 bits per channel) into ``--workdir`` (kept for the next run when given; a
temporary folder, removed, by default; nothing here belongs in the repository), runs ``python -m srgan upscale``
on it with the shipped 16-block SRGAN generator (``--model``) or a random generator of ``--blocks`` residual
blocks (memory per tile depends on the channel width, not the depth; the time does), or ``srgan degrade`` (its
MATLAB bicubic x1/4), and prints wall time and the maximum resident set size (``apt-get install time`` if
missing).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.checkpoint import save_generator  # noqa: E402
from srgan.imagewrite import write_image  # noqa: E402
from srgan.models import Generator  # noqa: E402


def synthetic_image(path: Path, width: int, height: int, bits: int) -> None:
    """A smooth colour field with some texture, built row band by row band (no huge float temporaries)."""
    rng = np.random.default_rng(0)
    top = 255 if bits == 8 else 65535
    out = np.empty((height, width, 3), np.uint8 if bits == 8 else np.uint16)
    xs = np.linspace(0, 6 * np.pi, width, dtype=np.float32)
    for y0 in range(0, height, 500):
        ys = np.linspace(0, 4 * np.pi, height, dtype=np.float32)[y0:y0 + 500, None]
        for c in range(3):
            band = 0.5 + 0.23 * np.sin(xs[None] * (c + 1) / 3 + ys) + rng.normal(0, 0.05, (len(ys), width))
            out[y0:y0 + 500, :, c] = np.rint(np.clip(band, 0, 1) * top)
    if bits == 8:
        Image.fromarray(out).save(path, compress_level=1)
    else:  # Pillow cannot write 16-bit RGB; srgan's PNG writer can
        write_image(path, out.astype(np.float32) / top, bit_depth=16, overwrite=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bits per channel of the input PNG")
    parser.add_argument("--model", default="srgan", help="what srgan upscale --model gets (default: shipped SRGAN)")
    parser.add_argument("--blocks", type=int, default=None,
                        help="upscale with a random 64-channel generator of this many residual blocks instead")
    parser.add_argument("--command", choices=("upscale", "degrade"), default="upscale")
    parser.add_argument("--tile", default="auto")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    if min(args.width, args.height) < 4:
        parser.error(f"--width and --height must be at least 4, got {args.width}x{args.height}")
    if args.blocks is not None and not 1 <= args.blocks <= 64:
        parser.error(f"--blocks must be 1-64, got {args.blocks}")
    if args.command == "degrade" and (args.blocks is not None or args.tile != "auto" or args.model != "srgan"):
        parser.error("--blocks, --model and --tile are upscale's; degrade runs no model")
    if not Path("/usr/bin/time").exists():
        parser.error("needs /usr/bin/time (apt-get install time)")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        return measure(args, Path(args.workdir))
    work = Path(tempfile.mkdtemp(prefix="srgan-bigmem-"))
    try:
        return measure(args, work)
    finally:
        shutil.rmtree(work)


def measure(args: argparse.Namespace, work: Path) -> int:
    # a folder per input: degrade takes a folder, and a kept --workdir's earlier inputs were degraded and counted too
    src = work / f"in_{args.width}x{args.height}_{args.bits}bit" / "input.png"
    if not src.exists():
        src.parent.mkdir(exist_ok=True)
        synthetic_image(src, args.width, args.height, args.bits)
    model = args.model
    if args.blocks is not None:
        random_weights = work / f"random_{args.blocks}_blocks.safetensors"
        model = str(save_generator(Generator(num_blocks=args.blocks), random_weights))
    if args.command == "degrade":  # a folder in, a folder out
        dest = work / "lr" / src.name
        run = ["degrade", str(src.parent), "-o", str(dest.parent), "--overwrite"]
        what = "degrade x1/4"
    else:
        dest = work / "output.png"
        run = ["upscale", str(src), "-o", str(dest), "--model", model, "--device", "cpu", "--tile", str(args.tile),
               "--quiet", "--overwrite"]
        what = f"model {args.model if args.blocks is None else f'random {args.blocks}-block'}, tile {args.tile}"
    if dest.exists():
        dest.unlink()
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "srgan", *run]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0 or not peak:
        print(proc.stderr[-3000:])
        return 1
    peak_gib = int(peak.group(1)) / 2**20
    Image.MAX_IMAGE_PIXELS = None  # our own output; only the header is read
    with Image.open(dest) as im:
        size, mode = im.size, im.mode
    with open(dest, "rb") as handle:
        bits = handle.read(25)[24]  # the IHDR chunk's bit depth
    print(f"{what}, {args.bits}-bit {args.width}x{args.height} -> {bits}-bit "
          f"{size[0]}x{size[1]} ({mode}) in {wall:.0f} s, peak RSS {peak_gib:.2f} GiB, "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
