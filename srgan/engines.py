"""A model made ready to run fast: :func:`load_model` and :func:`prepare` (an :class:`~srgan.tiling.Engine`).

An srgan :class:`~srgan.models.Generator` runs as :class:`~srgan.inference.FastGenerator` (BN folded,
channels_last, polyphase tail) in the precision the device does best (:func:`srgan.device.resolve_precision`);
bicubic in float64, as eval runs it; int8 weights and ``backend='openvino'`` with OpenVINO on the CPU. Engines
made for an ``nn.Module`` are cached until its weights change. :mod:`srgan.upscaling` runs them on images.
"""
from __future__ import annotations

import itertools
import os
import weakref

import torch
from torch import nn

from .backproject import BackProjected
from .device import cpu_has_int8_dot, is_device_name, precision_name, resolve_device, resolve_precision
from .inference import fast_generator
from .shipped import DEFAULT_MODEL
from .tiling import Engine

__all__ = ["load_model", "prepare"]


def load_model(model: str | os.PathLike | nn.Module = DEFAULT_MODEL, device: str | torch.device = "cpu") -> nn.Module:
    """An eval-mode generator from 'srgan' | 'srresnet' (shipped weights) | a weights/checkpoint path | a module."""
    from .loading import resolve_model

    return resolve_model(model, resolve_device(device))


