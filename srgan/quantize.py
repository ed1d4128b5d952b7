"""int8 inference (``--precision int8``): the fast generator with int8 convolutions, run by OpenVINO.

:class:`QuantGenerator` is :class:`~srgan.inference.FastGenerator` with every convolution quantized:

* **inputs** per tensor, signed symmetric int8 (zero point 0, ``[-128, 127] * s``): the generator's activations
  are PReLU outputs and residual sums, so they are signed. The image input is the exception: unsigned with
  ``s = 1/255``, which represents an 8-bit image exactly.
* **weights** per output channel, symmetric ``[-127, 127] * max|w| / 127``.
* Where a value of the residual stream feeds a convolution *and* the next residual sum, both see the quantized
  value. OpenVINO then fuses every quantization into the op that made the value; quantizing only the
  convolution's copy left 17 stand-alone FakeQuantize ops and ran 8% slower (AMD Zen 4, 2 cores). The long
  skip (head output to the end of the body) is the exception: it stays float (see ``forward``).
* Residual sums, PReLU, the sigmoid and the pixel shuffle stay in float (bf16 on CPUs that have it).

The module is plain torch (``torch.fake_quantize_*``), so it also runs, in float, under torch: that is what
quantization-aware training (``scripts/train_int8.py``) optimises and what the tests compare OpenVINO with.
OpenVINO's converter turns each fake-quantize into a FakeQuantize op, and its CPU plugin runs the
convolutions in int8 (VNNI / AMX-INT8 where the CPU has them).

The activation scales are learned by that training (LSQ: the scale gets the straight-through gradient of the
rounding), starting from a calibration (:func:`calibrate`); they and the fine-tuned weights are shipped as
``srgan/weights/srresnet_int8.safetensors``, the same safetensors format as every srgan weights file, with
``"format": "int8"`` in its metadata.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointError, atomic_write, check_architecture
from .inference import FastGenerator
from .models import Generator

FORMAT = "int8"
ACT_MIN, ACT_MAX = -128, 127  # signed int8 activations
WEIGHT_MAX = 127  # symmetric narrow-range int8 weights


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward (the straight-through estimator)."""
    return x + (x.round() - x).detach()


def quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8 fake-quantization (scale from the channel's max |w|)."""
    scale = (w.detach().abs().amax(dim=(1, 2, 3)) / WEIGHT_MAX).clamp_min(1e-12)
    if torch.is_grad_enabled() and w.requires_grad:
        s = scale[:, None, None, None]
        return _round_ste(w / s).clamp(-WEIGHT_MAX, WEIGHT_MAX) * s
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -WEIGHT_MAX, WEIGHT_MAX)


def quantize_activation(x: torch.Tensor, scale: torch.Tensor, lo: int = ACT_MIN, hi: int = ACT_MAX) -> torch.Tensor:
    """Per-tensor fake-quantization to ``[lo, hi] * scale``; while training, LSQ gradients reach ``scale``."""
    if torch.is_grad_enabled() and scale.requires_grad:
        # LSQ's gradient scaling keeps the scale's step size comparable to the weights'.
        g = 1.0 / (x[0].numel() * hi) ** 0.5
        s = scale * g + (scale - scale * g).detach()
        return _round_ste((x / s).clamp(lo, hi)) * s
    return torch.fake_quantize_per_tensor_affine(x, float(scale), 0, lo, hi)


