"""The ``srgan`` command line: info, train, eval, degrade, upscale, export, serve, study.

The whole CLI surface is declared here; each subcommand hands its parsed arguments to the module that does
the work (imported lazily so ``srgan --help`` stays quick). Errors a user can cause print one line, no
traceback, unless ``--debug``.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    import numpy
    import PIL
    import torch

    from .device import cpu_flags, cpu_has_fast_bf16, resolve_device
    from .models import Discriminator, Generator, count_parameters

    flags = cpu_flags()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags) or "unknown"
    cuda = (f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}, bf16 "
            f"{'yes' if torch.cuda.is_bf16_supported() else 'no'})") if torch.cuda.is_available() else "not available"
    rows = [
        ("srgan", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("numpy / pillow", f"{numpy.__version__} / {PIL.__version__}"),
        ("default device", str(resolve_device("auto"))),
        ("cpu", f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                f"capability {torch.backends.cpu.get_cpu_capability()}"),
        ("cpu features", isa),
        ("cpu bf16", "native (AMX/AVX512-BF16): bf16 autocast is the fast path" if cpu_has_fast_bf16()
         else "emulated: fp32 + channels_last is the fast path"),
        ("cuda", cuda),
        ("Generator(x4, 16 blocks)", f"{count_parameters(Generator()):,} parameters"),
        ("Discriminator", f"{count_parameters(Discriminator()):,} parameters"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train_from_cli

    return train_from_cli(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import eval_from_cli

    return eval_from_cli(args)


def cmd_degrade(args: argparse.Namespace) -> int:
    from .evaluate import degrade_from_cli

    return degrade_from_cli(args)


def cmd_upscale(args: argparse.Namespace) -> int:
    from .upscale import upscale_from_cli

    return upscale_from_cli(args)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srgan", description="SRGAN (Ledig et al., CVPR 2017): photo-realistic 4x super-resolution.")
    parser.add_argument("--version", action="version", version=f"srgan {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="versions, device, bf16/AMX support, parameter counts")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="train/evaluate/upscale end to end on the bundled sample images")
    p.add_argument("-o", "--output", default="srgan-demo", help="parent folder for the demo's outputs")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train SRResNet (phase mse) or SRGAN (phase gan)")
    p.add_argument("--config", required=True,
                   help="a TOML file or a bundled config: paper-srresnet, paper-srgan-vgg54, srgan-mse, smoke")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. steps=1000 lr=2e-4")
    p.add_argument("--resume", nargs="?", const="last", metavar="CKPT",
                   help="continue from a checkpoint (default: the run folder's last one)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="PSNR/SSIM (Y channel) and NIQE on benchmark folders such as Set5/Set14/BSD100")
    p.add_argument("--model", required=True,
                   help="bicubic | srresnet | srgan | hr (the ground truth itself) | a weights/checkpoint PATH")
    p.add_argument("--metrics", default="psnr,ssim",
                   help="comma-separated: psnr, ssim, niqe (no-reference, lower = more natural); default psnr,ssim")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="benchmark set folders (<Set>/HR ...)")
    p.add_argument("--json", metavar="OUT", help="write per-image and per-set results as JSON")
    p.add_argument("--save-images", metavar="DIR", help="also write the SR images")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", help="fp32 (default, exact numbers) | auto | bf16 | fp16")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("degrade", help="make LR images with MATLAB-exact bicubic downscaling")
    p.add_argument("hr_dir", metavar="HR_DIR")
    p.add_argument("-o", "--output", required=True, metavar="LR_DIR")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("upscale", help="super-resolve images of any size")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (or file for one input)")
    p.add_argument("--model", default="srgan", help="srresnet | srgan | a weights/checkpoint PATH")
    p.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto', or 0 for no tiling")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--ext", default=".png",
                   help="output format when OUT is a folder: .png (default), .jpg, .webp, .tif, .bmp or 'keep'")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse inputs with more pixels (decompression-bomb limit; default 200000000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser("export", help="export a generator to ONNX (dynamic height and width)")
    p.add_argument("--model", default="srgan", help="srresnet | srgan | a weights/checkpoint PATH")
    p.add_argument("--onnx", required=True, metavar="OUT", help="output .onnx file")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18, the exporter's native one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="local web page: compare models on your photos; blind MOS rating (--study)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", action="append", metavar="WEIGHTS",
                   help="also offer this weights/checkpoint file (repeatable); bicubic, srresnet, srgan always")
    p.add_argument("--study", metavar="DIR", help="serve the blind rating page (/study) for this study folder")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse uploads with more pixels (the upscale limit; default 200000000)")
    p.add_argument("--max-upload-mb", type=float, default=None, metavar="MB", help="largest upload (default 50)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("study", help="MOS study tools (see srgan serve --study)")
    actions = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    p = actions.add_parser("report", help="MOS per method with 95%% confidence intervals, and a plot")
    p.add_argument("study_dir", metavar="DIR")
    p.add_argument("-o", "--output", metavar="PNG", help="plot file (default DIR/mos.png)")
    p.set_defaults(func=cmd_study_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("srgan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; the traceback only on request
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        from .images import ImageError  # "<file>: <problem>", a user error like ValueError/OSError

        if not isinstance(exc, (ValueError, OSError, ImageError)):  # not anticipated: say how to see more
            message = f"{exc.__class__.__name__}: {message} (rerun with --debug for the traceback)"
        print(f"srgan: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
