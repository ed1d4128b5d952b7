"""Device and precision choice, shared by training, inference and ``srgan info``.

On CPUs with AMX / AVX512-BF16, bf16 autocast with channels_last is the fast path. On AVX2-only CPUs oneDNN
*emulates* bf16: measured there (benchmarks/conv_precision.py, docs/PERFORMANCE.md) a 3x3 conv runs ~10x slower in
bf16 than in fp32, while channels_last alone (oneDNN's blocked fp32 kernels) is ~1.7x faster than NCHW. So "auto"
means bf16 on CUDA GPUs that have it (fp16 on older ones) and on bf16-capable CPUs, fp32 elsewhere, and
channels_last everywhere.
"""
from __future__ import annotations

import platform
import re
from functools import lru_cache

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AMX or AVX512-BF16), not by emulation."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC 9R14 ..."), which every performance number must carry."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # int8 dot-product units


def cpu_has_int8_dot() -> bool:
    """Whether the CPU has VNNI or AMX int8 units. Without them OpenVINO's int8 convolutions multiply u8 x s8
    pairs into saturating int16 sums (its "saturation issue"), which full-range int8 weights overflow: srgan
    then uses 7-bit weights (:data:`srgan.quantize.SEVEN_BIT_WEIGHT_MAX`)."""
    return bool(cpu_flags() & set(INT8_DOT_FLAGS))


def is_device_name(name: str) -> bool:
    """One of DEVICES, ``cuda:N``, or ``cpu:0`` / ``mps:0`` (what ``str(torch.device("cpu", 0))`` gives)."""
    return name in DEVICES or re.fullmatch(r"cuda:\d+|cpu:0|mps:0", name) is not None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The device ``name`` names, checked: one torch has here (a ``torch.device`` is checked as its name is)."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str) or not is_device_name(name):
        raise ValueError(f"device must be one of {DEVICES} (or cuda:N), got {name!r}")
    name = name.removesuffix(":0") if name in ("cpu:0", "mps:0") else name  # one CPU, one MPS device: the same
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available to torch")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but torch sees {torch.cuda.device_count()} CUDA GPU(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but MPS is not available")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """Map 'auto' | 'fp32' | 'bf16' | 'fp16' to the autocast dtype for ``device`` (fp32 = no autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is not supported on the CPU; use bf16 or fp32")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


#: What bf16 asked for on a CPU that emulates it costs (benchmarks/conv_precision.py: a 3x3 conv ~10x fp32's time).
EMULATED_BF16 = ("bf16 is emulated on this CPU (no AVX512-BF16 or AMX): several times slower than fp32, which "
                 "precision auto picks here")


def emulated_bf16(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether ``dtype`` is bf16 on a CPU that only emulates it (an explicit ``--precision bf16``)."""
    return dtype == torch.bfloat16 and device.type == "cpu" and not cpu_has_fast_bf16()


def precision_name(dtype: torch.dtype) -> str:
    """The --precision name of an autocast dtype: fp32, bf16 or fp16 (and fp64, which bicubic runs in)."""
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16",
            torch.float64: "fp64"}.get(dtype, str(dtype))


def autocast(device: torch.device, dtype: torch.dtype):
    """An autocast context for ``dtype``; for fp32, autocast off (a caller's own autocast would run it in bf16)."""
    if dtype == torch.float32:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


def out_of_memory(exc: BaseException) -> bool:
    """Python's MemoryError, or torch's: a CUDA OutOfMemoryError, or the CPU allocator's RuntimeError ("can't
    allocate memory"), which callers that catch memory errors (one image of a folder, a training step) miss."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc))