class QuantGenerator(nn.Module):
    """The fast generator with fake-quantized convolutions (see module doc); trainable for QAT."""

    def __init__(self, fast: FastGenerator):
        super().__init__()
        self.scale, self.num_blocks, self.channels = fast.scale, fast.num_blocks, fast.channels
        self.radius, self.tail_pad, self.tail_out = fast.radius, fast.tail_pad, fast.tail_out
        convs = [(fast.head_w, fast.head_b), *zip(fast.body_w, fast.body_b), (fast.body_tail_w, fast.body_tail_b),
                 *zip(fast.up_w, fast.up_b), (fast.tail_w, fast.tail_b)]
        self.weights = nn.ParameterList(nn.Parameter(w.detach().clone()) for w, _ in convs)
        self.biases = nn.ParameterList(nn.Parameter(b.detach().clone()) for _, b in convs)
        slopes = [fast.head_slope, *fast.body_slopes, *fast.up_slopes]
        self.register_buffer("slopes", torch.tensor(slopes, dtype=torch.float32))
        # One input scale per convolution; entry 0 (the image) stays 1/255. Set by calibrate() or loading.
        self.act_scales = nn.Parameter(torch.full((len(convs),), 1.0 / 255))
        # Convolutions left in float (input and weights unquantized): the most sensitive ones, if any.
        self.register_buffer("quantized", torch.ones(len(convs), dtype=torch.bool))
        self.calibrating = False
        self.float_stream = False  # True: inputs pass unquantized (but the image), for calibrate() to observe

    @property
    def architecture(self) -> dict[str, int]:
        return {"scale": self.scale, "num_blocks": self.num_blocks, "channels": self.channels}

    def _slope(self, i: int) -> float:
        return float(self.slopes[i])

    def _q(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if not self.quantized[i]:
            return x
        if i == 0:
            return quantize_activation(x, self.act_scales[0].detach(), 0, 255)
        return x if self.calibrating else quantize_activation(x, self.act_scales[i])

    def _conv(self, i: int, x: torch.Tensor, padding: int) -> torch.Tensor:
        w = quantize_weight(self.weights[i]) if self.quantized[i] else self.weights[i]
        return F.conv2d(x, w, self.biases[i], padding=padding)

    def forward(self, x: torch.Tensor, observe=None) -> torch.Tensor:
        """``observe(i, x)``, if given, sees the float input of convolution ``i`` (for calibration)."""
        def conv(i, v, padding=1, quantized=False):
            if observe is not None:
                observe(i, v)
            return self._conv(i, v if quantized else self._q(i, v), padding)

        x = self._q(0, x)
        f = F.leaky_relu(conv(0, x, self.weights[0].shape[-1] // 2, quantized=True), self._slope(0))
        n_body = 2 * self.num_blocks
        h = f
        for b in range(self.num_blocks):
            i = 1 + 2 * b
            hq = self._q(i, h) if (b == 0 or self.float_stream) else h
            y = F.leaky_relu(conv(i, hq, quantized=True), self._slope(1 + b))
            y = conv(i + 1, y)
            # The residual stream feeds the next conv (i + 2: the next block's first, or the body tail) and the
            # next sum: quantized once, with that conv's scale.
            h = y + h if self.float_stream else self._q(i + 2, y + h)
        if self.float_stream:
            h = self._q(n_body + 1, h)
        i = n_body + 1
        # The long skip adds the head output to the body's in float: quantized, it alone cost 0.023 of the 0.040 dB
        # that post-training int8 lost on the validation split, as it goes straight to the upsampling layers.
        f = conv(i, h, quantized=True) + f
        slope_i = 1 + self.num_blocks
        last = len(self.weights) - 1
        for u in range(last - i - 1):
            f = conv(i + 1 + u, f)
            f = F.pixel_shuffle(f, 2) if u < last - i - 2 else f  # the last shuffle is inside the polyphase tail
            f = F.leaky_relu(f, self._slope(slope_i + u))
        y = conv(last, f, self.tail_pad)
        n, _, hh, ww = y.shape
        y = torch.sigmoid(y[:, : self.tail_out])
        return y.reshape(n, self.tail_out // 4, 2, 2, hh, ww).permute(0, 1, 4, 2, 5, 3).reshape(n, -1, 2 * hh, 2 * ww)


@torch.no_grad()
def calibrate(model: QuantGenerator, batches: Iterable[torch.Tensor], candidates: int = 40) -> None:
    """Set every activation scale to the clipping range that minimises that input's quantization error.

    For each convolution input the max |x| over ``batches`` is found, then the clip ``c`` in (0.2..1] * max with
    the least mean squared error of int8 rounding and clipping over the same batches is kept (the max itself
    wastes most of the 256 levels on rare outliers). Inputs are observed in float, upstream quantization off.
    """
    seen: dict[int, list[torch.Tensor]] = {}
    model.calibrating = True
    try:
        for x in batches:
            model(x, observe=lambda i, v: seen.setdefault(i, []).append(v.flatten()[::7].clone()))
    finally:
        model.calibrating = False
    for i, samples in seen.items():
        if i == 0 or not model.quantized[i]:
            continue
        v = torch.cat(samples)
        top = max(float(v.abs().max()), 1e-6)
        best = min((float(((quantize_activation(v, torch.tensor(c / ACT_MAX)) - v) ** 2).mean()), c)
                   for c in (top * (0.2 + 0.8 * k / (candidates - 1)) for k in range(candidates)))
        model.act_scales.data[i] = best[1] / ACT_MAX


#: Convolutions kept in float. The first residual block's first conv reads the head output, whose 64 channels
#: span very different ranges: one per-tensor int8 scale for them alone cost 0.022 of the 0.040 dB that
#: post-training int8 lost on (half of) the validation split; it is 1.5% of the generator's multiply-adds.
FLOAT_CONVS = (1,)


def from_generator(generator: Generator) -> QuantGenerator:
    """An uncalibrated QuantGenerator with ``generator``'s weights (BN folded, polyphase tail)."""
    model = QuantGenerator(FastGenerator(generator.float().eval()))
    model.quantized[list(FLOAT_CONVS)] = False
    return model


def save_int8(model: QuantGenerator, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, **{k: str(v) for k, v in model.architecture.items()}}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def is_int8_file(path: str | os.PathLike) -> bool:
    from safetensors import safe_open

    if Path(path).suffix != ".safetensors" or not Path(path).is_file():
        return False
    try:
        with safe_open(str(path), "pt") as handle:
            return (handle.metadata() or {}).get("format") == FORMAT
    except Exception:
        return False


def load_int8(path: str | os.PathLike) -> QuantGenerator:
    """A QuantGenerator from an int8 weights file (:func:`save_int8`), or CheckpointError saying what is wrong."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an srgan int8 weights file (metadata format={meta.get('format')!r})")
    arch = check_architecture({k: meta.get(k) for k in ("scale", "num_blocks", "channels")})
    model = from_generator(Generator(**arch))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: int8 weights do not fit the {arch} architecture ({str(exc).splitlines()[0]})") from None
    if not all(torch.isfinite(t).all() for t in state.values()) or not (model.act_scales > 0).all():
        raise CheckpointError(f"{path}: int8 weights hold non-finite values or non-positive scales")
    return model.eval().requires_grad_(False)


def int8_model(model) -> QuantGenerator:
    """The int8 model for a ``--model`` value: ``srresnet`` (the shipped int8 weights, also the default), an int8
    weights file, or a QuantGenerator; anything else is refused with how to make int8 weights for it."""
    from .evaluate import SHIPPED_WEIGHTS

    if isinstance(model, QuantGenerator):
        return model.eval()
    if isinstance(model, (str, os.PathLike)) and str(model) == "srresnet":
        return load_int8(SHIPPED_WEIGHTS / "srresnet_int8.safetensors")
    if isinstance(model, (str, os.PathLike)) and is_int8_file(Path(model).expanduser()):
        return load_int8(Path(model).expanduser())
    raise ValueError(f"int8 needs int8 weights: the shipped srresnet has them, {_name(model)} does not "
                     f"(make them with scripts/train_int8.py --model WEIGHTS)")


def _name(model) -> str:
    return type(model).__name__ if isinstance(model, nn.Module) else str(model)
