"""``srgan demo``: the whole product on the bundled sample images, in a minute or two on a laptop CPU.

With shipped weights (srgan/weights/{srresnet,srgan}.safetensors) it uses them. Without them it first trains
a tiny SRResNet (mse phase) and SRGAN (gan phase) on the samples, so every stage runs end to end: train,
evaluate (PSNR/SSIM on Y), degrade, upscale, and a side-by-side comparison image.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).parent / "samples"
SHIPPED = Path(__file__).parent / "weights"
COLUMNS = ("bicubic", "srresnet", "srgan", "HR")


def _train_tiny(run: Path) -> dict[str, Path]:
    from .config import load_config
    from .train import train

    common = [f"train_data={SAMPLES}", "steps=30", "progress=false", "tensorboard=false"]
    srresnet = run / "train-srresnet"
    train(load_config("smoke", common + [f"out_dir={srresnet}"]))
    srgan = run / "train-srgan"
    train(load_config("smoke", common + ["phase=gan", "steps=20", f"init_from={srresnet / 'generator.safetensors'}",
                                         f"out_dir={srgan}"]))
    return {"srresnet": srresnet / "generator.safetensors", "srgan": srgan / "generator.safetensors"}


def comparison_image(rows: list[list[np.ndarray]], crop: int = 96, gap: int = 4) -> np.ndarray:
    """Centre crops of each image, one row per sample, one column per method (uint8 HxWx3)."""
    def centre(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        top, left = (h - crop) // 2, (w - crop) // 2
        return img[top:top + crop, left:left + crop]

    height = len(rows) * crop + (len(rows) - 1) * gap
    width = len(rows[0]) * crop + (len(rows[0]) - 1) * gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = r * (crop + gap), c * (crop + gap)
            canvas[y:y + crop, x:x + crop] = centre(img)
    return canvas


def run_demo(out_root: str | Path = "srgan-demo", device: str = "auto") -> Path:
    from .data import BenchmarkSet, degrade_folder
    from .device import resolve_device
    from .evaluate import evaluate, format_table, resolve_model, super_resolve, write_json
    from .images import write_image
    from .upscale import prepare, upscale_file

    dev = resolve_device(device)
    run = Path(out_root) / time.strftime("%Y%m%d-%H%M%S")
    run.mkdir(parents=True)
    shipped = {name: SHIPPED / f"{name}.safetensors" for name in ("srresnet", "srgan")}
    if all(p.is_file() for p in shipped.values()):
        weights, origin = shipped, "shipped weights"
    else:
        print("No shipped weights in this install: training a tiny SRResNet and SRGAN on the samples first.")
        weights, origin = _train_tiny(run), "tiny demo models trained just now (not the real thing)"

    # Evaluate: the samples are the HR images; their LR comes from the MATLAB-exact bicubic.
    results = {}
    for name, spec in (("bicubic", "bicubic"), ("srresnet", weights["srresnet"]), ("srgan", weights["srgan"])):
        results[name] = evaluate(spec, [SAMPLES], scale=4, device=dev)["samples"]
    write_json(results, run / "metrics.json")
    print(format_table(results, f"PSNR/SSIM (Y, x4) on the bundled samples; {origin}"))

    # Upscale the LR versions, as a user would upscale their own small images.
    lr_dir = run / "lr"
    degrade_folder(SAMPLES, lr_dir, 4)
    engine = prepare(weights["srgan"], dev)
    outputs = [upscale_file(engine, p, run / "upscaled" / p.name, tile="auto") for p in sorted(lr_dir.glob("*.png"))]

    # One comparison image: bicubic | SRResNet | SRGAN | HR, centre crops.
    models = {name: resolve_model(spec, dev) for name, spec in
              (("bicubic", "bicubic"), ("srresnet", weights["srresnet"]), ("srgan", weights["srgan"]))}
    rows = [[super_resolve(models[m], lr, dev) for m in COLUMNS[:3]] + [hr] for _, lr, hr in BenchmarkSet(SAMPLES, 4)]
    comparison = run / "comparison.png"
    write_image(comparison, comparison_image(rows).astype(np.float32) / 255)

    print(f"\nDemo outputs in {run}:")
    print(f"  metrics      {run / 'metrics.json'}")
    print(f"  upscaled     {len(outputs)} images in {run / 'upscaled'}")
    print(f"  comparison   {comparison}  (columns: {' | '.join(COLUMNS)})")
    if origin != "shipped weights":
        print(f"  training     {run / 'train-srresnet'}, {run / 'train-srgan'} (logs, checkpoints)")
    return run
