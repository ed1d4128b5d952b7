"""``srgan eval`` and ``srgan degrade``: paper-convention PSNR/SSIM, and NIQE, on benchmark folders.

The convention (docs/EVALUATION.md has the measured numbers):

* LR images: the set's ``LR_bicubic_x<scale>`` PNGs, or, when absent, MATLAB
  ``imresize(modcrop(HR), 1/scale, 'bicubic')`` on uint8 (:func:`srgan.imresize.imresize_uint8`,
  bit-exact with the published LR PNGs).
* SR = model(LR as float RGB in [0, 1]), clamped to [0, 1], x255, rounded to uint8.
* PSNR and SSIM on the BT.601 Y channel (MATLAB ``rgb2ycbcr``), ``scale`` pixels shaved
  from each border, SSIM with an 11x11 Gaussian (sigma 1.5) on the valid region:
  :func:`srgan.metrics.psnr_ssim_y`. Set means are means of the per-image values.
* Grayscale HR (Set14 ``bridge``) is replicated to three channels; Y of a gray image is
  ``16 + 219 v / 255``, the same as measuring the gray plane.
* ``--model bicubic``: MATLAB ``imresize(LR, scale, 'bicubic')`` in float64 (the double
  path, :func:`srgan.imresize.imresize`), clamped and rounded like any SR output.
* NIQE (``metrics`` / ``--metrics`` with ``niqe``; off by default because it costs ~50 ms an image):
  :func:`srgan.niqe.niqe` of the uint8 SR output with the same ``scale``-px border as the PSNR
  shave (BasicSR's ``crop_border``), so the bicubic ring at the edges is not scored. Lower = more
  natural. Set means are means of the per-image values.
* ``--model hr``: the ground truth scored as if it were an SR output, to show how far each model is
  from real photos. Only no-reference metrics apply: PSNR/SSIM of HR against itself would be
  inf / 1 by definition, so they are omitted (absent from the JSON, not in the table).
* ``--sr-images DIR``: another method's SR images, found and read by :mod:`srgan.sr_images`, scored in place of a
  model's output, every metric as above.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__, shipped
from .backproject import BackProjected
from .images import is_single_channel, printable
from .benchmark_sets import BenchmarkSet, degrade_folder, found_as_hr
from .datasets import resolve_benchmark
from .device import autocast, cpu_has_int8_dot, precision_name, resolve_device, resolve_precision
from .loading import GROUND_TRUTH, BicubicUpscaler, fixed_precision, model_file, resolve_model
from .lpips import LPIPS, lpips
from .metrics import psnr_ssim_y, to_uint8
from .niqe import niqe
from .files import atomic_write, missing_folders, remove_if_empty
from .outputs import check_output_file_name
from .sr_images import SRImages
from .tiling import Engine

__all__ = ["evaluate", "super_resolve", "eval_from_cli", "degrade_from_cli", "format_table", "parse_metrics",
           "METRICS"]

FULL_REFERENCE = ("psnr", "ssim", "lpips")
METRICS = FULL_REFERENCE + ("niqe",)


def _model_name(spec) -> str:
    if isinstance(spec, nn.Module):
        return type(spec).__name__
    return str(spec)


@torch.inference_mode()
def super_resolve(model: nn.Module, lr_uint8: np.ndarray, device, dtype=torch.float32) -> np.ndarray:
    """SR of one HxWx3 uint8 LR as HxWx3 uint8: model([0, 1] float) -> clamp -> x255 -> round."""
    dev = resolve_device(device)
    # MATLAB bicubic in float64, also back-projected (labelled fp64, it ran in float32)
    exact = isinstance(model.model if isinstance(model, BackProjected) else model, BicubicUpscaler)
    x = torch.from_numpy(np.ascontiguousarray(lr_uint8)).permute(2, 0, 1)[None]
    x = x.to(dev, torch.float64 if exact else torch.float32) / 255.0
    if isinstance(model, Engine):  # int8: an OpenVINO engine, untiled
        y = model.forward(x)
    else:
        with autocast(dev, torch.float32 if exact else dtype):  # bicubic is float64, never autocast
            y = model(x)
    if not bool(torch.isfinite(y).all()):  # NaN would be scored as black pixels (uint8 cast), a plausible number
        raise ValueError("the model's output has NaN or infinite values")
    # Clamped here, as documented: to_uint8 clamps a model's overshoot but calls anything past 1.5 another scale.
    # Rounded in float64, half to even as BasicSR (metrics' docstring says why it does not matter).
    return to_uint8(y[0].clamp(0, 1))


def unique_key(name: str, results: dict) -> str:
    """``name``, or ``name#2``, ``name#3``...: the first key ``results`` does not hold (two sets of one name)."""
    key, k = name, 2
    while key in results:
        key, k = f"{name}#{k}", k + 1
    return key


