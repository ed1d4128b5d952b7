"""The ``srgan`` command line: info, demo, train, eval, degrade, upscale, export, serve, study, data.

The whole CLI surface is declared here; each subcommand hands its parsed arguments to the module that does
the work (imported lazily so ``srgan --help`` stays quick). Errors a user can cause print one line, no
traceback, unless ``--debug`` (before or after the command). A usage error prints the usage of the command
it concerns. Every ``--help`` shows the defaults.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import textwrap
from contextlib import nullcontext

from . import __version__
from .shipped import DEFAULT_MODEL
from .signals import sigterm_interrupts


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    import numpy
    import PIL
    import torch

    from .device import (INT8_DOT_FLAGS, cpu_flags, cpu_has_fast_bf16, cpu_name, precision_name, resolve_device,
                         resolve_precision)
    from .models import Discriminator, Generator, count_parameters

    flags = cpu_flags()
    device = resolve_device("auto")
    auto = precision_name(resolve_precision("auto", device))
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
                                "amx_tile") if f in flags) or "unknown"
    int8_units = [f for f in INT8_DOT_FLAGS if f in flags]
    cuda = (f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}, bf16 "
            f"{'yes' if torch.cuda.is_bf16_supported() else 'no'})") if torch.cuda.is_available() else "not available"
    rows = [
        ("srgan", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("numpy / pillow", f"{numpy.__version__} / {PIL.__version__}"),
        ("default device", str(device)),
        ("cpu", f"{cpu_name()}, {torch.get_num_threads()} threads, "
                f"capability {torch.backends.cpu.get_cpu_capability()}"),
        ("cpu features", isa),
        ("cpu bf16", "native (AMX/AVX512-BF16): bf16 autocast is the fast path" if cpu_has_fast_bf16()
         else "emulated: fp32 + channels_last is the fast path"),
        ("cpu int8", f"{', '.join(int8_units)}: --precision int8 (opt-in, OpenVINO) runs on them"
         if int8_units else "no VNNI/AMX: --precision int8 (opt-in, OpenVINO) uses 7-bit weights here, as 8-bit "
                            "ones overflow (about 0.05 dB less)"),
        ("cuda", cuda),
        ("precision here", f"upscale, serve, train: auto -> {auto}; eval: fp32 (its default: reported "
                           f"PSNR/SSIM must not depend on the machine; --precision auto gives {auto})"),
        ("Generator(x4, 16 blocks)", f"{count_parameters(Generator()):,} parameters"),
        ("Discriminator", f"{count_parameters(Discriminator()):,} parameters"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.config is None and args.resume in (None, "last"):  # a stored config needs its checkpoint named
        args.usage_parser.error("the following arguments are required: --config (or --resume CKPT|RUN_DIR, which "
                                "continues with the config stored in the checkpoint)")
    from .train import train_from_cli

    return train_from_cli(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import eval_from_cli

    return eval_from_cli(args)


def cmd_degrade(args: argparse.Namespace) -> int:
    from .evaluate import degrade_from_cli

    return degrade_from_cli(args)


def cmd_upscale(args: argparse.Namespace) -> int:
    from .shard import sharded
    from .upscale_cli import upscale_from_cli

    return sharded(upscale_from_cli, args)  # under torchrun, each rank upscales its share of the files


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output, args.device)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_from_cli

    return export_from_cli(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve.commands import serve_from_cli

    return serve_from_cli(args)


def cmd_study_report(args: argparse.Namespace) -> int:
    from .serve.report import report_from_cli

    return report_from_cli(args)


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from .fetch import fetch_from_cli

    return fetch_from_cli(args)


def cmd_data_list(args: argparse.Namespace) -> int:
    from .fetch import list_from_cli

    return list_from_cli(args)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter plus "(default: X)" wherever there is a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, "", argparse.SUPPRESS) and action.option_strings
        if shown and "default" not in text and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class TrainHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the config-key table's lines as written."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose epilog may be a function, called only when the help is shown: train's lists the
    config keys and their defaults, which needs torch, and ``srgan --help`` should not wait a second for it."""

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


