"""int8 inference (``--precision int8``): the fast generator with int8 convolutions, run by OpenVINO.

:class:`QuantGenerator` is :class:`~srgan.inference.FastGenerator` with its convolutions quantized:

* **inputs** per tensor, signed symmetric int8 (zero point 0, ``[-128, 127] * s``): the generator's activations
  are PReLU outputs and residual sums, so they are signed. The image input is the exception: unsigned with
  ``s = 1/255``, which represents an 8-bit image exactly.
* **weights** per output channel, symmetric ``[-127, 127] * max|w| / 127``.
* Where a value of the residual stream feeds a convolution *and* the next residual sum, both see the quantized
  value. OpenVINO then fuses every quantization into the op that made the value; quantizing only the
  convolution's copy left 17 stand-alone FakeQuantize ops and ran 8% slower (AMD Zen 4, 2 cores). The head
  output is the exception: it enters the residual stream and the long skip in float.
* :data:`FLOAT_CONVS` (the first residual block's first conv) stays float; so do the residual sums, PReLU,
  the sigmoid and the pixel shuffle (bf16 on CPUs that have it).

The module is plain torch (``torch.fake_quantize_*``), so it also runs, in float, under torch: that is what
calibration and quantization-aware training (``scripts/make_int8.py``) work on and what the tests compare
OpenVINO with. OpenVINO's converter turns each fake-quantize into a FakeQuantize op, and its CPU plugin runs
the convolutions in int8 (VNNI / AMX-INT8 where the CPU has them). Because the scales are fixed (static
quantization), tiling stays exact.

The activation scales come from :func:`calibrate` (each input's own least rounding error) and :func:`refine`
(the least error in the SR image); training them (LSQ: the scale gets the straight-through gradient of the
rounding) with the weights is possible but did not help the shipped weights (docs/PERFORMANCE.md). They and
the int8 weights are shipped as ``srgan/weights/srresnet_int8.safetensors`` (:func:`save_int8`: int8 tensors
with per-channel scales), with ``"format": "int8"`` in its metadata.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import (ARCHITECTURE_KEYS, INT8_FORMAT_TAG, CheckpointError, check_architecture, is_safetensors,
                         one_line, save_weights_file, unreadable_safetensors)
from .inference import FastGenerator
from .models import Generator

FORMAT = INT8_FORMAT_TAG
ACT_MIN, ACT_MAX = -128, 127  # signed int8 activations
WEIGHT_MAX = 127  # symmetric narrow-range int8 weights
#: Weight range on CPUs without VNNI/AMX: there OpenVINO multiplies u8 activations by s8 weights in pairs summed
#: into saturating int16, and 2 x 255 x 127 overflows it while 2 x 255 x 63 fits (OpenVINO's "saturation issue"
#: and its 7-bit remedy). The fake-quantize keeps its 255 levels; only the scale doubles, so the weights use
#: the middle half of them.
SEVEN_BIT_WEIGHT_MAX = 63


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward (the straight-through estimator)."""
    return x + (x.round() - x).detach()


def quantize_weight(w: torch.Tensor, weight_max: int = WEIGHT_MAX) -> torch.Tensor:
    """Per-output-channel symmetric int8 fake-quantization: each channel's max |w| maps to ``weight_max``."""
    scale = _weight_scale(w.detach(), weight_max)
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
        self.calibrating = False  # True: inputs pass unquantized (but the image), for calibrate() to observe
        self.weight_max = WEIGHT_MAX  # SEVEN_BIT_WEIGHT_MAX for CPUs without int8 dot-product units

    def extra_repr(self) -> str:  # also part of the OpenVINO cache key: it changes the graph, not the state dict
        return f"weight_max={self.weight_max}"

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
        w = quantize_weight(self.weights[i], self.weight_max) if self.quantized[i] else self.weights[i]
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
            # The head output enters the residual stream in float; only the first conv's copy is quantized.
            hq = self._q(i, h) if b == 0 else h
            y = F.leaky_relu(conv(i, hq, quantized=True), self._slope(1 + b))
            y = conv(i + 1, y)
            # The residual stream feeds the next conv (i + 2: the next block's first, or the body tail) and the
            # next sum: quantized once, with that conv's scale.
            h = self._q(i + 2, y + h)
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


