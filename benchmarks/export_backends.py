"""Is an exported model faster than srgan's own torch path? One LR image through each, interleaved.

    python benchmarks/export_backends.py                          # shipped srgan weights, 128x128 -> 512x512
    python benchmarks/export_backends.py --openvino-path /tmp/ov  # openvino installed with pip --target

Contenders, all on the same weights and input, same thread count:

* ``torch auto``: what ``srgan upscale`` runs (FastGenerator, channels_last, precision 'auto' for this CPU);
  ``torch fp32`` as well when auto is not fp32;
* ``ort fast`` / ``ort plain``: onnxruntime on ``srgan export`` (fast form) / ``srgan export --plain``;
* ``openvino fast`` (bf16 where the CPU has it, OpenVINO's CPU default) and ``openvino fast f32``, when
  ``import openvino`` works (``--openvino-path`` appends a folder to sys.path).

Prints the median and min per contender, each one's ratio to ``torch auto`` and its max abs difference from
the fp32 torch output, plus the load average before and after (other processes share the cores).
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.device import cpu_name, resolve_precision  # noqa: E402
from srgan.export import export_onnx  # noqa: E402
from srgan.engines import load_model, prepare  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="srgan")
    parser.add_argument("--size", type=int, default=128, help="LR side (default 128 -> 512 output)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's choice")
    parser.add_argument("--openvino-path", default=None, help="folder appended to sys.path before import openvino")
    args = parser.parse_args(argv)
    # before the exports and sessions are built: --runs 0 was the median of nothing, at the end
    for name in ("size", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:  # 0 was taken as torch's choice, -1 a traceback
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.openvino_path:
        sys.path.append(args.openvino_path)
    import onnxruntime as ort

    print(f"{cpu_name()}, {threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    x = torch.rand(1, 3, args.size, args.size)
    xn = x.numpy()
    contenders = {}
    auto = resolve_precision("auto", torch.device("cpu"))
    for precision in ["auto"] + (["fp32"] if auto != torch.float32 else []):
        try:
            engine = prepare(args.model, "cpu", precision)
        except ValueError as exc:  # a bad --model
            parser.error(str(exc))
        contenders[f"torch {precision}"] = lambda e=engine: e.forward(x).numpy()
    folder = tempfile.mkdtemp(prefix="srgan-export-bench-")
    atexit.register(shutil.rmtree, folder, True)  # 13 MB of ONNX files were left in the temporary folder
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    for form in ("fast", "plain"):
        path = export_onnx(args.model, os.path.join(folder, f"{form}.onnx"), fast=form == "fast")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        contenders[f"ort {form}"] = lambda s=session: s.run(None, {"lr": xn})[0]
    try:
        import openvino as ov
    except ImportError:
        print("openvino: not importable (pip install openvino, or --openvino-path)")
    else:
        core = ov.Core()
        for name, config in (("openvino fast", {}), ("openvino fast f32", {"INFERENCE_PRECISION_HINT": "f32"})):
            model = core.read_model(os.path.join(folder, "fast.onnx"))
            model.reshape([1, 3, args.size, args.size])
            compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, **config})
            contenders[name] = lambda c=compiled: c(xn)[0]
        print(f"openvino {ov.__version__}")

    with torch.inference_mode():
        ref = load_model(args.model, "cpu").eval()(x).numpy()
        errors = {name: float(np.abs(fn() - ref).max()) for name, fn in contenders.items()}  # also a warm-up
        samples = {name: [] for name in contenders}
        for _ in range(args.runs):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1000)
    base = statistics.median(samples["torch auto"])
    print(f"\n{args.size}x{args.size} -> {4 * args.size}x{4 * args.size}, {args.runs} runs each, interleaved; "
          f"torch auto = {str(auto).replace('torch.', '')}")
    print(f"{'':<20} {'median':>9} {'min':>9} {'vs torch auto':>14} {'max err':>9}")
    for name, v in samples.items():
        med = statistics.median(v)
        print(f"{name:<20} {med:7.1f}ms {min(v):7.1f}ms {base / med:13.2f}x {errors[name]:9.1e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