def scale_factor(text: str) -> int:
    """argparse type of --scale: a whole factor of 2 or more (0 divided by zero, -4 was read as 1/4)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number such as 4, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be 2 or more, got {value}")
    return value


def _config_keys_help() -> str:
    from .config import KEY_HELP, TrainConfig

    defaults = TrainConfig()
    width = max(map(len, KEY_HELP))
    columns = max(shutil.get_terminal_size().columns - 2, 2 * width + 8)  # the width argparse wraps to
    lines = [textwrap.fill(f"{text} (default: {getattr(defaults, key)!r})", columns,
                           initial_indent=f"  {key:<{width}}  ", subsequent_indent=" " * (width + 4),
                           break_on_hyphens=False)
             for key, text in KEY_HELP.items()]
    return "config keys (KEY=VALUE overrides; docs/TRAINING.md has the details):\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="srgan", description="SRGAN (Ledig et al., CVPR 2017): photo-realistic 4x super-resolution.",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"srgan {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    # --debug after the command too; SUPPRESS keeps a value given before the command
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(parent, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        child = parent.add_parser(name, parents=[common], **kwargs)
        child.set_defaults(usage_parser=child)  # usage errors name the command they concern
        return child

    p = command(sub, "info", help="versions, device, bf16/AMX support, the precision each command picks here")
    p.set_defaults(func=cmd_info)

    p = command(sub, "demo", help="score and upscale the bundled samples with the shipped weights (no training); "
                                  "writes a comparison image")
    p.add_argument("-o", "--output", default="srgan-demo", help="parent folder for the demo's outputs")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps")
    p.set_defaults(func=cmd_demo)

    p = command(sub, "train", help="train SRResNet (phase mse) or SRGAN (phase gan)",
                epilog=_config_keys_help, formatter_class=TrainHelpFormatter)
    p.add_argument("--config",
                   help="a TOML file or a bundled config: paper-srresnet, paper-srgan-vgg54, srgan-mse, smoke "
                        "(with --resume CKPT it may be left out: the checkpoint's own config)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config keys (listed below), e.g. steps=1000 lr=2e-4")
    p.add_argument("--resume", nargs="?", const="last", metavar="CKPT",
                   help="continue from a checkpoint, or a run folder's last.pt (without CKPT: out_dir's last.pt)")
    p.set_defaults(func=cmd_train)

    p = command(sub, "eval", help="PSNR/SSIM (Y channel) and NIQE on benchmark sets such as Set5/Set14/BSD100")
    scored = p.add_mutually_exclusive_group(required=True)
    scored.add_argument("--model",
                        help="bicubic | srresnet | srgan | hr (the ground truth itself) | a weights/checkpoint PATH")
    scored.add_argument("--sr-images", metavar="DIR",
                        help="score SR images made elsewhere instead of a model's: in DIR/<set>/ or DIR, one per HR "
                             "image, named as it (baby.png) or after it (baby_x4_SR.png), of the HR's size "
                             "cropped to a multiple of --scale")
    p.add_argument("--metrics", default="psnr,ssim",
                   help="comma-separated: psnr, ssim, lpips (AlexNet, lower = closer; its weights are downloaded "
                        "once, or found as docs/EVALUATION.md says), niqe (no-reference, lower = more natural)")
    p.add_argument("--data", nargs="+", required=True, metavar="SET",
                   help="benchmark names (Set5 Set14 BSD100 Urban100, found under --data-root, $SRGAN_DATA, "
                        "../shared/data or the download cache) or folders (<Set>/HR, optional "
                        "<Set>/LR_bicubic_x<scale>; BasicSR's GTmod12 + LRbicx<scale>; SelfExSR's image_SRF_<scale>)")
    p.add_argument("--data-root", metavar="DIR",
                   help="the only place to look for benchmark names: DIR/benchmarks/<Set>")
    p.add_argument("--json", metavar="OUT", help="write per-image and per-set results as JSON")
    p.add_argument("--save-images", metavar="DIR", help="also write the SR images")
    p.add_argument("--back-project", action="store_true",
                   help="score the outputs after back-projection onto the LR input (as srgan upscale --back-project; "
                        "not in the paper)")
    p.add_argument("--scale", type=scale_factor, default=4,
                   help="upscaling factor; it must match the model's (the LR images are HR / scale)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", default="fp32", choices=["fp32", "auto", "bf16", "fp16", "int8"], metavar="PRECISION",
                   help="fp32 | auto | bf16 | fp16 | int8. fp32 by default, unlike upscale's auto: reported numbers "
                        "must be exact and the same on every machine. int8: the srresnet int8 weights on the CPU "
                        "with OpenVINO (pip install -e \".[openvino]\"), 7-bit on CPUs without VNNI/AMX")
    p.set_defaults(func=cmd_eval)

    p = command(sub, "degrade", help="make LR images with MATLAB-exact bicubic downscaling")
    p.add_argument("hr_dir", metavar="HR_DIR",
                   help="folder of HR images (searched recursively), or a benchmark name such as Set14")
    p.add_argument("--data-root", metavar="DIR", help="the only place to look for benchmark names")
    p.add_argument("-o", "--output", required=True, metavar="LR_DIR", help="folder for the LR images")
    p.add_argument("--scale", type=scale_factor, default=4, help="downscaling factor (HR is first cropped to a multiple)")
    p.add_argument("--overwrite", action="store_true", help="replace existing LR images")
    p.set_defaults(func=cmd_degrade)

    from .upscale_cli import add_upscale_arguments

    p = command(sub, "upscale", help="super-resolve images of any size")
    add_upscale_arguments(p)
    p.set_defaults(func=cmd_upscale)

    p = command(sub, "export", help="export a generator to ONNX (dynamic height and width)")
    p.add_argument("--model", default=DEFAULT_MODEL,  # what upscale runs: it exported the SRGAN (docs/RESULTS.md)
                   help=f"srresnet | srgan | a weights/checkpoint PATH (default: {DEFAULT_MODEL}, as upscale)")
    p.add_argument("--onnx", required=True, metavar="OUT", help="output .onnx file")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (18 is the exporter's native one)")
    p.add_argument("--plain", action="store_true",
                   help="export the Generator layer for layer instead of the fast form srgan upscale runs "
                        "(BatchNorm folded, polyphase tail: same function, faster)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_export)

    p = command(sub, "serve", help="local web page: compare models on your photos; blind MOS rating (--study)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--model", action="append", metavar="WEIGHTS",
                   help="also offer this weights/checkpoint file (repeatable); bicubic, srresnet, srgan always")
    p.add_argument("--study", metavar="DIR", help="serve the blind rating page (/study) for this study folder")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], metavar="PRECISION",
                   help="auto | fp32 | bf16 | fp16; auto as in srgan upscale (`srgan info` says which)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse uploads with more pixels (the upscale limit; default 200000000)")
    p.add_argument("--max-upload-mb", type=float, default=None, metavar="MB", help="largest upload (default 50)")
    p.set_defaults(func=cmd_serve)

    p = command(sub, "study", help="MOS study tools (see srgan serve --study)")
    actions = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    p = command(actions, "report", help="MOS per method with 95%% confidence intervals, and a plot")
    p.add_argument("study_dir", metavar="DIR", help="the study folder given to srgan serve --study")
    p.add_argument("-o", "--output", metavar="PNG", help="plot file (default DIR/mos.png)")
    p.set_defaults(func=cmd_study_report)

    p = command(sub, "data", help="benchmark and training sets: where they are found, and downloading them")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = command(actions, "fetch", help="download sets from their public sources, checking every file's sha256")
    from .fetch import DEFAULT_MIRROR, NAMES

    p.add_argument("names", nargs="+", metavar="SET", type=str.lower, choices=NAMES,
                   help=f"{' | '.join(NAMES)} (urban100 has no checksummed source and is refused)")
    p.add_argument("--data-root", metavar="DIR",
                   help="download into DIR/benchmarks and DIR/train (default: $SRGAN_DATA, else srgan's cache: "
                        "$SRGAN_CACHE_DIR/data, $XDG_CACHE_HOME/srgan/data or ~/.cache/srgan/data)")
    p.add_argument("--mirror", default=DEFAULT_MIRROR, metavar="URL",
                   help="a server (or a file:// folder) laid out as OWNER/REPO/COMMIT/PATH, like "
                        "raw.githubusercontent.com")
    p.set_defaults(func=cmd_data_fetch)
    p = command(actions, "list", help="where each known set is found, or how to get it")
    p.add_argument("--data-root", metavar="DIR", help="look only in DIR")
    p.set_defaults(func=cmd_data_list)
    return parser


def _gather_overrides(args: argparse.Namespace, unknown: list[str]) -> list[str]:
    """``srgan train``'s KEY=VALUE overrides wherever they stand: argparse leaves those after ``--resume CKPT``
    unrecognised, and ``--resume steps=3`` (no CKPT) would take the override for a checkpoint path."""
    if not hasattr(args, "overrides"):
        return unknown
    if args.resume and "=" in args.resume and not os.path.exists(args.resume):
        args.overrides.insert(0, args.resume)
        args.resume = "last"
    overrides = [u for u in unknown if "=" in u and not u.startswith("-")]
    args.overrides += overrides
    return [u for u in unknown if u not in overrides]


#: Arguments that name files or folders: an empty one (an unset shell variable) meant the current folder, and
#: `srgan upscale "$IN" -o out` upscaled everything below it.
PATH_ARGS = ("inputs", "input", "output", "data", "data_root", "json", "save_images", "sr_images", "hr_dir", "model",
             "onnx", "study", "study_dir", "config", "resume")


def _refuse_empty_paths(args) -> None:
    for action in args.usage_parser._actions:
        value = getattr(args, action.dest, None) if action.dest in PATH_ARGS else None
        if any(isinstance(v, str) and not v.strip() for v in (value if isinstance(value, list) else [value])):
            name = "/".join(action.option_strings) or action.metavar or action.dest
            args.usage_parser.error(f"argument {name}: an empty path (an unset shell variable?)")


class _WarningLines(logging.Handler):
    """srgan's library warnings (srgan.data's skipped images) as the command's own lines. Without a handler Python
    printed the bare message ("skipped 1 image(s) smaller than the 96-px crop: ..."), unlike every other line.
    Written to the sys.stderr of the moment, as print does."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"srgan: warning: {record.getMessage()}", file=sys.stderr, flush=True)