#: Engines prepared for ``nn.Module`` models, so that ``upscale(img, model=module)`` in a loop does not fold
#: BatchNorm and rebuild the fast model on every call (6-8% of a small call). Keyed weakly on the module; an
#: entry is reused only while :func:`_weights_stamp` is unchanged, so weights changed between calls (an optimizer
#: step, ``load_state_dict``, ``p.data`` updates) prepare a fresh engine.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_stamp(module: nn.Module) -> tuple:
    """What an engine cached for ``module`` was made from: its tensors, their in-place versions, where their data
    lives and what it sums to, and each BatchNorm's ``eps`` (folded into the engine's convolutions, but no tensor:
    a changed one was not seen, 0.008 off in the test). ``p.data.add_(...)`` (EMA code does it) moves no version,
    ``p.data = w`` no id: the stale engine ran the old weights (0.24 off). The stamp costs about 2.5 ms (Zen 4) to
    6 ms (AVX2 EPYC) for the shipped generator (``benchmarks/engine_cache.py``, docs/PERFORMANCE.md)."""
    tensors = list(itertools.chain(module.parameters(), module.buffers()))
    with torch.no_grad():  # .item() each: quicker than torch.stack of the sums, then .tolist()
        sums = tuple(t.detach().sum(dtype=torch.float64).item() for t in tensors)
    eps = tuple(m.eps for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    return tuple((id(t), t._version, t.data_ptr()) for t in tensors), sums, eps


def prepare(model: str | os.PathLike | nn.Module = DEFAULT_MODEL, device: str | torch.device = "auto",
            precision: str = "auto", backend: str = "torch", *, back_project: bool = False) -> Engine:
    """Load ``model`` and make it fast for ``device``/``precision``: an :class:`~srgan.tiling.Engine`.

    Pass the result to :func:`upscale` as ``model`` to reuse it for many images. For an ``nn.Module`` the
    engine is cached until the module's weights change. ``backend='openvino'``: run it with OpenVINO on the
    CPU (:mod:`srgan.openvino_engine`). ``back_project``: correct each output towards its input
    (:mod:`srgan.backproject`; torch backend only).
    """
    if isinstance(model, Engine):
        _check_engine_options(model, device, precision, backend, back_project)
        return model
    if back_project and (precision == "int8" or backend != "torch"):
        raise ValueError("back-projection runs with the torch backend, not int8 or OpenVINO")
    if precision == "int8":
        return _int8_engine(model, device)
    dev = resolve_device(device)
    dtype = resolve_precision(precision, dev)
    if backend == "openvino":
        if dev.type != "cpu":
            raise ValueError(f"--backend openvino runs on the CPU, not {dev}; pass --device cpu")
        from .openvino_engine import OpenVINOEngine

        net = load_model(model, "cpu")
        if not any(True for _ in net.parameters()):  # bicubic: traced at one size, its weights fit no other
            raise ValueError(f"{model}: not a network (it has no weights); --backend openvino runs networks, "
                             "use --backend torch")
        return OpenVINOEngine(net, dtype)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'openvino', got {backend!r}")
    from .loading import fixed_precision

    fixed = fixed_precision(getattr(model, "_orig_mod", model))  # bicubic: float64, as in srgan eval
    bicubic = fixed is not None
    if bicubic:
        if precision in ("bf16", "fp16"):  # as srgan eval refuses them
            raise ValueError(f"{fixed}; precision {precision} does not apply")
        dtype = torch.float64  # its input too: in bf16 ('auto' on bf16 CPUs) 5-14% of pixels came out 1 level off
    if isinstance(model, nn.Module):  # looked up by the dtype it is stored under (bicubic's was never found)
        stamp = _weights_stamp(model)
        cached = _ENGINES.get(model, {}).get((dev, dtype, back_project))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    net = load_model(model, dev)
    net = fast_generator(net).to(dev)
    if dtype != torch.float32:
        net = net.to(dtype)
    net = net.to(memory_format=torch.channels_last).eval()
    engine = Engine(net, dev, dtype)
    if bicubic:
        engine.radius = 4  # MATLAB bicubic reads +-3 input pixels
        engine.pad_tiny = False
    if back_project:  # an opaque network to the tiles, with the radius the correction adds
        pad_tiny = engine.pad_tiny
        engine = Engine(BackProjected(net, engine.scale, engine.radius), dev, dtype)
        engine.pad_tiny = pad_tiny
    if isinstance(model, nn.Module):
        _ENGINES.setdefault(model, {})[(dev, dtype, back_project)] = (_weights_stamp(model), engine)
    return engine


def _check_engine_options(engine: Engine, device, precision: str, backend: str, back_project: bool) -> None:
    """An engine is made for one device and precision: options that ask for others are an error, not ignored."""
    asked = []
    if device != "auto":
        dev = resolve_device(device)
        if (dev.type, dev.index or 0) != (engine.device.type, engine.device.index or 0):
            asked.append(f"device {device}")
    if precision not in ("auto", "int8"):
        precision = precision_name(resolve_precision(precision, engine.device))  # as engine.precision names it
    if precision != "auto" and precision != engine.precision:
        asked.append(f"precision {precision}")
    if backend != "torch" and backend != engine.backend:  # "torch" is the default: it asks for nothing
        asked.append(f"backend {backend}")
    if back_project and not isinstance(engine.model, BackProjected):
        asked.append("back-projection")
    if asked:
        raise ValueError(f"this engine was prepared for {engine.device}, {engine.precision}; for "
                         f"{' and '.join(asked)} prepare another: srgan.prepare(model, ...)")


def _int8_engine(model, device) -> Engine:
    """``precision='int8'``: int8 weights (:mod:`srgan.quantize`) run by OpenVINO on the CPU."""
    from .openvino_engine import OpenVINOEngine
    from .quantize import int8_model

    if device != "auto" and str(device) != "cpu" and is_device_name(str(device)):  # before "no CUDA GPU here"
        raise ValueError(f"int8 runs on the CPU (OpenVINO), not {device}; pass --device cpu")
    dev = torch.device("cpu") if device == "auto" else resolve_device(device)
    # Without VNNI/AMX, 8-bit weights overflow OpenVINO's int16 sums (an AVX2 EPYC: Set5 28.89 dB instead of
    # 31.29); 7-bit ones fit, for 0.047 dB there (docs/PERFORMANCE.md, "int8").
    # The convolutions run in int8; what is left (sums, PReLU, sigmoid) in bf16 where the CPU has it.
    return OpenVINOEngine(int8_model(model, seven_bit=not cpu_has_int8_dot()), resolve_precision("auto", dev))
