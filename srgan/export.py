"""``srgan export``: a generator as ONNX with dynamic batch, height and width.

Uses ``torch.onnx.export(..., dynamo=True)`` (torch >= 2.9's default exporter: ``torch.export`` plus onnxscript,
both in the ``[export]`` extra). The graph takes ``lr`` float32 (N, 3, H, W) in [0, 1] and returns ``sr``
float32 (N, 3, scale*H, scale*W) in [0, 1]; the weights are stored inside the .onnx file. Tile large images in
the caller as :mod:`srgan.tiling` does, and edge-pad a side under 4 px to 4 first, then crop the output back, as
``srgan upscale`` does (:data:`srgan.upscaling.MIN_SIDE`): the graph runs any size, but on a 1x1 input its zero
padding outweighs the picture (up to 64 levels off ``srgan upscale``'s output; 3x7: 16).

By default an srgan Generator is exported in the form ``srgan upscale`` runs,
:class:`~srgan.inference.FastGenerator` (BatchNorm folded, the HR 9x9 conv as a polyphase 5x5 conv at half
resolution): the same function up to float rounding, and the HR conv was most of the plain graph's time.
``fast=False`` (``--plain``) exports the Generator layer for layer, for tools that want its structure.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from . import shipped
from .extras import require
from .outputs import check_output_file_name


#: The LR size traced (any size runs: N, H and W are dynamic).
SAMPLE_SIZE = (32, 40)


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs that torchvision ops are unavailable, and torch and onnxscript how a graph is converted
    to another opset (--opset 17 or 28; :func:`_write_onnx` checks the result), and warns about its own
    internals: not news to users."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx._internal.exporter._registration",
                                                    "torch.onnx._internal.exporter._compat",
                                                    "onnxscript.version_converter")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def exportable(model: str | os.PathLike | nn.Module, fast: bool = True) -> nn.Module:
    """The float32 eval-mode module that :func:`export_onnx` traces for ``model`` (name, path or module).

    ``fast``: an srgan Generator as its FastGenerator; other networks (a peer's, :mod:`srgan.peers`) as they are.
    """
    from .loading import resolve_model
    from .inference import fast_generator

    net = resolve_model(model, "cpu", names=shipped.NAMES).float().eval()
    if not any(True for _ in net.parameters()):  # bicubic: an interpolation, no weights
        raise ValueError(f"{model}: not a network (it has no weights); there is nothing to export")
    if fast:
        net = fast_generator(net).float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def export_onnx(model: str | os.PathLike | nn.Module, path: str | os.PathLike, *, opset: int = 18,
                sample_size: tuple[int, int] = SAMPLE_SIZE, fast: bool = True) -> Path:
    """Export ``model`` (name, path or module) to ``path`` with dynamic N, H and W; returns the path.

    ``fast``: export an srgan Generator as its FastGenerator (other models are exported as they are).
    """
    dest = check_output_file_name(os.fspath(path), ".onnx", "export_onnx's path")  # before seconds of tracing
    _check_opset(opset)
    return _write_onnx(exportable(model, fast), dest, opset, sample_size)


def _check_opset(opset: int) -> None:
    """The ONNX tools are installed and take ``opset``: checked before the model is loaded."""
    require(("onnx", "onnxscript"), "export", "ONNX export")
    import onnx

    newest = onnx.defs.onnx_opset_version()  # above it the exporter warns, then quietly writes opset 18
    if not 17 <= opset <= newest:
        raise ValueError(f"--opset must be 17 (the dynamo exporter's lowest) to {newest} (the installed onnx's "
                         f"newest), got {opset}")


def _write_onnx(net: nn.Module, path: str | os.PathLike, opset: int, sample_size: tuple[int, int]) -> Path:
    """Trace ``net`` (from :func:`exportable`) with dynamic N, H and W and write it atomically to ``path``."""
    from .files import atomic_write

    sample = torch.rand(1, 3, *sample_size)
    batch, height, width = torch.export.Dim("batch", min=1), torch.export.Dim("height", min=1), torch.export.Dim("width", min=1)
    with _quiet_exporter():
        program = torch.onnx.export(
            net, (sample,), None, dynamo=True, opset_version=opset, input_names=["lr"], output_names=["sr"],
            # positional: Generator's argument is 'lr', FastGenerator's 'x'
            dynamic_shapes=({0: batch, 2: height, 3: width},), external_data=False, verbose=False,
        )
    program.optimize()
    written = program.model.opset_imports.get("")
    if written != opset:  # the exporter keeps its own opset when it cannot convert, saying so in a log line only
        raise ValueError(f"--opset {opset}: the exporter could not convert the graph to it (it is opset {written}); "
                         f"nothing written (pass --opset {written})")
    dest = Path(path)
    atomic_write(dest, lambda tmp: program.save(tmp, external_data=False))
    return dest


def export_from_cli(args: argparse.Namespace) -> int:
    # Checked before the model is loaded and traced (seconds): a folder or a mistyped name is a one-line error.
    dest = check_output_file_name(args.onnx, ".onnx", "--onnx")
    if os.path.lexists(dest) and not args.overwrite:
        raise FileExistsError(f"{args.onnx}: already exists; not overwritten (pass --overwrite to replace it)")
    from .inference import FastGenerator
    from .models import Generator

    _check_opset(args.opset)
    net = exportable(args.model, fast=not args.plain)  # once: the form printed below is the one written
    dest = _write_onnx(net, dest, args.opset, SAMPLE_SIZE)
    if isinstance(net, FastGenerator):
        form = "fast form"
    elif isinstance(net, Generator):
        form = "plain Generator"
    else:  # only an srgan Generator has a fast form
        form = f"{type(net).__name__}, exported as it is"
    print(f"wrote {dest} ({args.model}, {form}; input 'lr' N x 3 x H x W float32 in [0, 1], dynamic N/H/W; "
          "output 'sr')")
    return 0
