"""``srgan demo``: the product on the bundled sample images, in well under a minute on a laptop CPU.

Takes the samples as HR images, makes their LR with the MATLAB-exact bicubic, scores bicubic and the shipped
SRResNet and SRGAN (PSNR/SSIM on Y), upscales the LR images with the shipped SRGAN as a user would, and writes a
side-by-side comparison image (bicubic | SRResNet | SRGAN | HR).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .files import folder_name_problem
from .shipped import NAMES, weights_file

SAMPLES = Path(__file__).parent / "samples"
COLUMNS = ("bicubic", "srresnet", "srgan", "HR")
LABELS = ("bicubic", "SRResNet", "SRGAN", "HR (original)")


def comparison_image(rows: list[list[np.ndarray]], labels: list[str] | tuple[str, ...], crop: int = 128,
                     gap: int = 4, centres: list[tuple[int, int] | None] | None = None, zoom: int = 2) -> np.ndarray:
    """Crops of each image, one row per sample, one column per method, each column titled (uint8 HxWx3).

    ``labels[c]`` is written above column c. ``centres[r]`` is the (y, x) centre of row r's crop (default:
    the image centre); ``zoom`` enlarges the crops by pixel repetition, so that texture and artefacts are
    visible without a viewer's smoothing (the default 128-px crops at 2x are 256 px on screen).
    """
    from PIL import Image, ImageDraw, ImageFont

    if len(labels) != len(rows[0]):
        raise ValueError(f"{len(labels)} labels for {len(rows[0])} columns")

    def cut(img: np.ndarray, centre: tuple[int, int] | None) -> np.ndarray:
        h, w = img.shape[:2]
        cy, cx = centre or (h // 2, w // 2)
        top, left = min(max(cy - crop // 2, 0), h - crop), min(max(cx - crop // 2, 0), w - crop)
        patch = img[top:top + crop, left:left + crop]
        return patch.repeat(zoom, axis=0).repeat(zoom, axis=1)

    side = crop * zoom
    font = ImageFont.load_default(size=max(12, side // 12))
    header = font.size * 2
    height = header + len(rows) * side + (len(rows) - 1) * gap
    width = len(rows[0]) * side + (len(rows[0]) - 1) * gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = header + r * (side + gap), c * (side + gap)
            canvas[y:y + side, x:x + side] = cut(img, centres[r] if centres else None)
    page = Image.fromarray(canvas)
    draw = ImageDraw.Draw(page)
    for c, label in enumerate(labels):
        draw.text((c * (side + gap) + side / 2, header / 2), label, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(page)


def _new_run_folder(root: Path) -> Path:
    """``root/<date-time>``, or ``-2``, ``-3``... after it when a demo started in the same second has it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        run = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run.mkdir()
            return run
        except FileExistsError:
            continue
    raise FileExistsError(f"{root}: 999 demo folders named {stamp}*; remove some")


def run_demo(out_root: str | Path = "srgan-demo", device: str = "auto") -> Path:
    from .device import resolve_device
    from .imagewrite import check_writable_dir
    from .files import missing_folders, remove_if_empty

    dev = resolve_device(device)
    weights = {name: weights_file(name) for name in NAMES}
    missing = [str(p) for p in weights.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"shipped weights missing from this install: {', '.join(missing)}")
    problem = folder_name_problem(Path(out_root))  # before exists(), which raises on a name too long
    if problem:
        raise ValueError(f"{out_root}: {problem}")
    if Path(out_root).exists() and not Path(out_root).is_dir():
        raise NotADirectoryError(f"{out_root}: is a file; -o takes the folder the demo's outputs go in")
    made = missing_folders([Path(out_root)])
    run = _new_run_folder(check_writable_dir(out_root))  # a bad -o is one line, before any work
    try:
        _fill(run, weights, dev)
    except BaseException:  # Ctrl-C a few seconds in left an empty dated folder (and the -o folder it made)
        remove_if_empty([run, *made])
        raise
    return run


def _fill(run: Path, weights: dict[str, Path], dev) -> None:
    """The demo's work: metrics, the LR samples and their upscales, the comparison image, into ``run``."""
    from .benchmark_sets import BenchmarkSet, degrade_folder
    from .evaluate import evaluate, format_table, super_resolve, write_json
    from .imagewrite import write_image
    from .loading import resolve_model
    from .engines import prepare
    from .upscaling import upscale_file

    # Evaluate: the samples are the HR images; their LR comes from the MATLAB-exact bicubic.
    results = {}
    for name, spec in (("bicubic", "bicubic"), ("srresnet", weights["srresnet"]), ("srgan", weights["srgan"])):
        results[name] = evaluate(spec, [SAMPLES], scale=4, device=dev)["samples"]
    write_json(results, run / "metrics.json")
    print(format_table(results, "PSNR/SSIM (Y, x4) on the bundled samples, shipped weights", label="model"))

    # Upscale the LR versions, as a user would upscale their own small images.
    lr_dir = run / "lr"
    degrade_folder(SAMPLES, lr_dir, 4)
    engine = prepare(weights["srgan"], dev)
    outputs = [upscale_file(engine, p, run / "upscaled" / p.name, tile="auto") for p in sorted(lr_dir.glob("*.png"))]

    # One comparison image: bicubic | SRResNet | SRGAN | HR, titled centre crops at 2x.
    models = {name: resolve_model(spec, dev) for name, spec in
              (("bicubic", "bicubic"), ("srresnet", weights["srresnet"]), ("srgan", weights["srgan"]))}
    rows = [[super_resolve(models[m], lr, dev) for m in COLUMNS[:3]] + [hr] for _, lr, hr in BenchmarkSet(SAMPLES, 4)]
    comparison = run / "comparison.png"
    write_image(comparison, comparison_image(rows, LABELS))

    print(f"\nDemo outputs in {run}:")
    print(f"  metrics      {run / 'metrics.json'}")
    print(f"  lr           {len(outputs)} x4-downscaled samples in {lr_dir}")
    print(f"  upscaled     {len(outputs)} images in {run / 'upscaled'} (the SRGAN's, from lr/)")
    print(f"  comparison   {comparison}  (columns: {' | '.join(COLUMNS)})")
