"""Mean checkerboard score (srgan/checkerboard.py) of models on benchmark sets or the validation split.

    python scripts/grid_report.py srgan srresnet                       # Set5, Set14, BSD100
    python scripts/grid_report.py run/gan_step_000354.safetensors --sets validation \
        --restore-from srresnet --restore upsample tail                # where in the network the grid lives

Each LR image is upscaled by the model and by MATLAB bicubic, and the score of the difference is averaged per
set (10 dB is where a grid becomes visible; docs/RESULTS.md). With --restore, the parameters whose names start
with the given prefixes are first replaced by those of --restore-from: a grid that vanishes then lives there.
PSNR, SSIM and NIQE come from `srgan eval --metrics psnr,ssim,niqe`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from srgan.checkerboard import checkerboard_score
from srgan.benchmark_sets import BenchmarkSet
from srgan.datasets import development_data
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler, resolve_model
from srgan.validation import validation_set

SCALE = 4


def load(spec: str, restore_from: str | None, prefixes: list[str], alpha: float = 0.0):
    """``spec``'s weights, those named under ``prefixes`` replaced by ``restore_from``'s; with ``alpha``, by
    (1 - alpha) x theirs + alpha x its own instead (network interpolation; alpha 0 is the plain restore)."""
    model = resolve_model(spec)
    if prefixes:
        unmatched = [p for p in prefixes if not any(k.startswith(p) for k in model.state_dict())]
        if unmatched:  # a mistyped prefix restored nothing, and the plain model was reported under its label
            roots = sorted({k.split(".")[0] for k in model.state_dict()})
            raise SystemExit(f"no parameter of {spec} starts with {', '.join(unmatched)} (its modules: "
                             f"{', '.join(roots)})")
        donor = resolve_model(restore_from).state_dict()
        model.load_state_dict({k: (torch.lerp(donor[k], v, alpha) if alpha and v.is_floating_point() else donor[k])
                               if k.startswith(tuple(prefixes)) else v for k, v in model.state_dict().items()})
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="--model values: srresnet, srgan or a weights file")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"],
                        help="benchmark names under --data, or 'validation' (the pool's held-out split)")
    parser.add_argument("--data", type=Path, default=development_data() / "benchmarks")
    parser.add_argument("--pool", default=str(development_data() / "train"), help="training pool holding the validation split")
    parser.add_argument("--restore-from", default="srresnet")
    parser.add_argument("--restore", nargs="*", default=[], metavar="PREFIX")
    args = parser.parse_args()
    try:  # the models too, before the bicubic references: a mistyped one failed after them
        models = {spec: load(spec, args.restore_from, args.restore) for spec in args.models}
        sets = {name: list(validation_set("pool", [args.pool], SCALE)) if name == "validation"
                else list(BenchmarkSet(args.data / name, SCALE)) for name in args.sets}
    except (FileNotFoundError, ValueError) as exc:  # no such set or weights (CheckpointError is a ValueError)
        parser.error(str(exc))
    bicubic = BicubicUpscaler(SCALE)
    references = {name: [super_resolve(bicubic, lr, "cpu") for _, lr, _ in pairs] for name, pairs in sets.items()}
    for spec, model in models.items():
        row = {name: round(float(np.mean([checkerboard_score(super_resolve(model, lr, "cpu"), ref)
                                          for (_, lr, _), ref in zip(pairs, references[name])])), 2)
               for name, pairs in sets.items()}
        print(spec + (f" (restored from {args.restore_from}: {' '.join(args.restore)})" if args.restore else ""),
              json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
