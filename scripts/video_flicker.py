"""How much each model flickers on video, where every frame is upscaled on its own.

    python scripts/video_flicker.py                            # the bundled srgan/samples
    python scripts/video_flicker.py photos/ --frames 8 --quality 85

Per-frame super-resolution has no memory: whatever differs between two frames of the input comes out of the
model again, damped or amplified. Each photo becomes a short clip in which the camera pans one LR pixel a frame
along the diagonal: frame k is the MATLAB-bicubic x4 downscale of the HR crop starting 4k pixels right and down,
so every frame shows the same content, exactly shifted. Each frame is then JPEG-compressed on its own, as a video
codec does, with its 8x8 block grid fixed to the frame rather than to the content.

The SR frames are shifted back and compared where all of them overlap, less a 64-px margin: flicker is the RMS,
over pixels and channels, of each pixel's standard deviation across the frames, in 8-bit levels. The models are
fully convolutional, so lossless frames (--quality 0) give ~0 for all of them (what is left is each frame's own
border, whose zero padding reaches in as far as the networks' receptive field, ~40 LR px: ~0.002 levels at a
64-px margin and 0 at 160, which small photos cannot spare): what is measured is how each model passes on the
compression noise. Bicubic is the baseline a viewer is used to.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from compare_on_photos import jpeg_round_trip
from srgan.evaluate import super_resolve
from srgan.loading import BicubicUpscaler, resolve_model
from srgan.imagefind import find_images
from srgan.images import ImageError, read_rgb_uint8
from srgan.imresize import degrade_uint8

SCALE = 4
MARGIN = 64  # HR pixels left out at each side of the common region, where the frames' own borders reach in


def panning_clip(hr: np.ndarray, frames: int, quality: int) -> list[np.ndarray]:
    """LR frames of a diagonal pan over ``hr``, one LR pixel a frame, each compressed on its own."""
    travel = SCALE * (frames - 1)
    h = (hr.shape[0] - travel) // SCALE * SCALE
    w = (hr.shape[1] - travel) // SCALE * SCALE
    if min(h, w) - travel - 2 * MARGIN < 1:  # what flicker() compares must not be empty
        raise ValueError(f"image {hr.shape[1]}x{hr.shape[0]} is too small for {frames} frames")
    frames_lr = [degrade_uint8(hr[SCALE * k:SCALE * k + h, SCALE * k:SCALE * k + w], SCALE) for k in range(frames)]
    return frames_lr if quality == 0 else [jpeg_round_trip(frame, quality) for frame in frames_lr]  # 0: lossless


def flicker(sr_frames: list[np.ndarray]) -> float:
    """RMS over the common region of each pixel's standard deviation across the frames (8-bit levels)."""
    frames = len(sr_frames)
    h, w = sr_frames[0].shape[:2]
    travel = SCALE * (frames - 1)
    if min(h, w) - travel - 2 * MARGIN < 1:
        raise ValueError(f"frames of {w}x{h} leave nothing to compare after the pan and the {MARGIN}-px margins")
    # frame k shows HR pixel (y, x) at (y - 4k, x - 4k): the region every frame holds starts at `travel` in frame 0
    aligned = [f[travel - SCALE * k + MARGIN:h - SCALE * k - MARGIN, travel - SCALE * k + MARGIN:w - SCALE * k - MARGIN]
               for k, f in enumerate(sr_frames)]
    stack = np.stack(aligned).astype(np.float64)
    return float(np.sqrt(np.mean(stack.var(axis=0))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", default=[str(Path(__file__).parents[1] / "srgan" / "samples")])
    parser.add_argument("--models", nargs="+", default=["srresnet", "srgan"])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--quality", type=int, nargs="+", default=[0, 90, 75],
                        help="JPEG quality of each frame; 0: lossless frames")
    args = parser.parse_args()
    if args.frames < 2:  # --frames 0 was an IndexError
        parser.error("--frames must be at least 2: flicker is change from frame to frame")
    if not all(0 <= q <= 100 for q in args.quality):  # 101 was labelled "JPEG q=101"
        parser.error(f"--quality is 0 (lossless) or a JPEG quality 1-100, got {args.quality}")
    try:
        photos = find_images(args.photos)
        models = {"bicubic": BicubicUpscaler(SCALE), **{name: resolve_model(name) for name in args.models}}
    except (ImageError, ValueError) as exc:  # a missing path or --models value (a CheckpointError) was a traceback
        parser.error(str(exc))
    totals: dict[tuple[int, str], list[float]] = {}
    print("flicker: RMS of each pixel's std across frames, 8-bit levels (lower = steadier)")
    for path in photos:
        hr = read_rgb_uint8(path)
        for quality in args.quality:
            try:
                clip = panning_clip(hr, args.frames, quality)
            except ValueError as exc:  # one small photo ended the whole run
                print(f"{path.name}: {exc}; skipped")
                break
            cells = []
            for name, model in models.items():
                value = flicker([super_resolve(model, lr, "cpu") for lr in clip])
                totals.setdefault((quality, name), []).append(value)
                cells.append(f"{name} {value:.2f}")
            kind = "lossless" if quality == 0 else f"JPEG q={quality}"
            print(f"{path.name} ({kind}) | " + " | ".join(cells), flush=True)
    for quality in args.quality:
        if (quality, "bicubic") not in totals:
            break
        kind = "lossless" if quality == 0 else f"JPEG q={quality}"
        base = np.mean(totals[(quality, "bicubic")])
        cells = [f"{name} {np.mean(totals[(quality, name)]):.2f}"
                 + (f" ({np.mean(totals[(quality, name)]) / base:.2f}x bicubic)" if base > 0 and name != "bicubic"
                    else "") for name in models]
        print(f"mean ({kind}) | " + " | ".join(cells))


if __name__ == "__main__":
    main()
