"""Post-training int8 of the fast generator (OpenVINO + NNCF): speed against bf16 and PSNR lost, in one run.

    python benchmarks/int8_ptq.py --calib ../shared/data/benchmarks/BSD100/LR_bicubic_x4 \\
        --eval ../shared/data/benchmarks/Set14 --extra-path /tmp/ov --extra-path /tmp/nncf

A measurement for issue 14 item 4, not a shipped path: int8 is offered only if it reaches >= 1.8x the bf16 path
with <= 0.05 dB PSNR lost. Needs ``openvino`` and ``nncf`` (``--extra-path`` appends folders to sys.path, for
packages installed with ``pip install --target``). Variants, all from the shipped weights:

* ``ov bf16``: OpenVINO on the fast form (what ``--backend openvino`` runs on an AMX CPU);
* ``ov int8``: NNCF's default post-training quantization (calibrated on ``--calib-count`` 64x64 LR crops);
* ``ov int8, ends float``: the same with the first and last convolutions left in float (the issue's variant).

Timed on one ``--size`` LR input, interleaved with the torch bf16 path; PSNR on Y with a 4-px border over the
``--eval`` set's HR/ and LR_bicubic_x4/, against the fp32 torch output's PSNR.
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

from srgan.images import find_images, read_image  # noqa: E402
from srgan.metrics import psnr_ssim_y, to_uint8  # noqa: E402
from srgan.upscale import load_model, prepare  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="srgan")
    parser.add_argument("--calib", required=True, help="folder of LR images for calibration")
    parser.add_argument("--calib-count", type=int, default=32)
    parser.add_argument("--eval", required=True, help="benchmark folder with HR/ and LR_bicubic_x4/")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--extra-path", action="append", default=[])
    args = parser.parse_args(argv)
    sys.path.extend(args.extra_path)
    import nncf
    import openvino as ov

    from srgan.openvino_engine import converted_model
    from srgan.inference import fast_generator
    from srgan.imagecache import default_cache_dir

    g = load_model(args.model, "cpu").float().eval()
    base = converted_model(fast_generator(g).eval(), default_cache_dir() / "openvino")
    rng = np.random.default_rng(0)
    crops = []
    for path in find_images([args.calib])[: args.calib_count]:
        lr = read_image(path).rgb
        y, x = rng.integers(0, lr.shape[0] - 64), rng.integers(0, lr.shape[1] - 64)
        crops.append(np.ascontiguousarray(lr[y:y + 64, x:x + 64].transpose(2, 0, 1)[None]))
    data = nncf.Dataset(crops)
    convs = [op.get_friendly_name() for op in base.get_ordered_ops() if op.get_type_name() == "Convolution"]
    core, threads = ov.Core(), torch.get_num_threads()
    models = {
        "ov bf16": base,
        "ov int8": nncf.quantize(base, data, subset_size=len(crops)),
        "ov int8, ends float": nncf.quantize(base, data, subset_size=len(crops),
                                             ignored_scope=nncf.IgnoredScope(names=[convs[0], convs[-1]])),
    }
    compiled = {name: core.compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": threads}) for name, m in models.items()}
    engine = prepare(args.model, "cpu", "bf16")

    ref_psnr, psnrs = [], {name: [] for name in compiled}
    root = Path(args.eval)
    for hr_path in find_images([root / "HR"]):
        lr = read_image(root / "LR_bicubic_x4" / hr_path.name).rgb.transpose(2, 0, 1)[None].copy()
        hr = to_uint8(read_image(hr_path).rgb)
        with torch.inference_mode():
            ref = g(torch.from_numpy(lr))[0].permute(1, 2, 0).numpy()
        ref_psnr.append(psnr_ssim_y(to_uint8(ref), hr, 4)[0])
        for name, c in compiled.items():
            psnrs[name].append(psnr_ssim_y(to_uint8(c(lr)[0][0].transpose(1, 2, 0)), hr, 4)[0])

    x = torch.rand(1, 3, args.size, args.size)
    xn = x.numpy()
    contenders = {"torch bf16": lambda: engine.forward(x), **{n: (lambda c=c: c(xn)) for n, c in compiled.items()}}
    for fn in contenders.values():
        fn()
    samples = {name: [] for name in contenders}
    with torch.inference_mode():
        for _ in range(args.runs):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.size}x{args.size} LR, {args.runs} interleaved runs; "
          f"{root.name} fp32 torch PSNR {np.mean(ref_psnr):.4f} dB")
    print(f"{'':<22} {'median':>9} {'vs torch bf16':>14} {'vs ov bf16':>11} {'PSNR':>9} {'vs fp32':>8}")
    for name in contenders:
        p = f"{np.mean(psnrs[name]):9.4f} {np.mean(psnrs[name]) - np.mean(ref_psnr):+8.4f}" if name in psnrs else ""
        print(f"{name:<22} {med[name]:7.1f}ms {med['torch bf16'] / med[name]:13.2f}x "
              f"{med['ov bf16'] / med[name]:10.2f}x {p}")


if __name__ == "__main__":
    main()