@torch.no_grad()
def refine(model: QuantGenerator, teacher: nn.Module, x: torch.Tensor, factors=(0.8, 0.9, 1.1, 1.25),
           passes: int = 1, log=None) -> float:
    """Greedy, output-aware scale search: for each quantized conv in order, try ``factors`` times its scale and keep
    whichever gives the least MSE between the model's output and ``teacher``'s on ``x`` (the others as they are).

    :func:`calibrate` minimises each input's own rounding error; this minimises what reaches the image, so a
    layer whose errors the network amplifies gets a finer step. Returns the final MSE.
    """
    model.eval()
    target = teacher(x)

    def mse() -> float:
        return float(((model(x) - target) ** 2).mean())

    best = mse()
    for _ in range(passes):
        for i in range(1, len(model.weights)):
            if not model.quantized[i]:
                continue
            base = chosen = float(model.act_scales[i])
            for f in factors:
                model.act_scales.data[i] = base * f
                err = mse()
                if err < best:
                    best, chosen = err, base * f
            model.act_scales.data[i] = chosen
            if log:
                log(i, chosen / base, best)
    return best


def from_generator(generator: Generator) -> QuantGenerator:
    """An uncalibrated QuantGenerator with ``generator``'s weights (BN folded, polyphase tail); ``generator`` is
    left as it was (a copy is put in fp32 eval mode: a model being trained was switched to eval in place)."""
    model = QuantGenerator(FastGenerator(copy.deepcopy(generator).float().eval()))
    model.quantized[list(FLOAT_CONVS)] = False
    return model


def _weight_scale(w: torch.Tensor, weight_max: int = WEIGHT_MAX) -> torch.Tensor:
    return (w.abs().amax(dim=(1, 2, 3)) / weight_max).clamp_min(1e-12)


