"""``--backend openvino``: the fast generator run by OpenVINO on the CPU (the ``[openvino]`` extra).

On an AMX CPU (Intel Xeon, 2 cores) OpenVINO's bf16 ran the shipped generator 1.84x faster than srgan's own
bf16 torch path (``benchmarks/export_backends.py``, docs/PERFORMANCE.md), so it is offered as an opt-in; torch
stays the default because it needs no conversion and runs on every device.

The network converted is :class:`~srgan.inference.FastGenerator` (the form ``srgan export`` writes), with
dynamic batch, height and width. Conversion takes 10-20 s, so the converted model is kept in the user cache
(``$SRGAN_CACHE_DIR/openvino``, see :func:`srgan.datasets.default_cache_dir`) under a hash of its weights
and the OpenVINO version. Tiling treats it as an opaque network (one stage, the whole receptive field as
margin), which :class:`~srgan.tiling.Engine` does when given the plain Generator.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import one_line
from .extras import require
from .inference import fast_generator
from .tiling import Engine

_HINTS = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def _require_openvino(needed_for: str = "backend openvino"):
    return require(("openvino",), "openvino", needed_for)[0]


def _weights_key(module: nn.Module, version: str) -> str:
    """The cache name of ``module``'s converted graph: its weights, the OpenVINO version, and its class with the
    source of the module that defines it (a changed srgan may build another graph from the same weights, e.g.
    QuantGenerator's int8 ranges; the version number alone does not move between commits), and its settings
    (``extra_repr``: QuantGenerator's weight range)."""
    digest = hashlib.sha256(f"{version} {type(module).__module__}.{type(module).__qualname__} "
                            f"{module.extra_repr()}".encode())
    try:
        digest.update(Path(inspect.getfile(type(module))).read_bytes())
    except (OSError, TypeError):  # a class defined interactively: its weights and name only
        pass
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def converted_model(net: nn.Module, cache_dir: Path):
    """The OpenVINO model of ``net`` (dynamic N, H, W), converted once and then read from ``cache_dir``."""
    ov = _require_openvino()
    path = cache_dir / f"{_weights_key(net, ov.__version__)}.xml"
    if path.exists():
        try:
            return ov.Core().read_model(path)
        except Exception as exc:  # a damaged entry (a full disk, a cut copy) failed every run with OpenVINO's words
            print(f"srgan: warning: {path}: cached OpenVINO model unreadable ({one_line(exc)[:200]}); converting "
                  "it again", file=sys.stderr)
    with warnings.catch_warnings():  # tracing warns on every Python constant read off a tensor (scales, slopes),
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # and that torch.jit.trace, which OpenVINO uses,
        warnings.simplefilter("ignore", DeprecationWarning)  # is deprecated: nothing a user can act on
        model = ov.convert_model(net, example_input=torch.rand(1, 3, 32, 40), input=[(-1, 3, -1, -1)])
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Written under temporary names, .bin renamed before .xml: an .xml in the cache always has its weights.
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            ov.save_model(model, os.path.join(tmp, "m.xml"), compress_to_fp16=False)
            os.replace(os.path.join(tmp, "m.bin"), path.with_suffix(".bin"))
            os.replace(os.path.join(tmp, "m.xml"), path)
    except OSError as exc:  # a read-only cache: the converted model still runs (it stopped the run)
        print(f"srgan: warning: {cache_dir}: cannot keep the converted OpenVINO model there "
              f"({exc.strerror or exc}); it is converted again next time (set $SRGAN_CACHE_DIR to a writable "
              "folder)", file=sys.stderr)
    return model


class OpenVINOEngine(Engine):
    """An :class:`~srgan.tiling.Engine` whose forward pass is an OpenVINO compiled model on the CPU.

    ``generator`` is an srgan Generator (run as its fast form in ``dtype``) or a
    :class:`~srgan.quantize.QuantGenerator` (int8 convolutions; ``dtype`` is then the precision of the rest).
    """

    backend = "openvino"

    def __init__(self, generator: nn.Module, dtype: torch.dtype, cache_dir: Path | None = None):
        from .datasets import default_cache_dir
        from .quantize import QuantGenerator

        int8 = isinstance(generator, QuantGenerator)
        ov = _require_openvino("precision int8" if int8 else "backend openvino")
        generator = generator.float().eval()
        super().__init__(generator, torch.device("cpu"), dtype, channels_last=False)
        self.int8 = int8
        net = generator if self.int8 else fast_generator(generator).eval()
        model = converted_model(net, cache_dir or default_cache_dir() / "openvino")
        # OpenVINO picks its own thread count (all cores), as torch does.
        self.compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": _HINTS[dtype]})
        # Calling the compiled model runs its one infer request: two threads at once got "Infer Request is busy"
        # or each other's outputs. One at a time; each call already uses every core.
        self._lock = threading.Lock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock:
            return torch.from_numpy(self.compiled(x.float().contiguous().numpy())[0])
