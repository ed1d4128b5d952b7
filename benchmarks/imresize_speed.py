"""MATLAB bicubic resize (srgan.imresize): the banded matmuls against one dense matrix per axis, interleaved.

    python benchmarks/imresize_speed.py                  # 96x96 batch of 16, 480x640, 2000x3000, 4000x6000
    python benchmarks/imresize_speed.py --runs 7

The dense reference is what srgan.imresize did before it was banded: ``M_h @ x @ M_w.T`` with the
``(out, in)`` matrices of :func:`srgan.imresize.resize_matrix`, built outside the clock (as the old cache did).
Three operations per size: float32 x1/4 (what back-projection and NIQE run), float32 x4 (back-projection's
upscale of the residual) and uint8 x1/4 (how LR images are made; float64 inside). Each is checked against the
dense result before timing (float: max difference; uint8: equal bytes). Random pixels; the cost does not
depend on them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.device import cpu_name  # noqa: E402
from srgan.imresize import imresize, imresize_uint8, output_size, resize_matrix  # noqa: E402

SHAPES = [(16, 96, 96), (1, 480, 640), (1, 2000, 3000), (1, 4000, 6000)]


def dense_resize(x: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor, round_each: bool) -> torch.Tensor:
    y = mh @ x
    if round_each:
        y = torch.floor(y + 0.5).clamp_(0, 255)
    y = y @ mw.T
    return torch.floor(y + 0.5).clamp_(0, 255).to(torch.uint8) if round_each else y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.runs < 1:  # the median of no runs was a traceback after the first size's reference resize
        parser.error(f"--runs must be at least 1, got {args.runs}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu {cpu_name()} x{os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; median of {args.runs} interleaved runs")
    print("| input | operation | dense ms | banded ms | speed-up | max diff |")
    print("|---|---|---:|---:|---:|---:|")
    gen = torch.Generator().manual_seed(0)
    for n, h, w in SHAPES:
        u8 = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=gen)
        lr = imresize(u8.float() / 255, 0.25)
        cases = [("float32 x1/4", u8.float() / 255, 0.25, False, "symmetric"),
                 ("float32 x4", lr, 4, False, "symmetric"),
                 ("uint8 x1/4", u8, 0.25, True, "replicate")]
        for label, x, scale, round_each, border in cases:
            (oh, ow), _ = output_size(x.shape[-2:], scale)
            dtype = torch.float64 if round_each else x.dtype
            mh = resize_matrix(x.shape[-2], oh, scale, border).to(dtype)
            mw = resize_matrix(x.shape[-1], ow, scale, border).to(dtype)
            fns = {"dense": lambda: dense_resize(x.to(dtype), mh, mw, round_each),
                   "banded": lambda: imresize_uint8(x, scale) if round_each else imresize(x, scale)}
            ref, out = fns["dense"](), fns["banded"]()  # also the warm-up (the banded tables are built here)
            diff = "equal" if round_each and torch.equal(ref, out) else f"{(ref.double() - out.double()).abs().max():.1e}"
            times = {name: [] for name in fns}
            for _ in range(args.runs):
                for name, fn in fns.items():
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            dense, banded = (1000 * statistics.median(times[k]) for k in ("dense", "banded"))
            size = f"{n}x3x{h}x{w}" if n > 1 else f"{h}x{w}"
            print(f"| {size} | {label} | {dense:.2f} | {banded:.2f} | {dense / banded:.1f}x | {diff} |")


if __name__ == "__main__":
    main()
