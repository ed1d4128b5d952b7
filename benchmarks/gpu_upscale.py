"""Single-GPU upscale throughput of the x4 generator: output megapixels per second by precision and layout.

    python benchmarks/gpu_upscale.py --weights srgan/weights/srresnet.safetensors --size 512 --batch 4

Times the model alone on LR batches already on the GPU (CUDA events would say the same: the clock is read
after a synchronize), for the plain Generator and FastGenerator (what `srgan upscale` runs), in fp32 / bf16 /
fp16, NCHW / channels_last, and optionally torch.compile. Each variant: 3 warm-up runs, then the median of
--runs. The weights only matter for the fp16 overflow check (max |fast - fp32 plain| is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.checkpoint import CheckpointError, load_generator  # noqa: E402
from srgan.inference import FastGenerator  # noqa: E402
from srgan.models import Generator  # noqa: E402


def median_seconds(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="generator weights (default: random 16-block x4)")
    parser.add_argument("--size", type=int, default=512, help="LR side; output is 4x")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the fast model")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    for name in ("size", "batch", "runs"):  # --runs 0 timed every variant, then failed each: no median of nothing
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark measures a GPU")
    torch.backends.cudnn.benchmark = True
    try:
        plain = (load_generator(args.weights) if args.weights else Generator()).eval()
    except CheckpointError as exc:  # a bad --weights
        parser.error(str(exc))
    fast = FastGenerator(plain).cuda()  # built from the CPU module: BN folding makes its tensors there
    plain = plain.cuda()
    x = torch.rand(args.batch, 3, args.size, args.size, device="cuda")
    with torch.no_grad():
        reference = plain(x)
    out_mpix = args.batch * (4 * args.size) ** 2 / 1e6
    rows = []
    variants = [(name, model, dtype, layout) for name, model in (("plain", plain), ("fast", fast))
                for dtype in (torch.float32, torch.bfloat16, torch.float16)
                for layout in (torch.contiguous_format, torch.channels_last)]
    if args.compile:
        variants.append(("fast+compile", torch.compile(fast), torch.bfloat16, torch.channels_last))
    for name, model, dtype, layout in variants:
        model = model.to(memory_format=layout)
        xin = x.contiguous(memory_format=layout)

        def run():
            with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                return model(xin)

        try:
            seconds = median_seconds(run, args.runs)
            error = float((run().float() - reference).abs().max())
        except Exception as exc:  # report and go on: one variant failing must not lose the others
            print(f"{name} {dtype} {layout}: failed: {str(exc).splitlines()[0]}")
            continue
        row = {"model": name, "dtype": str(dtype).replace("torch.", ""),
               "layout": "channels_last" if layout == torch.channels_last else "NCHW",
               "ms": round(seconds * 1000, 2), "out_mpix_s": round(out_mpix / seconds, 1),
               "max_abs_err_vs_fp32": round(error, 5)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, batch {args.batch} x "
          f"{args.size}x{args.size} -> {4 * args.size}x{4 * args.size}")
    for r in rows:
        print(f"{r['model']:>13} {r['dtype']:>9} {r['layout']:>13} {r['ms']:9.2f} ms {r['out_mpix_s']:8.1f} MPix/s"
              f"  err {r['max_abs_err_vs_fp32']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "batch": args.batch,
                       "lr_size": args.size, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
