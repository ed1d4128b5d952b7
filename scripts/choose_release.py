"""Choose the weights to ship from a training run, on the validation split only, and plot the evidence.

    python scripts/choose_release.py --run release --val ../shared/data/train --json docs/training-logs/choice.json \
        --plot docs/validation_curves.png --compare old_srgan=srgan/weights/srgan.safetensors

For every generator in the run folder (srresnet.safetensors and the gan_step_*.safetensors snapshots of
scripts/train_release_gpu.py) and every --compare model, on the 20 validation images (srgan/validation.py):
PSNR-Y and NIQE (4-px border, as `srgan eval`) and the checkerboard score (srgan/checkerboard.py), also for
bicubic and for HR itself. The SRGAN snapshot chosen is the most natural (lowest mean NIQE) of those whose
checkerboard score is under GRID_GATE_DB (no grid a person would see); if none is, the lowest NIQE of all, and
the JSON says the gate failed.
The plot shows the SRResNet validation PSNR over training (raw and EMA weights, from log.jsonl) and NIQE,
PSNR and checkerboard of the SRGAN snapshots. Set5/Set14/BSD100 play no part here.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from srgan.checkerboard import checkerboard_score
from srgan.evaluate import BicubicUpscaler, resolve_model, super_resolve
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


def step_of(path: Path) -> int:
    return int(re.search(r"(\d+)", path.stem).group(1))


def plot(run: Path, results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    mse = [r for r in log if r.get("phase") == "mse" and "val_psnr_raw" in r]
    gan = sorted((step_of(Path(k)), v) for k, v in results.items() if k.startswith("gan_step"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.plot([r["step"] for r in mse], [r["val_psnr_raw"] for r in mse], "o-", label="raw weights")
    ax.plot([r["step"] for r in mse], [r["val_psnr_ema"] for r in mse], "s-", label="EMA of weights")
    ax.set(title="SRResNet: validation PSNR-Y", xlabel="step (batch 64)", ylabel="dB", ylim=(25.5, None))
    ax.legend()
    steps = [s for s, _ in gan]
    hr, srresnet = results["hr"], results["srresnet"]
    for ax, key, title in ((axes[1], "niqe", "SRGAN: validation NIQE (lower = more natural)"),
                           (axes[2], "checkerboard_db", "SRGAN: checkerboard score (dB)")):
        ax.plot(steps, [v[key] for _, v in gan], "o-", color="C3", label="SRGAN snapshots")
        ax.axhline(hr[key], color="k", ls="--", label="HR images")
        ax.axhline(srresnet[key], color="C0", ls=":", label="SRResNet (start)")
        ax.set(title=title, xlabel="step (batch 32)")
        ax.legend()
    axes[2].axhline(GRID_GATE_DB, color="C2", ls="-.", label="gate")
    chosen = results["chosen"]["srgan"]
    axes[1].plot([step_of(Path(chosen))], [results[chosen]["niqe"]], "*", ms=16, color="gold", mec="k")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="folder with srresnet.safetensors, gan_step_*.safetensors")
    parser.add_argument("--val", required=True, help="training-pool root that holds the validation split")
    parser.add_argument("--compare", nargs="*", default=[], help="name=weights: other models to score alongside")
    parser.add_argument("--json", required=True)
    parser.add_argument("--plot")
    args = parser.parse_args()
    run = Path(args.run)
    pairs = list(validation_set("pool", [args.val], SCALE))  # (name, LR, HR), as `srgan train` validates
    bicubics = [super_resolve(BicubicUpscaler(SCALE), lr, "cpu") for _, lr, _ in pairs]
    models = {"hr": "hr", "bicubic": BicubicUpscaler(SCALE), "srresnet": run / "srresnet.safetensors"}
    models.update({p.name: p for p in sorted(run.glob("gan_step_*.safetensors"))})
    models.update(dict(item.split("=", 1) for item in args.compare))
    results = {}
    for name, spec in models.items():
        model = spec if isinstance(spec, str) and spec == "hr" else resolve_model(spec)
        results[name] = score(model, pairs, bicubics)
        print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}), flush=True)
    gate = GRID_GATE_DB
    snapshots = [k for k in results if k.startswith("gan_step")]
    clean = [k for k in snapshots if results[k]["checkerboard_db"] <= gate]
    chosen = min(clean or snapshots, key=lambda k: results[k]["niqe"])
    results["chosen"] = {"srgan": chosen, "gate_db": gate, "passed_gate": bool(clean)}
    print("chosen:", json.dumps(results["chosen"]))
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(run, results, args.plot)


if __name__ == "__main__":
    main()
