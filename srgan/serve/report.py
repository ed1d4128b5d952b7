"""``srgan study report DIR``: MOS per method with 95% confidence intervals, as a table and a bar plot.

The plot is drawn with Pillow (always installed) rather than matplotlib, so the report has no optional
dependency and always writes its figure.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..images import IMAGE_EXTENSIONS
from ..imagewrite import write_image
from ..files import file_identity
from .study import PLOT_FILE, MethodScore, check_study_folder, read_ratings, scan, summarize


def format_report(rows: list[MethodScore]) -> str:
    width = max(len("method"), *(len(r.method) for r in rows))
    lines = [f"{'method':<{width}}  {'n':>5}  {'MOS':>5}  95% CI"]
    for r in rows:
        ci = "n/a (one rating)" if math.isnan(r.ci95) else f"{r.mos - r.ci95:.2f} - {r.mos + r.ci95:.2f}"
        lines.append(f"{r.method:<{width}}  {r.n:>5}  {r.mos:>5.2f}  {ci}")
    return "\n".join(lines)


def plot(rows: list[MethodScore]) -> Image.Image:
    """Bars of MOS on the paper's 1-5 axis with 95% CI whiskers, in the order given."""
    bar, gap, left, top, bottom, height = 70, 30, 50, 20, 60, 300
    img = Image.new("RGB", (left + len(rows) * (bar + gap) + gap, top + height + bottom), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)

    def y(score: float) -> float:  # scores 1..5 map to the bottom..top of the axis
        return top + height * (5 - min(5.0, max(1.0, score))) / 4

    for score in range(1, 6):
        draw.line([(left, y(score)), (img.width - 10, y(score))], fill=(225, 225, 225))
        draw.text((left - 10, y(score)), str(score), fill="black", font=font, anchor="rm")
    for i, r in enumerate(rows):
        x0 = left + gap + i * (bar + gap)
        draw.rectangle([x0, y(r.mos), x0 + bar, y(1)], fill=(70, 110, 170))
        if not math.isnan(r.ci95):
            cx = x0 + bar / 2
            draw.line([(cx, y(r.mos - r.ci95)), (cx, y(r.mos + r.ci95))], fill="black", width=2)
            for end, outward in ((r.mos - r.ci95, 1), (r.mos + r.ci95, -1)):
                if 1 <= end <= 5:
                    draw.line([(cx - 10, y(end)), (cx + 10, y(end))], fill="black", width=2)
                else:  # past the 1-5 axis (few ratings): an arrowhead, not a cap that would say it ends there
                    tip = y(end)
                    draw.polygon([(cx - 7, tip - 9 * outward), (cx + 7, tip - 9 * outward), (cx, tip)], fill="black")
        draw.text((x0 + bar / 2, y(1) + 8), r.method, fill="black", font=font, anchor="ma")
        draw.text((x0 + bar / 2, y(1) + 28), f"{r.mos:.2f} (n={r.n})", fill=(90, 90, 90), font=font, anchor="ma")
    return img


def _check_plot_path(out: Path, study_dir: str) -> None:
    """The plot is rewritten on every report, so it may replace an earlier plot, never one of the stimuli, and it
    never goes where it would become one."""
    if out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"{out}: the plot is an image; name a {', '.join(IMAGE_EXTENSIONS)} file")
    if out.is_file():
        try:
            stimuli = scan(study_dir)
        except ValueError:  # no method folders: nothing to protect
            stimuli = []
        if any(file_identity(s.path) == file_identity(out) for s in stimuli):
            raise ValueError(f"{out}: is one of the study's images; the plot would replace it")
    # Every folder of the study is a method's (one made for the plot would become one): an image there would be
    # shown to raters, and one named like a stimulus (a.jpg beside a.png) stops srgan serve --study.
    root, folder = Path(study_dir).resolve(), out.resolve().parent
    if folder.parent == root and not folder.name.startswith("."):  # hidden folders are not scanned
        raise ValueError(f"{out}: is in the study's {folder.name}/ folder, where srgan serve --study would take it "
                         "for an image to rate; write the plot in the study folder itself or outside it")


def report_from_cli(args: argparse.Namespace) -> int:
    import numpy as np

    check_study_folder(args.study_dir)
    out = Path(args.output) if args.output else Path(args.study_dir) / PLOT_FILE
    _check_plot_path(out, args.study_dir)  # before the table is printed: a report is all or nothing
    ratings, bad = read_ratings(args.study_dir)
    if bad:
        print(f"srgan: warning: skipped {bad} unreadable line(s) in the ratings file", file=sys.stderr)
    if not ratings:
        raise ValueError(f"{args.study_dir}: no ratings yet (ratings.jsonl is missing or empty)")
    rows = summarize(ratings)
    raters = len({str(r.get("rater")) for r in ratings})
    write_image(out, np.asarray(plot(rows)), overwrite=True)  # first: a plot that cannot be written prints nothing
    print(format_report(rows))
    print(f"{len(ratings)} ratings from {raters} rater(s); CI: mean +- t(0.975, n-1) * sd / sqrt(n)")
    print(f"plot: {out}")
    return 0
