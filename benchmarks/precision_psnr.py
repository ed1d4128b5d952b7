"""How much Set5 PSNR a reduced-precision path loses against fp32, through ``srgan.upscale``.

    python benchmarks/precision_psnr.py --model ../shared/data/weights/leftthomas_SRGAN/netG_epoch_4_100.pth \
        --data ../shared/data/benchmarks/Set5 --precision bf16

For each LR image of ``<data>/LR_bicubic_x4`` the model runs in fp32 and in ``--precision`` (same tiling code as
``srgan upscale``); prints per-image Y-PSNR against HR (border = 4, the paper convention, srgan.metrics) for
both, the difference, and the PSNR / max / mean abs difference of the reduced output against the fp32 output.
On CPUs without native bf16 (AVX2) bf16 is emulated: slow, and its numbers differ from native bf16's in the last
places (the shipped SRResNet on Set5: 31.3204 dB on an AVX2 EPYC, 31.3209 on a Zen 4; docs/PERFORMANCE.md).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.images import read_rgb_uint8  # noqa: E402
from srgan.metrics import psnr  # noqa: E402
from srgan.engines import prepare  # noqa: E402
from srgan.upscaling import upscale  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="a benchmark set folder with HR/ and LR_bicubic_x4/")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tile", default="0")
    args = parser.parse_args(argv)
    if args.tile != "auto" and not args.tile.isdigit():
        parser.error(f"--tile is auto or a whole number of LR pixels (0: untiled), got {args.tile!r}")
    tile = args.tile if args.tile == "auto" else int(args.tile)
    data = Path(args.data)
    # checked before the models load: without LR images the mean of no rows was a traceback at the end
    lr_paths = sorted((data / "LR_bicubic_x4").glob("*.png"))
    if not lr_paths:
        parser.error(f"--data {data}: no LR_bicubic_x4/*.png there (a benchmark set folder with HR/ and "
                     "LR_bicubic_x4/)")
    missing = [p.name for p in lr_paths if not (data / "HR" / p.name).is_file()]
    if missing:
        parser.error(f"--data {data}: no HR/{missing[0]} for LR_bicubic_x4/{missing[0]} ({len(missing)} missing)")
    try:
        ref_engine = prepare(args.model, args.device, "fp32")
        low_engine = prepare(args.model, args.device, args.precision)
    except ValueError as exc:  # a bad --model, --device or --precision (CheckpointError is a ValueError)
        parser.error(str(exc))
    rows = []
    print(f"{'image':<12} {'fp32 dB':>9} {args.precision + ' dB':>9} {'delta':>8} {'vs fp32 dB':>11} {'max|d|':>8} {'mean|d|':>9}")
    for lr_path in lr_paths:
        lr = read_rgb_uint8(lr_path)
        hr = read_rgb_uint8(data / "HR" / lr_path.name)
        ref = upscale(lr.astype(np.float32) / 255, ref_engine, tile=tile)
        low = upscale(lr.astype(np.float32) / 255, low_engine, tile=tile)
        ref8, low8 = (np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8) for a in (ref, low))
        hr = hr[: ref8.shape[0], : ref8.shape[1]]
        p_ref, p_low = psnr(ref8, hr, 4), psnr(low8, hr, 4)
        d = np.abs(low.astype(np.float64) - ref)
        vs = psnr(low8, ref8, 0, to_y=False)
        rows.append((p_ref, p_low, vs, d.max(), d.mean()))
        print(f"{lr_path.stem:<12} {p_ref:9.4f} {p_low:9.4f} {p_low - p_ref:+8.4f} {vs:11.2f} {d.max():8.4f} {d.mean():9.6f}")
    m = np.mean(np.array(rows, dtype=np.float64), axis=0)
    print(f"{'mean':<12} {m[0]:9.4f} {m[1]:9.4f} {m[1] - m[0]:+8.4f} {m[2]:11.2f} {m[3]:8.4f} {m[4]:9.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