def _warnings_as_lines() -> None:
    logger = logging.getLogger("srgan")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    try:  # `srgan train --help` loads torch for its table of config keys: a Ctrl-C meanwhile is no traceback either
        args, unknown = build_parser().parse_known_args(argv)
    except KeyboardInterrupt:
        print("srgan: interrupted", file=sys.stderr)
        return 130
    unknown = _gather_overrides(args, unknown)
    if unknown:  # argparse would print the top-level usage; the command's own is the useful one
        args.usage_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _refuse_empty_paths(args)
    _warnings_as_lines()
    # SIGTERM (`timeout`, a supervisor, a job's time limit) interrupts like Ctrl-C, so that each command's clean-up
    # of partial outputs runs (a killed degrade left part of an LR set, eval --save-images a temporary file);
    # training turns both into "finish the step and save" itself, and serve leaves signals to uvicorn.
    signals = nullcontext() if args.func is cmd_serve else sigterm_interrupts()
    try:
        with signals:
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit, so that a reader that has gone is handled below
        return code
    except KeyboardInterrupt:
        print("srgan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `srgan data list | head -1`: the reader has gone; say nothing, as ls or cat would
        try:  # and keep Python's final flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141  # what a shell reports for a command ended by SIGPIPE
    except Exception as exc:  # one line for the user; the traceback only on request
        if args.debug:
            raise
        from .checkpoint import one_line
        from .extras import MissingExtra
        from .images import ImageError  # "<file>: <problem>", a user error like ValueError/OSError

        message = one_line(exc)
        if not isinstance(exc, (ValueError, OSError, ImageError, MissingExtra)):  # not anticipated: say how to see more
            message = f"{exc.__class__.__name__}: {message} (rerun with --debug for the traceback)"
        print(f"srgan: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
