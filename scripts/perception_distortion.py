"""Perception-distortion report: PSNR (x) against NIQE (y) on BSD100 for bicubic, leftthomas, srgan SRResNet/SRGAN, HR.

    pip install -e ".[plot]"    # matplotlib
    python scripts/perception_distortion.py

Scores every model with ``srgan.evaluate.evaluate`` (PSNR/SSIM on Y and NIQE, all with the 4-px border) on
Set5, Set14 and BSD100, writes the set means to docs/perception_distortion.json, prints them as a markdown
table, and plots BSD100 to docs/perception_distortion.png. HR scores the ground truth itself: its PSNR is
infinite, so it is drawn as a horizontal line at its NIQE, the naturalness a perfect model would reach. The
paper's BSD100 PSNRs (Ledig et al. 2017, Table 2: SRResNet 27.58, SRGAN 25.16 dB; the paper gives no NIQE)
are vertical lines. Takes 10-20 minutes on two shared CPU cores (mostly the two generators).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from srgan.datasets import development_data
from srgan.evaluate import evaluate, write_json

PAPER_BSD100_PSNR = {"SRResNet": 27.58, "SRGAN": 25.16}
REPO = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")


def models(leftthomas: Path) -> dict[str, str]:
    """Plot label -> ``--model`` value."""
    return {"bicubic": "bicubic", "leftthomas SRGAN": str(leftthomas), "srgan SRResNet": "srresnet",
            "srgan SRGAN": "srgan", "HR": "hr"}


def table(scores: dict) -> str:
    def cell(r: dict) -> str:
        psnr_ssim = f"{r['psnr']:.2f} / {r['ssim']:.4f}" if "psnr" in r else "– / –"
        return f"{psnr_ssim} / {r['niqe']:.2f}"

    lines = ["| x4, PSNR (dB) / SSIM / NIQE | " + " | ".join(SETS) + " |", "|---|" + "---|" * len(SETS)]
    lines += [f"| {name} | " + " | ".join(cell(r[s]) for s in SETS) + " |" for name, r in scores.items()]
    return "\n".join(lines)


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the plot needs matplotlib: pip install -e '.[plot]'") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot(plt, scores: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=150)
    points = {name: r["BSD100"] for name, r in scores.items() if "psnr" in r["BSD100"]}
    for name, r in points.items():
        ax.scatter(r["psnr"], r["niqe"], s=40, zorder=3)
        ax.annotate(name, (r["psnr"], r["niqe"]), textcoords="offset points", xytext=(6, 4), fontsize=9)
    hr = scores["HR"]["BSD100"]["niqe"]
    ax.axhline(hr, color="0.3", linestyle="--", linewidth=1)
    ax.annotate(f"HR (ground truth), NIQE {hr:.2f}", (0.01, hr), xycoords=("axes fraction", "data"),
                textcoords="offset points", xytext=(0, 4), fontsize=9, color="0.3")
    for name, psnr in PAPER_BSD100_PSNR.items():
        ax.axvline(psnr, color="tab:red", linestyle=":", linewidth=1)
        ax.annotate(f"paper {name}\n{psnr} dB", (psnr, 0.98), xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(3, -22), fontsize=8, color="tab:red")
    psnrs = [r["psnr"] for r in points.values()] + list(PAPER_BSD100_PSNR.values())
    ax.set_xlim(min(psnrs) - 0.4, max(psnrs) + 0.6)
    ax.set_ylim(hr - 0.4, max(r["niqe"] for r in points.values()) + 0.4)
    ax.set_xlabel("PSNR on Y, dB (higher = closer to the original)")
    ax.set_ylabel("NIQE (lower = more natural)")
    ax.set_title("BSD100 x4: perception vs distortion")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=development_data() / "benchmarks",
                        help="folder holding Set5/Set14/BSD100")
    parser.add_argument("--leftthomas", type=Path,
                        default=development_data() / "weights" / "leftthomas_SRGAN" / "netG_epoch_4_100.pth")
    parser.add_argument("--json", type=Path, default=REPO / "docs" / "perception_distortion.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "perception_distortion.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", metavar="LABEL",
                        help='score only these models (e.g. "srgan SRGAN" after new weights); the others are '
                        "taken from the existing --json")
    args = parser.parse_args()
    plt = pyplot()  # fail before the long evaluation, not after it
    missing = [s for s in SETS if not (args.data / s).is_dir()]
    if missing:
        parser.error(f"--data {args.data}: no {', '.join(missing)} there (the folder holding Set5/Set14/BSD100)")
    if (not args.only or "leftthomas SRGAN" in args.only) and not args.leftthomas.is_file():  # scored second
        parser.error(f"--leftthomas {args.leftthomas}: no such file")

    scores = {}
    if args.only:
        unknown = set(args.only) - set(models(args.leftthomas))
        if unknown:
            raise SystemExit(f"--only: no model labelled {', '.join(sorted(unknown))}; "
                             f"labels: {', '.join(models(args.leftthomas))}")
        scores = json.loads(args.json.read_text())["models"]
    for name, spec in models(args.leftthomas).items():
        if args.only and name not in args.only:
            continue
        results = evaluate(spec, [args.data / s for s in SETS], device=args.device, metrics="psnr,ssim,niqe")
        scores[name] = {s: {k: v for k, v in r.items() if k != "images"} for s, r in results.items()}
        print(f"{name}: " + ", ".join(f"{s} NIQE {r['niqe']:.2f}" for s, r in scores[name].items()), flush=True)
    write_json({"paper_bsd100_psnr": PAPER_BSD100_PSNR, "models": scores}, args.json)
    plot(plt, scores, args.plot)
    print(table(scores))
    print(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