def parse_metrics(metrics) -> tuple[str, ...]:
    """``"psnr,ssim,niqe"`` or a sequence of names -> the names in canonical order; unknown names raise."""
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics)]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        problem = f"unknown metric {unknown[0]!r}" if unknown else "no metric given"
        raise ValueError(f"{problem}; choose from {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


def _score(sr: np.ndarray, hr: np.ndarray, scale: int, metrics: tuple[str, ...], round_y: bool,
           lpips_model=None) -> dict:
    scores = {}
    if "psnr" in metrics or "ssim" in metrics:
        p, s = psnr_ssim_y(sr, hr, scale, round_y=round_y)
        scores.update((k, v) for k, v in (("psnr", p), ("ssim", s)) if k in metrics)
    if "lpips" in metrics:  # the whole images, RGB, as the LPIPS authors score them
        scores["lpips"] = lpips(sr, hr, lpips_model)
    if "niqe" in metrics:
        scores["niqe"] = niqe(sr, border=scale)
    return scores


def evaluate(model, sets, scale: int = 4, device="cpu", precision: str = "fp32", save_images=None,
             progress: bool = False, round_y: bool = True, metrics=("psnr", "ssim"),
             back_project: bool = False) -> dict:
    """Score ``model`` on benchmark sets; return ``{set: {<metric>: mean, "images": {name: {<metric>: value}}}}``,
    with ``"grayscale": [names]`` in a set whose HR files include single-channel ones (Set14's bridge), which are
    scored on the BT.601 Y of that grey, as RCAN does, not on the raw grey plane (docs/EVALUATION.md).

    ``model`` is anything :func:`resolve_model` takes, ``"hr"`` (:data:`GROUND_TRUTH`) to score the HR
    images themselves, or :class:`~srgan.sr_images.SRImages` (a folder) to score SR images made elsewhere; ``sets``
    folders, benchmark names (``"Set5"``, found as ``srgan eval --data`` finds them) or
    :class:`~srgan.benchmark_sets.BenchmarkSet`s. ``metrics`` names any of
    ``psnr``, ``ssim``, ``lpips`` (:mod:`srgan.lpips`, AlexNet; its ImageNet and linear weights are found or
    downloaded once), ``niqe`` (a list or ``"psnr,ssim,niqe"``); for ``"hr"`` the full-reference ones are left
    out and at least ``niqe`` must remain. ``save_images`` (a folder) also writes each SR
    as ``<save_images>/<set>/<name>.png`` and never overwrites: an existing target raises
    ``FileExistsError`` before any work; a run that fails or is interrupted removes what it saved.
    A perfect reconstruction has PSNR ``inf``.
    ``round_y=False`` measures on unrounded float Y (BasicSR's convention) instead of
    MATLAB's ``rgb2ycbcr``-of-uint8 rounded Y; see docs/EVALUATION.md for the difference.
    ``back_project`` scores the model's outputs after :mod:`srgan.backproject`'s correction. ``progress``: a
    bar per set on a terminal; into a pipe or a log file, a line as each set starts (a bar there is carriage
    returns, and nothing showed for the 50 s of BSD100).
    """
    from .imagewrite import check_writable_dir, write_image

    metrics = parse_metrics(metrics)
    ground_truth = isinstance(model, str) and model == GROUND_TRUTH
    if ground_truth:
        metrics = tuple(m for m in metrics if m not in FULL_REFERENCE)
        if not metrics:
            raise ValueError("--model hr scores the ground truth itself, where PSNR/SSIM/LPIPS mean nothing; "
                             "add a no-reference metric: --metrics niqe")
    from_folder = isinstance(model, SRImages)
    runs = not (ground_truth or from_folder)  # a model, whose outputs are scored
    fixed = "--sr-images runs no model: it scores the images in the folder" if from_folder else fixed_precision(model)
    if fixed and precision not in ("fp32", "auto"):  # a table titled "bf16" must have run in bf16
        raise ValueError(f"--precision {precision}: {fixed}; leave --precision out")
    dev = resolve_device(device)
    int8 = precision == "int8"  # int8 weights run by OpenVINO on the CPU (srgan.quantize)
    dtype = torch.float32 if int8 else resolve_precision(precision, dev)
    if back_project and not (runs and not int8):
        raise ValueError("back-projection applies to a model's output in fp32/bf16/fp16, not to int8, hr or "
                         "--sr-images")
    if from_folder and save_images is not None:
        raise ValueError("--save-images writes a model's SR images; those of --sr-images are saved already")
    if int8 and runs:
        from .engines import prepare

        model = prepare(model, dev, "int8")
    elif runs:
        model = resolve_model(model, dev, scale=scale)
    if runs and model.scale != int(scale):
        raise ValueError(f"the model upscales x{model.scale} but --scale is {scale}")
    if back_project:
        model = BackProjected(model, model.scale, radius=0)  # the radius is for tiling, which eval does not do
    if isinstance(sets, (str, os.PathLike, BenchmarkSet)):
        sets = [sets]
    sets = [s if isinstance(s, BenchmarkSet) else BenchmarkSet(resolve_benchmark(s), scale, lr=runs)
            for s in sets]  # a folder, or a name (Set5) found as `srgan eval --data` finds it
    keys: dict[int, str] = {}
    for i, s in enumerate(sets):
        keys[i] = unique_key(s.name, {keys[j]: None for j in keys})
    sr_files = [model.files(s, keys[i]) if from_folder else {} for i, s in enumerate(sets)]  # fails before any work
    if save_images is not None:
        root = Path(save_images)
        clashes = [root / keys[i] / f"{name}.png" for i, s in enumerate(sets) for name, _ in s.items
                   if os.path.lexists(root / keys[i] / f"{name}.png")]
        if clashes:
            raise FileExistsError(f"{len(clashes)} SR image(s) already exist, e.g. {clashes[0]}; "
                                  "choose a fresh --save-images folder")
        # Not into a set's HR folder: its next eval would score the saved SR images as more HR images.
        for folder, bench in ((root / key, bench) for key in keys.values() for bench in sets):
            if found_as_hr(folder, bench.hr_dir):
                raise ValueError(f"{folder}: --save-images would write into {bench.name}'s HR folder "
                                 f"{bench.hr_dir}, where the next eval would take them for HR images; choose a "
                                 "folder outside the data")
    # What saving would create and write, removed again if the run fails or is stopped (a full disk, missing LPIPS
    # weights, a bad image, Ctrl-C, SIGTERM): the same command can then be run again into the same folder, which
    # refuses existing images.
    created = [] if save_images is None else missing_folders([Path(save_images) / key for key in keys.values()])
    written: list[Path] = []
    try:
        if save_images is not None:
            check_writable_dir(save_images)
        lpips_model = LPIPS("alex") if "lpips" in metrics else None  # once, before any work: weights may be missing
        results: dict = {}
        for i, bench in enumerate(sets):
            per_image = {}
            items = bench if runs else ((name, None, hr) for name, hr in bench.hr_images())
            if progress and not sys.stderr.isatty():
                print(f"srgan: eval {printable(keys[i])}: {len(bench)} image(s)", file=sys.stderr, flush=True)
            elif progress:
                from tqdm import tqdm

                items = tqdm(items, total=len(bench), desc=f"srgan: eval {keys[i]}", unit="img", leave=False,
                             file=sys.stderr)
            for name, lr, hr in items:
                if from_folder:  # its errors name the file
                    sr = model.read(sr_files[i][name], hr, scale)
                else:
                    try:
                        sr = hr if ground_truth else super_resolve(model, lr, dev, dtype)
                    except ValueError as exc:
                        raise ValueError(f"{bench.name}/{name}: {exc}") from None
                if sr.shape != hr.shape:
                    raise ValueError(f"{bench.name}/{name}: SR is {sr.shape[1]}x{sr.shape[0]}, HR is "
                                     f"{hr.shape[1]}x{hr.shape[0]}")
                try:
                    per_image[name] = _score(sr, hr, scale, metrics, round_y, lpips_model)
                except ValueError as exc:  # e.g. smaller than the SSIM window or two NIQE blocks: say which image
                    raise ValueError(f"{bench.name}/{name}: {exc}") from None
                if save_images is not None:
                    written.append(write_image(Path(save_images) / keys[i] / f"{name}.png", sr))
            results[keys[i]] = {m: float(np.mean([v[m] for v in per_image.values()])) for m in metrics}
            results[keys[i]]["images"] = per_image
            gray = [name for name, path in bench.items if is_single_channel(path)]
            if gray:
                results[keys[i]]["grayscale"] = gray
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        remove_if_empty(created)
        raise
    return results


_COLUMNS = {"psnr": ("PSNR (dB)", "{:.2f}"), "ssim": ("SSIM", "{:.4f}"), "lpips": ("LPIPS (lower = closer)", "{:.4f}"),
            "niqe": ("NIQE (lower = more natural)", "{:.2f}")}


def format_table(results: dict, title: str | None = None, label: str = "set") -> str:
    """The results as a markdown table (PSNR, NIQE to 2 decimals, SSIM to 4); ``label`` names the row key.

    One column per metric any row has; a row without it (``hr`` has no PSNR/SSIM) shows a dash.
    """
    columns = [m for m in METRICS if any(m in r for r in results.values())]
    lines = [f"{title}", ""] if title else []
    lines += [f"| {label} | images | " + " | ".join(_COLUMNS[m][0] for m in columns) + " |",
              "|---|---:|" + "---:|" * len(columns)]
    for name, r in results.items():
        cells = [_COLUMNS[m][1].format(r[m]) if m in r else "–" for m in columns]
        lines.append(f"| {name} | {len(r['images'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # inf PSNR (identical images) has no JSON literal
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _is_json_report(path: Path, limit: int = 1 << 24) -> bool:
    """Whether an existing file is one that ``--json`` may replace: an earlier report, ``{set: {..., "images":
    {...}}}``. Any other JSON object (a package.json, a config) is someone's file."""
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and bool(data) and all(
        isinstance(entry, dict) and isinstance(entry.get("images"), dict) for entry in data.values())


def write_json(results: dict, path) -> Path:
    text = json.dumps(_json_safe(results), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def eval_from_cli(args) -> int:
    device = resolve_device(args.device)
    scale = int(args.scale)
    metrics = parse_metrics(args.metrics)
    folder = SRImages(args.sr_images) if args.sr_images is not None else None
    runs = folder is None and args.model != GROUND_TRUTH  # else no model runs, and no LR is read
    model = folder or args.model
    if runs and args.precision != "int8":
        model = resolve_model(args.model, device, scale=scale, names=("bicubic", GROUND_TRUTH, *shipped.NAMES))
        if model.scale != scale:  # the same check as evaluate(), here with the file's name
            raise ValueError(f"{args.model}: the model upscales x{model.scale} but --scale is {scale}")
    root = args.data_root  # names such as Set5 are looked up (srgan.datasets)
    sets = [BenchmarkSet(resolve_benchmark(d, root), scale, lr=runs) for d in args.data]
    if args.json:  # fail before the work, not after it
        report = check_output_file_name(args.json, ".json", "--json")
        if report.exists() and not _is_json_report(report):
            raise FileExistsError(f"{args.json}: exists and is not an srgan eval report; --json replaces only an "
                                  "earlier report: choose another name")
    back_project = args.back_project
    results = evaluate(model, sets, scale=scale, device=device, precision=args.precision,
                       save_images=args.save_images, progress=True,
                       metrics=metrics, back_project=back_project)
    measured = [m for m in METRICS if any(m in r for r in results.values())]
    on_y = "/".join(m.upper() for m in measured if m != "lpips")
    how = ", ".join(([f"{on_y} on Y, {scale}-px border"] if on_y else []) +
                    (["LPIPS on RGB, whole image"] if "lpips" in measured else []))
    if not runs:  # no model ran: no precision to name
        ran = None
    elif isinstance(model, BicubicUpscaler):
        ran = "fp64"
    else:
        ran = "int8" if args.precision == "int8" else precision_name(resolve_precision(args.precision, device))
    precision = ran if ran in (None, "fp64", args.precision) else f"{args.precision} ({ran})"
    seven_bit = ran == "int8" and not cpu_has_int8_dot()
    if seven_bit:  # its numbers depend on the CPU: say which weights ran
        precision = "int8 (7-bit weights: this CPU has no VNNI/AMX)"
    what = f"SR images {folder}" if folder else f"model {_model_name(args.model)}"
    print(format_table(results, f"{what}{' back-projected' if back_project else ''}, x{scale}, {how}"
                                f"{'' if folder else f', device {device}'}{f', {precision}' if ran else ''}"))
    sr_used = {} if folder is None else {key: os.path.abspath(folder.folder_for(bench, key))
                                         for key, bench in zip(results, sets)}
    if sr_used:
        print("SR images: " + "; ".join(f"{key} from {path}" for key, path in sr_used.items()))
    lr_used = {} if not runs else {  # which LR was scored: a set's own folder, or made here
        key: f"from {bench.lr_dir}" if bench.lr_dir is not None else "made from HR (MATLAB bicubic)"
        for key, bench in zip(results, sets)}
    if lr_used:
        print("LR images: " + "; ".join(f"{key} {how}" for key, how in lr_used.items()))
    gray = {key: r["grayscale"] for key, r in results.items() if r.get("grayscale") and {"psnr", "ssim"} & {*measured}}
    if gray:  # Set14's bridge: tables of the SRCNN era score it on raw grey, 1.32 dB lower (docs/EVALUATION.md)
        print("Grayscale HR images, scored on the BT.601 Y of their grey as RCAN does (PSNR about 1.32 dB above "
              "the raw grey plane that SRCNN-era tables use; docs/EVALUATION.md): " +
              "; ".join(f"{key} {', '.join(names)}" for key, names in gray.items()))
    if args.json:  # each set says what made its numbers, as the table's title does
        from .fetch import file_sha256

        ran_on = {} if folder else {"back_project": back_project, "device": str(device)}  # no model ran for a folder
        run = {"scale": scale, **ran_on, "precision": ran, "srgan": __version__, "torch": torch.__version__,
               "y": "BT.601 Y of the uint8 RGB, rounded (MATLAB rgb2ycbcr)", "border_px": scale}
        weights = None if folder else model_file(args.model, int8=ran == "int8")
        if weights is not None:  # the shipped weights change between releases of one version
            run["weights"] = {"file": os.path.abspath(weights), "sha256": file_sha256(weights)}
        if isinstance(model, nn.Module) and not isinstance(model, BicubicUpscaler):
            run["network"] = type(model).__name__  # a peer's architecture is recognised from its keys
            run["parameters"] = sum(p.numel() for p in model.parameters())  # what a paper's table states
            if isinstance(getattr(model, "architecture", None), dict):
                run["architecture"] = model.architecture
        if "lpips" in measured:
            from .lpips import backbone_weights, linear_weights
            from .pretrained import weights_sha256  # hashed when LPIPS loaded them: not read again

            run["lpips_weights"] = {kind: {"file": os.path.abspath(p), "sha256": weights_sha256(p)} for kind, p in
                                    (("alexnet", backbone_weights("alex", download=False)),
                                     ("linear", linear_weights("alex", download=False)))}
        if ran == "int8":
            run["int8_weight_bits"] = 7 if seven_bit else 8
        hr_used = {key: os.path.abspath(bench.hr_dir) for key, bench in zip(results, sets)}
        made_by = {key: {"sr_images": sr_used[key]} if folder else {"model": _model_name(args.model)}
                   for key in results}
        write_json({key: {**r, "run": {**made_by[key], **run, "hr": hr_used[key], "lr": lr_used.get(key)}}
                    for key, r in results.items()}, Path(args.json).expanduser())
    return 0


def degrade_from_cli(args) -> int:
    hr_dir = Path(args.hr_dir)
    if hr_dir.is_file():
        raise ValueError(f"{hr_dir}: is a file; degrade takes a folder of HR images (or a benchmark name)")
    if not hr_dir.is_dir():  # a benchmark name: its HR folder
        hr_dir = resolve_benchmark(args.hr_dir, args.data_root) / "HR"
    written = degrade_folder(hr_dir, args.output, int(args.scale), overwrite=bool(args.overwrite),
                             progress=sys.stderr.isatty(),
                             warn=lambda line: print(f"srgan: warning: {line}", file=sys.stderr))
    print(f"wrote {len(written)} LR image(s) (x{args.scale}, MATLAB bicubic, uint8 path) to {args.output}")
    return 0
