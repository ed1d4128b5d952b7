"""Train-step speed: fp32 eager NCHW vs the fast path, for the SRResNet (mse) and SRGAN (gan, VGG54) steps.

    python benchmarks/train_step.py                       # batch 16, 96 px, full-size models
    python benchmarks/train_step.py --compile             # fast path with torch.compile too
    python benchmarks/train_step.py --track 300           # loss curves: fast path vs fp32 NCHW (tiny model)
    python benchmarks/train_step.py --track 40 --bf16     # ... and bf16 autocast vs fp32

The fast path is what ``precision=auto`` + ``channels_last=true`` pick on this machine: bf16 autocast on
CUDA and AMX/AVX512-BF16 CPUs, fp32 elsewhere. The VGG54 content loss uses stand-in random weights saved
in torchvision's layout (no download); speed does not depend on the values. Random LR/HR tensors stand in
for data, so this times the step alone (the data pipeline is timed separately).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from srgan.config import ConfigError, TrainConfig
from srgan.device import resolve_device, resolve_precision
from srgan.trainer import Trainer
from srgan.vgg import build_vgg19_features


def stand_in_vgg(folder: Path) -> Path:
    """Random VGG19 weights with torchvision's keys, as ``vgg19-dcbb9e9d.pth`` would have them."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in build_vgg19_features().state_dict().items()}
    path = folder / "vgg19-standin.pth"
    torch.save(state, path)
    return path


def make_trainer(phase: str, vgg: Path, fast: bool, args, **extra) -> Trainer:
    config = TrainConfig(phase=phase, content_loss="vgg54" if phase == "gan" else "mse", vgg_weights=str(vgg),
                         init_from="(benchmark)", batch_size=args.batch, crop_size=args.crop, scale=args.scale,
                         num_blocks=args.blocks, channels=args.channels, device=args.device,
                         precision="auto" if fast else "fp32", channels_last=fast,
                         compile=fast and args.compile, **extra).validate()
    return Trainer(config, resolve_device(args.device))


def batches(n: int, args, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        hr = torch.rand(args.batch, 3, args.crop, args.crop, generator=g)
        yield torch.nn.functional.avg_pool2d(hr, args.scale), hr  # a cheap LR; timing does not care


def time_steps(trainer: Trainer, args) -> float:
    times = []
    for i, (lr, hr) in enumerate(batches(args.warmup + args.steps, args)):
        start = time.perf_counter()
        trainer.train_step(lr, hr)
        if trainer.device.type == "cuda":  # CUDA-only
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(args, vgg: Path) -> None:
    device = resolve_device(args.device)
    dtype = resolve_precision("auto", device)
    fast_dtype = "fp32 (no autocast)" if dtype == torch.float32 else f"{str(dtype).replace('torch.', '')} autocast"
    print(f"device {device}, {torch.get_num_threads()} threads, batch {args.batch}, {args.crop} px, "
          f"G {args.blocks} blocks x {args.channels} ch; median of {args.steps} steps after {args.warmup} warm-up")
    print(f"fast path = {fast_dtype}, channels_last{', torch.compile' if args.compile else ''}")
    for phase, name in (("mse", "SRResNet step (mse)"), ("gan", "SRGAN step (D + G, VGG54)")):
        slow = time_steps(make_trainer(phase, vgg, False, args), args)
        fast = time_steps(make_trainer(phase, vgg, True, args), args)
        print(f"{name:28s} fp32-eager-NCHW {slow:7.3f} s/step   fast path {fast:7.3f} s/step   "
              f"ratio {slow / fast:5.2f}x")


def track(args, vgg: Path) -> None:
    """Per-step losses of the same batches under two settings, on a tiny model (``--blocks/--channels``)."""
    variants = [("fp32 NCHW", dict(precision="fp32", channels_last=False)),
                ("fp32 channels_last", dict(precision="fp32", channels_last=True))]
    if args.bf16:
        variants.append(("bf16 channels_last", dict(precision="bf16", channels_last=True)))
    for phase in (args.phases or "mse,gan").split(","):
        curves = {}
        for name, knobs in variants:
            config = TrainConfig(phase=phase, content_loss="mse", init_from="(benchmark)", batch_size=args.batch,
                                 crop_size=args.crop, scale=args.scale, num_blocks=args.blocks, channels=args.channels,
                                 device=args.device, steps=args.track, **knobs).validate()
            trainer = Trainer(config, resolve_device(args.device))
            curves[name] = [trainer.train_step(lr, hr)[0]["loss_g"] for lr, hr in batches(args.track, args, 1)]
        ref = curves["fp32 NCHW"]
        print(f"{phase}: loss_g over {args.track} steps, batch {args.batch}, G {args.blocks}x{args.channels}")
        for name, curve in curves.items():
            rel = max(abs(a - b) / abs(b) for a, b in zip(curve, ref))
            marks = ", ".join(f"{curve[i]:.5f}" for i in sorted({0, len(curve) // 4, len(curve) // 2, len(curve) - 1}))
            print(f"  {name:20s} steps 0,1/4,1/2,end: {marks}   max rel. diff vs fp32 NCHW {rel:.2e}")


def check_settings(parser: argparse.ArgumentParser, args) -> None:
    """Refuse what would fail or mean nothing before any step runs: the gan phase refused a small --crop only
    after the mse phase had been timed, --steps 0 was the median of nothing, and --bf16 and --phases were
    ignored without --track."""
    if not args.track and (args.bf16 or args.phases is not None):
        parser.error(f"{'--bf16' if args.bf16 else '--phases'} applies to --track N only")
    for name, least in (("track", 0), ("steps", 1), ("warmup", 0)):
        if getattr(args, name) < least:
            parser.error(f"--{name} must be at least {least}, got {getattr(args, name)}")
    for phase in (args.phases or "mse,gan").split(","):  # the settings every trainer below validates again
        try:
            TrainConfig(phase=phase, init_from="(benchmark)", batch_size=args.batch, crop_size=args.crop,
                        scale=args.scale, num_blocks=args.blocks, channels=args.channels,
                        device=args.device).validate()
        except ConfigError as exc:
            parser.error(f"the {phase} phase: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="add torch.compile to the fast path")
    parser.add_argument("--track", type=int, default=0, metavar="N", help="compare loss curves for N steps instead")
    parser.add_argument("--bf16", action="store_true", help="with --track: also bf16 autocast")
    parser.add_argument("--phases", help="with --track: which phases (default mse,gan)")
    args = parser.parse_args()
    check_settings(parser, args)
    with tempfile.TemporaryDirectory() as tmp:
        vgg = stand_in_vgg(Path(tmp))
        (track if args.track else speed)(args, vgg)


if __name__ == "__main__":
    main()
