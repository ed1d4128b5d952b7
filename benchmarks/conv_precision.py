"""Why precision=auto picks what it picks: one 64->64 3x3 conv on 1x64x128x128, per layout and precision.

    python benchmarks/conv_precision.py

On CPUs without native bf16 (AVX2 only) oneDNN emulates bf16 and it is far slower than fp32; channels_last lets
oneDNN use its blocked fp32 kernels. On AMX / AVX512-BF16 CPUs bf16 + channels_last is the fast one.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from srgan.device import cpu_has_fast_bf16


def median_ms(conv: nn.Module, x: torch.Tensor, dtype: torch.dtype, runs: int = 20) -> float:
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        for i in range(runs + 3):
            start = time.perf_counter()
            conv(x)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    # no options: --help (or a mistyped one) ran the whole measurement, minutes on an AVX2 CPU
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native cpu bf16: {cpu_has_fast_bf16()}")
    conv, x = nn.Conv2d(64, 64, 3, padding=1), torch.randn(1, 64, 128, 128)
    conv_cl, x_cl = nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last), \
        x.contiguous(memory_format=torch.channels_last)
    for name, module, inp, dtype in (("fp32 NCHW", conv, x, torch.float32),
                                     ("fp32 channels_last", conv_cl, x_cl, torch.float32),
                                     ("bf16 NCHW", conv, x, torch.bfloat16),
                                     ("bf16 channels_last", conv_cl, x_cl, torch.bfloat16)):
        print(f"{name:<20} {median_ms(module, inp, dtype):8.2f} ms")


if __name__ == "__main__":
    main()
