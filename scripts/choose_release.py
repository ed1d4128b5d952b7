"""Choose the weights to ship from a training run, on the validation split only, and plot the evidence.

    python scripts/choose_release.py --run release --val ../shared/data/train --json docs/training-logs/choice.json \
        --plot docs/validation_curves.png --compare old_srgan=srgan/weights/srgan.safetensors

For every generator in the run folder (srresnet.safetensors and the gan_step_*.safetensors snapshots of
scripts/train_release_gpu.py) and every --compare model, on the 20 validation images (srgan/validation.py):
PSNR-Y and NIQE (4-px border, as `srgan eval`) and the checkerboard score (srgan/checkerboard.py), also for
bicubic and for HR itself. The SRGAN snapshot chosen is the most natural (lowest mean NIQE) of those whose
checkerboard score is under GRID_GATE_DB (no grid a person would see) and, with --max-psnr-loss, whose PSNR is
at most that far below the SRResNet's; if none is, the lowest NIQE of all, and the JSON says which gate failed.
A run started from existing weights (`train_release_gpu.py --init`) is compared with those weights; when those
are not an SRResNet (a GAN run continued from an SRGAN), --srresnet names the SRResNet that sets the PSNR floor.
The plot shows the SRResNet validation PSNR over training (raw and EMA weights, from log.jsonl; when the run
trained one) and PSNR, NIQE and checkerboard of the SRGAN snapshots. Set5/Set14/BSD100 play no part here.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from srgan.checkerboard import checkerboard_score
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler, resolve_model
from srgan.metrics import psnr
from srgan.niqe import niqe
from srgan.validation import validation_set

SCALE = 4
# Calibrated by eye on the validation split (flat crops at 4x contrast, 2026-11-26): HR images score 3.1 dB,
# the SRResNets 6.9 and 8.3 with no grid visible; the SRGAN-MSE models 13.4 and 17.3, with a visible grid.
GRID_GATE_DB = 10.0


def score(model, pairs, bicubics) -> dict:
    psnrs, niqes, grids = [], [], []
    for (_, lr, hr), bicubic in zip(pairs, bicubics):
        sr = hr if model == "hr" else super_resolve(model, lr, "cpu")
        if model != "hr":
            psnrs.append(psnr(sr, hr, border=SCALE))
        niqes.append(niqe(sr, border=SCALE))
        grids.append(checkerboard_score(sr, bicubic))
    out = {"niqe": float(np.mean(niqes)), "checkerboard_db": float(np.mean(grids))}
    if psnrs:
        out["psnr"] = float(np.mean(psnrs))
    return out


def choose(results: dict, max_psnr_loss: float | None = None, gate: float = GRID_GATE_DB) -> dict:
    """The lowest-NIQE snapshot of those under the grid gate and above the PSNR floor (all, if none is)."""
    floor = None if max_psnr_loss is None else results["srresnet"]["psnr"] - max_psnr_loss
    snapshots = [k for k in results if k.startswith("gan_step")]
    clean = [k for k in snapshots if results[k]["checkerboard_db"] <= gate
             and (floor is None or results[k]["psnr"] >= floor)]
    chosen = min(clean or snapshots, key=lambda k: results[k]["niqe"])
    return {"srgan": chosen, "gate_db": gate, "psnr_floor": floor, "passed_gate": bool(clean)}


def step_of(path: Path) -> int:
    return int(re.search(r"(\d+)", path.stem).group(1))


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def plot(run: Path, results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = read_log(run)
    args = log[0]["args"]
    mse = [r for r in log if r.get("phase") == "mse" and "val_psnr_raw" in r]
    series = {label: sorted((step_of(Path(k)), v) for k, v in results.items()
                            if k.startswith("gan_step") and k.endswith("_ema.safetensors") == ema)
              for label, ema in (("SRGAN snapshots", False), ("their EMA (--gan-ema)", True))}
    fig, axes = plt.subplots(1, 4 if mse else 3, figsize=(20 if mse else 15, 4.2))
    if mse:
        ax, axes = axes[0], axes[1:]
        ax.plot([r["step"] for r in mse], [r["val_psnr_raw"] for r in mse], "o-", label="raw weights")
        ax.plot([r["step"] for r in mse], [r["val_psnr_ema"] for r in mse], "s-", label="EMA of weights")
        ax.set(title="SRResNet: validation PSNR-Y", xlabel=f"step (batch {args['batch']})", ylabel="dB",
               ylim=(25.5, None))
        ax.legend()
    drop = args.get("gan_lr_drop", 0.5)  # runs older than the option dropped at half time
    schedule = f"lr {args['gan_lr']:g}" + (f", /10 after {drop:.0%} of the steps" if drop < 1 else "")
    for ax, key, title in ((axes[0], "psnr", "SRGAN: validation PSNR-Y (dB)"),
                           (axes[1], "niqe", "SRGAN: validation NIQE (lower = more natural)"),
                           (axes[2], "checkerboard_db", "SRGAN: checkerboard score (dB)")):
        for (label, points), style, color in zip(series.items(), ("o-", "s--"), ("C3", "C1")):
            if points:
                ax.plot([s for s, _ in points], [v[key] for _, v in points], style, color=color, label=label)
        if key in results["hr"]:
            ax.axhline(results["hr"][key], color="k", ls="--", label="HR images")
        ax.axhline(results["srresnet"][key], color="C0", ls=":", label="SRResNet" + ("" if "start" in results
                                                                                  else " (start)"))
        if "start" in results:
            ax.axhline(results["start"][key], color="C4", ls=":", label="start (--init)")
        chosen = results["chosen"]["srgan"]
        ax.plot([step_of(Path(chosen))], [results[chosen][key]], "*", ms=16, color="gold", mec="k", label="chosen")
        ax.set(title=title, xlabel=f"step (batch {args['gan_batch']}, {schedule})")
    floor = results["chosen"].get("psnr_floor")
    if floor is not None:
        axes[0].axhline(floor, color="C2", ls="-.", label="PSNR floor")
    axes[2].axhline(GRID_GATE_DB, color="C2", ls="-.", label="gate")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="folder with srresnet.safetensors, gan_step_*.safetensors")
    parser.add_argument("--val", required=True, help="training-pool root that holds the validation split")
    parser.add_argument("--compare", nargs="*", default=[], help="name=weights: other models to score alongside")
    parser.add_argument("--json", required=True)
    parser.add_argument("--plot")
    parser.add_argument("--max-psnr-loss", type=float,
                        help="dB: a snapshot must keep the SRResNet's validation PSNR within this to be chosen")
    parser.add_argument("--srresnet", help="the SRResNet for the PSNR floor, when the run's start is not one "
                        "(default: the run's srresnet.safetensors, else its --init weights)")
    parser.add_argument("--reuse", help="a JSON this script wrote before: its scores are taken, not recomputed")
    args = parser.parse_args()
    if args.plot and importlib.util.find_spec("matplotlib") is None:  # before the scoring (minutes), not after
        parser.error("--plot needs matplotlib: pip install -e '.[plot]'")
    compare = {}
    for item in args.compare:  # a missing '=' was a traceback after the bicubic upscales of the validation set
        name, _, spec = item.partition("=")
        if not name or not spec:
            parser.error(f"--compare {item!r}: expected NAME=WEIGHTS, e.g. old_srgan=srgan/weights/srgan.safetensors")
        compare[name] = spec
    try:
        known = json.loads(Path(args.reuse).read_text()) if args.reuse else {}
    except (OSError, ValueError) as exc:
        parser.error(f"--reuse {args.reuse}: {exc}")
    run = Path(args.run)
    snapshots = sorted(run.glob("gan_step_*.safetensors"))
    if not snapshots:
        parser.error(f"no gan_step_*.safetensors in {run}: nothing to choose from")
    start = run / "srresnet.safetensors"
    if not start.exists():  # a GAN run from --init weights
        if not (run / "log.jsonl").exists():
            parser.error(f"{run} has neither srresnet.safetensors nor the log.jsonl that names its --init weights")
        start = Path(read_log(run)[0]["args"]["init"])
    models = {"hr": "hr", "bicubic": BicubicUpscaler(SCALE), "srresnet": args.srresnet or start}
    if args.srresnet:
        models["start"] = start
    models.update({p.name: p for p in snapshots})
    models.update(compare)
    try:  # all loaded before any is scored: a bad --compare or --srresnet failed after minutes of scoring
        models = {name: resolve_model(spec) if isinstance(spec, (str, Path)) and spec != "hr" and name not in known
                  else spec for name, spec in models.items()}
        pairs = list(validation_set("pool", [args.val], SCALE))  # (name, LR, HR), as `srgan train` validates
    except (FileNotFoundError, ValueError) as exc:  # CheckpointError is a ValueError
        parser.error(str(exc))
    bicubics = [super_resolve(BicubicUpscaler(SCALE), lr, "cpu") for _, lr, _ in pairs]
    results = {}
    for name, model in models.items():
        results[name] = known[name] if name in known else score(model, pairs, bicubics)
        print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}), flush=True)
    results["chosen"] = choose(results, args.max_psnr_loss)
    print("chosen:", json.dumps(results["chosen"]))
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(run, results, args.plot)


if __name__ == "__main__":
    main()
