"""``--precision int8`` against the bf16 path: speed, PSNR lost, and how the error looks, in one run (issue 14.4).

    python benchmarks/int8.py --data ../shared/data/benchmarks --sets Set5 Set14 --runs 7

Contenders, all prepared with :func:`srgan.engines.prepare` as ``srgan upscale`` prepares them:

* ``torch bf16`` / ``torch fp32``: srgan's default path (precision auto is bf16 on CPUs with native bf16);
* ``openvino bf16`` / ``openvino fp32``: ``--backend openvino``;
* ``int8``: ``--precision int8`` (``--int8`` weights, default the shipped srresnet_int8.safetensors; 7-bit weights
  on CPUs without VNNI/AMX, as srgan runs it there).

Speed ratios are against srgan's default on the machine (``--precision auto``: torch bf16 where the CPU has native
bf16, else torch fp32).

Speed: one ``--size`` LR input, untiled, the contenders interleaved ``--runs`` times (median). Quality: PSNR-Y
(4-px border) of every set against its HR, next to the fp32 model's; how int8 differs from fp32 per pixel (mean,
largest, share of values more than 8 levels off); and whether int8 adds a regular pattern: the checkerboard
score (:func:`srgan.checkerboard.checkerboard_score`, against the bicubic upscale) of int8 minus that of fp32,
largest over the set. ``--save FILE.png`` writes fp32 | int8 | 4x difference around the largest difference
seen, at 3x zoom, for looking at.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.datasets import development_data  # noqa: E402
from srgan.device import cpu_flags, cpu_has_int8_dot, cpu_name, resolve_precision  # noqa: E402
from srgan.checkerboard import checkerboard_score  # noqa: E402
from srgan.benchmark_sets import BenchmarkSet  # noqa: E402
from srgan.metrics import psnr_ssim_y, to_uint8  # noqa: E402
from srgan.engines import prepare  # noqa: E402


def cpu_model_and_int8_units() -> str:
    flags = [f for f in ("avx512_bf16", "avx512_vnni", "avx_vnni", "amx_int8") if f in cpu_flags()]
    return f"{cpu_name()} ({', '.join(flags) or 'no VNNI/AMX'})"


def sr(engine, lr: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        y = engine.forward(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)
    return to_uint8(y[0].permute(1, 2, 0).float().numpy())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(development_data() / "benchmarks"))
    p.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    p.add_argument("--int8", default="srresnet", help="int8 weights file (default: the shipped ones)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--save", default=None, metavar="FILE.png", help="fp32 | int8 | difference crop")
    args = p.parse_args(argv)
    # before the five engines are made and the sets scored: --runs 0 was the median of nothing, at the very end
    for name in ("size", "runs"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    try:
        sets = {name: BenchmarkSet(Path(args.data) / name, 4) for name in args.sets}
        int8 = prepare(args.int8, "cpu", "int8")
    except ValueError as exc:  # a set not under --data, or bad --int8 weights
        p.error(str(exc))

    engines = {"torch bf16": prepare("srresnet", "cpu", "bf16"), "torch fp32": prepare("srresnet", "cpu", "fp32"),
               "openvino bf16": prepare("srresnet", "cpu", "bf16", backend="openvino"),
               "openvino fp32": prepare("srresnet", "cpu", "fp32", backend="openvino"),
               "int8": int8}
    default = "torch bf16" if resolve_precision("auto", torch.device("cpu")) == torch.bfloat16 else "torch fp32"
    print(f"CPU: {cpu_model_and_int8_units()}, {os.cpu_count()} cores; torch {torch.__version__}; int8 weights "
          f"{'8-bit' if cpu_has_int8_dot() else '7-bit (no VNNI/AMX)'}; srgan's default here: {default}")

    bicubic = prepare("bicubic", "cpu", "fp32")
    worst = (-1, None)
    for name, images in sets.items():
        rows, diffs, grids = {}, [], []
        for _img, lr, hr in images:
            outs = {k: sr(e, lr) for k, e in engines.items()}
            for k, out in outs.items():
                rows.setdefault(k, []).append(psnr_ssim_y(out, hr, 4)[0])
            ref, q = outs["torch fp32"], outs["int8"]
            d = np.abs(q.astype(np.int16) - ref).max(axis=2)
            diffs.append((d.mean(), d.max(), (d > 8).mean()))
            bic = sr(bicubic, lr)
            grids.append(checkerboard_score(q, bic) - checkerboard_score(ref, bic))
            if d.max() > worst[0]:
                worst = (d.max(), (ref, q, d))
        fp32 = np.mean(rows["torch fp32"])
        print(f"{name}: PSNR-Y " + ", ".join(f"{k} {np.mean(v):.4f} ({np.mean(v) - fp32:+.4f})" for k, v in rows.items()))
        mean_d, max_d, over = np.mean([d[0] for d in diffs]), max(d[1] for d in diffs), np.mean([d[2] for d in diffs])
        print(f"  int8 vs fp32: mean |diff| {mean_d:.2f}/255, largest {max_d}/255, {100 * over:.3f}% of pixels more "
              f"than 8 levels off; checkerboard int8 - fp32: {max(grids):+.1f} dB at most (mean {np.mean(grids):+.1f})")
    if args.save and worst[1] is not None:
        from PIL import Image

        ref, q, d = worst[1]
        y, x = np.unravel_index(d.argmax(), d.shape)
        y0, x0 = max(0, min(y - 40, d.shape[0] - 80)), max(0, min(x - 60, d.shape[1] - 120))
        crop = [a[y0:y0 + 80, x0:x0 + 120] for a in (ref, q, np.repeat(np.clip(4 * d, 0, 255).astype(np.uint8)[..., None], 3, 2))]
        row = np.concatenate(crop, axis=1)
        Image.fromarray(row).resize((row.shape[1] * 3, row.shape[0] * 3), Image.NEAREST).save(args.save)
        print(f"wrote {args.save}: fp32 | int8 | 4x |difference| around the largest difference ({worst[0]}/255)")

    x = torch.rand(1, 3, args.size, args.size)
    for e in engines.values():
        e.forward(x)
    samples = {k: [] for k in engines}
    with torch.inference_mode():
        for _ in range(args.runs):
            for k, e in engines.items():
                start = time.perf_counter()
                e.forward(x)
                samples[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    print(f"{args.size}x{args.size} LR, untiled, median of {args.runs} interleaved runs, load average "
          f"{os.getloadavg()[0]:.2f}:")
    for k in engines:
        print(f"  {k:<14} {med[k]:8.1f} ms  {med[default] / med[k]:5.2f}x {default}")


if __name__ == "__main__":
    main()
