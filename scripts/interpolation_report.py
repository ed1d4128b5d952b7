"""Validation scores of network interpolations between two generators (ESRGAN's, Wang et al. 2018, Sec. 3.4).

    git show 70ec20c:srgan/weights/srgan.safetensors > gpu_srgan.safetensors   # the SRGAN before the grid loss
    python scripts/interpolation_report.py gpu_srgan.safetensors --alpha 1 0.9 0.8 0.5 0
    python scripts/interpolation_report.py gpu_srgan.safetensors --only upsample tail --alpha 0.75 0.5 0.25 0

For each alpha, the weights (1 - alpha) x --from + alpha x MODEL (every float tensor, BN statistics included;
with --only, just those under the given name prefixes, the rest MODEL's) are scored on the validation split as
scripts/choose_release.py scores snapshots: PSNR-Y, NIQE and checkerboard score (docs/TRAINING.md, "The shipped
SRGAN").
"""
from __future__ import annotations

import argparse
import json

from choose_release import SCALE, score
from grid_report import load
from srgan.datasets import development_data
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler
from srgan.validation import validation_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="--model value: srgan or a weights file (alpha 1)")
    parser.add_argument("--from", dest="start", default="srresnet", help="the other end (alpha 0)")
    parser.add_argument("--alpha", type=float, nargs="+", required=True)
    parser.add_argument("--only", nargs="*", default=[""], metavar="PREFIX",
                        help="interpolate only the parameters under these name prefixes (default: all)")
    parser.add_argument("--pool", default=str(development_data() / "train"), help="training pool holding the validation split")
    args = parser.parse_args()
    try:  # the weights too, before the validation set is upscaled: a mistyped MODEL failed after it
        # alpha 1 is MODEL itself; load() treats alpha 0 as "take --from's weights", which is what 0 means here
        models = [(alpha, load(args.model, args.start, args.only if alpha != 1 else [], alpha)) for alpha in args.alpha]
        pairs = list(validation_set("pool", [args.pool], SCALE))
    except (FileNotFoundError, ValueError) as exc:  # no validation split in --pool, or bad weights
        parser.error(str(exc))
    bicubics = [super_resolve(BicubicUpscaler(SCALE), lr, "cpu") for _, lr, _ in pairs]
    for alpha, model in models:
        row = {k: round(v, 3) for k, v in score(model, pairs, bicubics).items()}
        print(f"alpha {alpha:g}" + (f" ({' '.join(args.only)})" if args.only != [""] else ""), json.dumps(row),
              flush=True)


if __name__ == "__main__":
    main()