def save_int8(model: QuantGenerator, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` as int8 weights: each quantized conv's weights as an int8 tensor ``weights.N.int8`` with
    its per-channel scale ``weights.N.scale`` (a quarter of the float file's size), everything else in float.
    Only 8-bit models: the file has no field for 7-bit weights, which :func:`int8_model` makes at load time."""
    if model.weight_max != WEIGHT_MAX:  # they were saved on the 8-bit grid, and loaded back as 8-bit
        raise ValueError(f"save_int8 writes 8-bit weights (weight_max {WEIGHT_MAX}), got a model with weight_max "
                         f"{model.weight_max}: save the 8-bit model; 7-bit weights are made from it at load time "
                         "on CPUs without VNNI/AMX")
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().contiguous().cpu()
        if k.startswith("weights.") and model.quantized[int(k.split(".")[1])]:
            scale = _weight_scale(v)
            tensors[f"{k}.int8"] = torch.round(v / scale[:, None, None, None]).clamp(-WEIGHT_MAX, WEIGHT_MAX).to(torch.int8)
            tensors[f"{k}.scale"] = scale
        else:
            tensors[k] = v
    return save_weights_file(path, tensors, FORMAT, model.architecture, metadata)


def _dequantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """int8 weights back to the float values they stand for (on the int8 grid, so quantizing them is exact)."""
    out = {k: v for k, v in state.items() if not k.endswith((".int8", ".scale"))}
    for k in state:
        if k.endswith(".int8"):
            base = k[: -len(".int8")]
            scale = state.get(f"{base}.scale")
            if scale is None or scale.ndim != 1 or scale.shape[0] != state[k].shape[0]:
                raise ValueError(f"{base}: int8 weights without a matching per-channel scale")
            out[base] = state[k].float() * scale.float()[:, None, None, None]
    return out


def is_int8_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an srgan int8 weights file; CheckpointError when it is a damaged safetensors file."""
    from safetensors import safe_open

    if not is_safetensors(path) or not Path(path).is_file():
        return False
    try:
        with safe_open(str(path), "pt") as handle:
            return (handle.metadata() or {}).get("format") == FORMAT
    except Exception as exc:  # a damaged file says so, rather than "has no int8 weights"
        raise unreadable_safetensors(path, exc) from None


def load_int8(path: str | os.PathLike) -> QuantGenerator:
    """A QuantGenerator from an int8 weights file (:func:`save_int8`), or CheckpointError saying what is wrong."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as exc:
        raise unreadable_safetensors(path, exc) from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an srgan int8 weights file (metadata format={meta.get('format')!r})")
    arch = check_architecture({k: meta.get(k) for k in ARCHITECTURE_KEYS})
    model = from_generator(Generator(**arch))
    try:
        state = _dequantize(state)
        model.load_state_dict(state)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: int8 weights do not fit the {arch} architecture ({one_line(exc)})") from None
    if not all(torch.isfinite(t).all() for t in state.values()) or not (model.act_scales > 0).all():
        raise CheckpointError(f"{path}: int8 weights hold non-finite values or non-positive scales")
    return model.eval().requires_grad_(False)


def int8_model(model, seven_bit: bool = False) -> QuantGenerator:
    """The int8 model for a ``--model`` value: ``srresnet`` (the shipped int8 weights, also the default), an int8
    weights file, or a QuantGenerator; anything else is refused with how to make int8 weights for it.
    ``seven_bit``: :func:`seven_bit_weights` of it, for CPUs without int8 dot-product units. A QuantGenerator
    passed in is copied, not changed."""
    from .shipped import weights_file

    if isinstance(model, QuantGenerator):
        quant = copy.deepcopy(model)  # the caller's stays as it was (.eval() here and .float() in the engine)
    elif isinstance(model, (str, os.PathLike)) and str(model) == "srresnet":
        quant = load_int8(weights_file("srresnet_int8"))
    elif isinstance(model, (str, os.PathLike)) and is_int8_file(Path(model).expanduser()):
        quant = load_int8(Path(model).expanduser())
    else:
        raise ValueError(f"int8 needs int8 weights: the shipped srresnet has them, {_name(model)} does not "
                         f"(make them with scripts/make_int8.py --model WEIGHTS)")
    return (seven_bit_weights(quant) if seven_bit else quant).eval()


def seven_bit_weights(model: QuantGenerator) -> QuantGenerator:
    """A copy of ``model`` with 7-bit weights (:data:`SEVEN_BIT_WEIGHT_MAX`), itself if they are already. Each
    quantized convolution's output channels are first clipped at the range whose 7-bit rounding error is least
    (:func:`clip_for_rounding`): on the shipped weights that gave Set5 31.272 dB against 31.218 for the plain
    max-|w| range (torch, fake-quantized; fp32: 31.323)."""
    if model.weight_max == SEVEN_BIT_WEIGHT_MAX:
        return model
    quant = copy.deepcopy(model)
    quant.weight_max = SEVEN_BIT_WEIGHT_MAX
    with torch.no_grad():
        for i, w in enumerate(quant.weights):
            if quant.quantized[i]:
                w.copy_(clip_for_rounding(w, SEVEN_BIT_WEIGHT_MAX))
    return quant


@torch.no_grad()
def clip_for_rounding(w: torch.Tensor, weight_max: int, candidates: int = 41, lowest: float = 0.6) -> torch.Tensor:
    """``w`` with each output channel clipped at the fraction (``lowest``..1) of its max |w| whose symmetric
    ``weight_max``-level rounding (the scale follows the clipped max, as :func:`quantize_weight` computes it)
    errs least in the squared sum: fewer bits make the rare large weights cost the many small ones more."""
    top = w.abs().amax(dim=(1, 2, 3), keepdim=True)
    best_err, best_clip = None, top
    for fraction in torch.linspace(lowest, 1.0, candidates):
        clip = top * fraction
        step = (clip / weight_max).clamp_min(1e-12)
        err = ((torch.maximum(torch.minimum(w, clip), -clip) / step).round() * step - w).pow(2).sum(dim=(1, 2, 3),
                                                                                                   keepdim=True)
        if best_err is None:
            best_err, best_clip = err, clip
        else:
            better = err < best_err
            best_err, best_clip = torch.where(better, err, best_err), torch.where(better, clip, best_clip)
    return torch.maximum(torch.minimum(w, best_clip), -best_clip)


def _name(model) -> str:
    return type(model).__name__ if isinstance(model, nn.Module) else str(model)
