"""``srgan upscale``: its options and the command itself.

The options include the spellings Real-ESRGAN's ``inference_realesrgan.py`` taught users (``-i``, ``-o``,
``-n``, ``-s``, ``-t``, ``--suffix``, ``--fp32``, ``--tile-pad``). The command maps inputs to outputs with
:mod:`srgan.outputs`, runs the files through :mod:`srgan.pipeline` (decoding, model and encoding overlapped;
small images batched), shares them out across ``torchrun`` ranks with :mod:`srgan.shard` and reports progress
with :mod:`srgan.progress`; the upscaling itself is :mod:`srgan.upscaling`.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from .images import IMAGE_EXTENSIONS, printable
from .shipped import DEFAULT_MODEL, NAMES


def add_upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or globs")
    p.add_argument("-i", "--input", action="append", metavar="INPUT",
                   help="an input as an option (repeatable), as in Real-ESRGAN")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder, or an image file name for one input (its extension picks the format)")
    p.add_argument("-n", "--model", default=DEFAULT_MODEL,
                   help="srresnet | srgan | bicubic | a weights/checkpoint PATH or a training run's folder "
                        "(srresnet: leaves JPEG blocks smooth; "
                        "srgan: more natural texture, sharper JPEG blocks; see docs/RESULTS.md)")
    p.add_argument("-s", "--outscale", type=float, default=None, metavar="S",
                   help="final scale, any number: the model's own x4, then Pillow's Lanczos resize to S "
                        "(default: the model's scale, no resize)")
    p.add_argument("--suffix", default="",
                   help="append _SUFFIX to output names (photo.jpg -> photo_SUFFIX.png); required when the "
                        "output folder is the input folder")
    p.add_argument("-t", "--tile", default="auto",
                   help="tile size in LR pixels, or 0 for no tiling; 'auto' picks the largest tile that fits "
                        "half the free memory (at most 1.5 GiB on a CPU, 8 GiB on a GPU). Tiling is exact up to float "
                        "rounding (a rare pixel 1 level off)")
    p.add_argument("--tile-pad", type=int, default=None, metavar="N",
                   help="accepted and ignored: tiles here always carry the model's whole receptive field, so "
                        "the output equals the untiled one up to float rounding and no padding is needed")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"], metavar="PRECISION",
                   help="auto | fp32 | bf16 | fp16 | int8; auto = bf16 on CPUs with native bf16 (AMX/AVX512-BF16) "
                        "and on CUDA (fp16 where bf16 is missing), fp32 elsewhere (`srgan info` says which). "
                        "int8 (opt-in, CPU): the srresnet's int8 weights run by OpenVINO (the openvino extra: "
                        "pip install -e \".[openvino]\"): 1.8-2.0x the bf16 path on a 2-core Zen 4 with VNNI, 0.03 dB less PSNR "
                        "on Set5; on CPUs without VNNI/AMX 7-bit weights, about 2x fp32 for 0.05 dB "
                        "(docs/PERFORMANCE.md)")
    p.add_argument("--backend", default="torch", choices=["torch", "openvino"],
                   help="openvino: OpenVINO on the CPU (pip install -e \".[openvino]\"; faster on AMX CPUs, see "
                        "docs/PERFORMANCE.md; the model is converted once, then cached)")
    p.add_argument("--fp32", action="store_true", help="same as --precision fp32 (Real-ESRGAN's spelling)")
    p.add_argument("--back-project", action="store_true",
                   help="pull the output's low frequencies back to the input's (one step of back-projection under "
                        "MATLAB bicubic): the SRGAN's local colour drift falls from 4.4 to 0.8 levels on Set14, "
                        "PSNR +0.09-0.23 dB; not in the paper (docs/RESULTS.md)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--skip-existing", action="store_true",
                   help="pass over inputs whose output exists, without an error: a stopped run (a folder of video "
                        "frames) goes on where it stopped. Outputs are written whole or not at all")
    p.add_argument("--png-level", type=int, default=1, choices=range(10), metavar="0-9",
                   help="PNG zlib level: 1 encodes ~8x faster than 6 for ~19%% more bytes on a 2400x1600 SR photo, "
                        "0 stores (2.4x the bytes), 9 is smallest and slowest (benchmarks/png_level.py)")
    p.add_argument("--ext", default=None,
                   help=f"output format when OUT is a folder: {', '.join(IMAGE_EXTENSIONS)} or 'keep' "
                        "(the input's); default .png")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse inputs with more pixels (decompression-bomb limit; default 200000000), and "
                        "outputs with more than N times the model's scale squared (an absurd -s)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (drawn on a terminal only), no closing line; warnings and errors remain")


def _parse_tile(value: str) -> int | str:
    if str(value).lower() == "auto":
        return "auto"
    try:
        tile = int(value)
    except ValueError:
        raise ValueError(f"--tile must be a number of LR pixels, 'auto' or 0, got {value!r}") from None
    if tile < 0:
        raise ValueError(f"--tile must be >= 0, got {tile}")
    return tile


def _precision(args: argparse.Namespace) -> str:
    if args.fp32:
        if args.precision not in ("auto", "fp32"):
            raise ValueError(f"--fp32 and --precision {args.precision} contradict each other; give one")
        return "fp32"
    return args.precision


def upscale_from_cli(args: argparse.Namespace) -> int:
    from .device import EMULATED_BF16, emulated_bf16
    from .engines import prepare
    from .loading import model_path
    from .imagefind import passed_over_note
    from .images import DEFAULT_MAX_PIXELS, extra_frames, read_size
    from .imagewrite import check_writable_dir, format_losses
    from .files import missing_folders, remove_if_empty
    from .outputs import drop_earlier_outputs, lookalike_warning, plan_outputs, refused_before_work, unfit_warning
    from .progress import closing_line, show_progress, tile_advice, tile_bar
    from .pipeline import one_thread, upscale_files, write_output
    from .shard import mine

    tile = _parse_tile(args.tile)
    max_pixels = args.max_pixels
    if max_pixels is not None and max_pixels < 1:
        raise ValueError("--max-pixels must be positive")
    outscale = args.outscale
    if outscale is not None and not (math.isfinite(outscale) and outscale > 0):
        raise ValueError(f"--outscale must be a positive number, got {outscale}")
    suffix = args.suffix
    if "/" in suffix or "\\" in suffix:
        raise ValueError(f"--suffix is added to file names, so it cannot hold a path separator, got {suffix!r}")
    precision = _precision(args)
    if args.model not in ("bicubic", *NAMES):  # before the outputs: "already exists" hid a mistyped --model
        model_path(args.model)
    skip_existing = args.skip_existing
    if skip_existing and args.overwrite:
        raise ValueError("--skip-existing and --overwrite contradict each other; give one")
    if args.output == "-":  # it made a folder called "-"
        raise ValueError("-o -: srgan upscale writes files, not standard output; name an output file or folder")
    inputs = [*args.inputs, *(args.input or [])]
    if not inputs:
        raise ValueError("no input: name image files, folders or globs (or -i INPUT)")
    plan = plan_outputs(inputs, args.output, args.ext, suffix)
    drop_earlier_outputs(plan)
    plan.pairs = mine(plan.pairs, args)  # under torchrun: this rank's share (srgan.shard)
    created = missing_folders([plan.folder, *(dest.parent for _src, dest in plan.pairs)])
    check_writable_dir(plan.folder)  # before any work: a bad output fails at once (ImageError: one line)
    errors = [] if getattr(args, "shard", None) is not None else plan.errors  # under torchrun srgan.shard reports them
    todo, existing = [], []
    for src, dest in plan.pairs:
        # lexists: a broken symbolic link at the output was found only by the write, after the model had run
        if dest.is_dir():  # before the options: "pass --skip-existing" was said to runs that had passed it
            errors.append(f"{dest}: is a folder")
        elif os.path.lexists(dest) and skip_existing:
            existing.append((src, dest))
        elif os.path.lexists(dest) and not args.overwrite:
            errors.append(f"{dest}: already exists; not overwritten (pass --overwrite to replace it, "
                          "--skip-existing to pass over it)")
        else:
            todo.append((src, dest))
    for line in errors:
        print(f"srgan: {printable(line)}", file=sys.stderr)
    for warning in (lookalike_warning(plan), passed_over_note(plan.others)):
        if warning and getattr(args, "shard", None) is None:  # not silenced by --quiet: images were left out
            print(f"srgan: warning: {printable(warning)}", file=sys.stderr)  # (under torchrun srgan.shard says it)
    if plan.skipped and not args.quiet:
        print(f"srgan: {plan.skipped} file(s) in the output folder taken for earlier outputs, not inputs",
              file=sys.stderr)
    if existing and not args.quiet:
        print(f"srgan: {len(existing)} output(s) already exist; skipped (--skip-existing)", file=sys.stderr)
    if existing and (warning := unfit_warning(existing, args.outscale, args.model)):  # torchrun: srgan.shard's
        print(f"srgan: warning: {printable(warning)}", file=sys.stderr)
    written: list[tuple[Path, tuple[int, int]]] = []
    try:
        if not todo:
            if existing and not errors:
                return 0
            if errors:
                print(f"srgan: 0 image(s) written, {len(errors)} failed", file=sys.stderr)
            else:
                print(f"srgan: no input images found in {', '.join(map(str, inputs))}", file=sys.stderr)
            return 1
        with one_thread():  # loading, checking and folding the weights: tiny ops, where threads only add waits
            engine = prepare(args.model, args.device, precision, args.backend,
                             back_project=args.back_project)
        # torch's emulated bf16 ran at 2.5x fp32's time on an AVX2 EPYC without a word (`srgan upscale` of Set14's
        # baboon LR, --precision bf16 against fp32, 2026-12-08); OpenVINO runs its own
        if engine.backend == "torch" and emulated_bf16(engine.dtype, engine.device):
            print(f"srgan: warning: {EMULATED_BF16}", file=sys.stderr)
        refused = [(src, dest, refused_before_work(src, dest, outscale or engine.scale, engine.scale,
                                                   max_pixels or DEFAULT_MAX_PIXELS)) for src, dest in todo]
        for _src, _dest, line in refused:
            if line:
                errors.append(line)
                print(f"srgan: {printable(line)}", file=sys.stderr)
        todo = [(src, dest) for src, dest, line in refused if not line]
        for src, _dest in todo:
            if extra := extra_frames(src):
                print(f"srgan: warning: {src}: {extra + 1} frames (animated or multi-page); only the first is "
                      "upscaled", file=sys.stderr)
        failed = len(errors)
        show, warned, start = show_progress(args.quiet), False, time.perf_counter()

        def progress(i: int, src: Path, width: int, height: int):
            nonlocal warned
            advice = tile_advice(engine, height, width, tile)
            if advice and not warned:
                print(f"srgan: warning: {advice}", file=sys.stderr)
                warned = True
            label = f"[{i}/{len(todo)}] {src.name}" if len(todo) > 1 else src.name
            return tile_bar(label, width * height, show)

        def write(img, y, a, dest, **kw):
            for warning in format_losses(dest, alpha=a is not None, bit_depth=img.bit_depth,
                                         grayscale=img.grayscale,
                                         icc=img.icc_profile is not None):  # warnings: --quiet keeps them
                print(f"srgan: warning: {printable(warning)}", file=sys.stderr)
            return write_output(img, y, a, dest, scale=engine.scale, outscale=outscale, overwrite=args.overwrite,
                                png_level=args.png_level, **kw)
        # Decoding, the model and encoding overlap; small images go in batches (srgan.pipeline).
        for _src, dest, problem in upscale_files(engine, todo, write, tile=tile, max_pixels=max_pixels,
                                                 progress=progress):
            if problem:
                failed += 1
                print(f"srgan: {printable(problem)}", file=sys.stderr)
            else:
                written.append((dest, read_size(dest)))
        if written and not args.quiet:
            print(f"srgan: {closing_line(written, plan.folder, time.perf_counter() - start)}", file=sys.stderr)
        if failed:
            print(f"srgan: {len(written)} image(s) written, {failed} failed", file=sys.stderr)
            return 1
        return 0
    finally:
        remove_if_empty(created)  # a run that wrote nothing leaves no empty output folder behind
