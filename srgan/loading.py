"""A ``--model`` value as a module: a shipped name, ``bicubic``, a weights file (srgan's or a peer's) or a module.

What ``srgan upscale``, ``eval``, ``export``, ``serve`` and the Python API take as a model, resolved in one place;
:func:`model_file` names the file a value runs, for reports.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from . import shipped
from .checkpoint import CheckpointError, generator_from_checkpoint, is_safetensors, load_checkpoint, load_generator
from .device import resolve_device
from .imresize import imresize
from .tiling import Engine

GROUND_TRUTH = "hr"  # eval's --model name that scores the HR images themselves


class BicubicUpscaler(nn.Module):
    """MATLAB ``imresize(x, scale, 'bicubic')`` as a model: [0, 1] in, clamped [0, 1] out.

    Computes in float64 (the MATLAB double path, symmetric borders) and returns the
    input's dtype, or float64 for float64 input (what :func:`evaluate` passes, so the
    rounding to uint8 is exactly MATLAB's).
    """

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = int(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = imresize(x.to(torch.float64), scale=self.scale).clamp_(0.0, 1.0)
        return y.to(x.dtype) if x.is_floating_point() else y


def model_path(spec: str | os.PathLike, names: tuple[str, ...] = ("bicubic", *shipped.NAMES)) -> Path:
    """The weights file a ``--model`` path names (a training run's folder: its ``generator.safetensors``), or a
    one-line CheckpointError offering ``names``."""
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "generator.safetensors").is_file():  # a run folder, as --resume takes one
        path = path / "generator.safetensors"
    if not path.is_file():
        hint = (" (a folder, not a training run's)" if path.is_dir() else
                f" (names are lower case: {str(spec).lower()})" if str(spec).lower() in names else "")
        raise CheckpointError(f"{spec}: no such weights file{hint}; the model is {', '.join(names)} "
                              "or a weights file path")
    return path


def resolve_model(spec, device="cpu", *, scale: int = 4,
                  names: tuple[str, ...] = ("bicubic", *shipped.NAMES)) -> nn.Module:
    """Turn a ``--model`` value into an eval-mode module mapping [0, 1] LR to [0, 1] SR.

    ``spec`` is:
      * an ``nn.Module`` (a copy, moved to ``device`` and put in eval mode: the caller's module keeps its
        mode, device and dtype, unless it cannot be deep-copied; it, or the module a DDP / torch.compile
        wrapper holds, must have ``.scale``);
      * ``"bicubic"``: :class:`BicubicUpscaler` (``scale`` applies only here);
      * ``"srresnet"`` / ``"srgan"``: the weights shipped in ``srgan/weights/<name>.safetensors``;
      * a path: a leftthomas/SRGAN state dict (:mod:`srgan.peers`; bare, wrapped or prefixed), else anything
        :func:`srgan.checkpoint.load_generator` reads (safetensors, checkpoint, state dict); a training run's
        folder stands for its ``generator.safetensors``.
    The returned module has an integer ``scale`` attribute. Bad specs raise
    :class:`~srgan.checkpoint.CheckpointError` (a ``ValueError``) with a one-line message, which offers ``names``
    (what the caller takes besides a path: eval also takes ``hr``, export no ``bicubic``).
    """
    if not isinstance(spec, (str, os.PathLike, nn.Module)):  # None, an Engine: "expected str, bytes or os.PathLike"
        got = ("a prepared Engine (give it to upscale(..., model=engine) as it is)" if isinstance(spec, Engine)
               else type(spec).__name__)
        raise TypeError(f"model must be a name ({', '.join(names)}), a weights file path or an nn.Module, got {got}")
    dev = resolve_device(device)
    if isinstance(spec, nn.Module):
        inner = spec
        while not isinstance(getattr(inner, "scale", None), int) and isinstance(
                getattr(inner, "module", getattr(inner, "_orig_mod", None)), nn.Module):
            inner = getattr(inner, "module", getattr(inner, "_orig_mod", None))  # DDP / torch.compile wrappers
        try:
            model = copy.deepcopy(inner)  # a model being trained must come back as it was: train mode, its device
        except (TypeError, RuntimeError):  # holds something that cannot be copied (a lock, an open file)
            model = inner
    elif str(spec) == "bicubic":
        model = BicubicUpscaler(scale)
    elif str(spec) in shipped.NAMES:
        path = shipped.weights_file(str(spec))
        if not path.is_file():
            raise CheckpointError(f"no shipped {spec} weights yet; pass a weights file path")
        model = load_generator(path, dev)
    else:
        path = model_path(spec, names)
        if is_safetensors(path):
            model = load_generator(path, dev)
        else:  # read once, for either layout
            from .peers import leftthomas_from_state_dict, leftthomas_part

            state = load_checkpoint(path)
            part = leftthomas_part(state, str(path))
            model = (generator_from_checkpoint(state, str(path)) if part is None else
                     leftthomas_from_state_dict(part, source=str(path)))
    if not isinstance(getattr(model, "scale", None), int):
        raise CheckpointError(f"{type(model).__name__}: model has no integer 'scale' attribute")
    return model.to(dev).eval()


def model_file(spec, int8: bool = False) -> Path | None:
    """The file whose weights a ``--model`` value ran (None for bicubic, hr and modules), for the report."""
    if not isinstance(spec, (str, os.PathLike)):
        return None
    name = str(spec)
    if name in shipped.NAMES:
        return shipped.weights_file(f"{name}_int8" if int8 else name)
    if name in ("bicubic", GROUND_TRUTH):
        return None
    try:
        return model_path(name)  # a run folder: its generator.safetensors
    except CheckpointError:
        return None


def fixed_precision(model) -> str | None:
    """Why ``--precision`` has no say for ``model`` (bicubic, hr), or None for a network."""
    if isinstance(model, str) and model == GROUND_TRUTH:
        return "--model hr runs no model: it scores the HR images themselves"
    if isinstance(model, BicubicUpscaler) or (isinstance(model, str) and model == "bicubic"):
        return "bicubic always runs in float64, as MATLAB's imresize does"
    return None
