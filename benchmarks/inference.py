"""Inference speed: eager fp32 NCHW Generator vs the fast path, 128x128 -> 512x512, in one run.

    python benchmarks/inference.py                 # x4, 16 blocks, 15 runs each, interleaved
    python benchmarks/inference.py --runs 30 --threads 2 --compile

Both networks get the same random weights (speed does not depend on them). Runs alternate between the two so
that load from other processes hits both alike; the median (and min) of each is printed with the ratio, then
a per-stage breakdown of both, the HR tail included. "fast" is what ``srgan upscale`` runs: FastGenerator
(BN folded, in-place leaky_relu for the single-slope PReLUs, polyphase 5x5 tail instead of the HR 9x9 conv,
sigmoid(2x) for (tanh+1)/2), channels_last, in the precision ``--precision`` resolves to on this machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.device import cpu_has_fast_bf16, resolve_device, resolve_precision  # noqa: E402
from srgan.inference import FastGenerator  # noqa: E402
from srgan.models import Generator  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return (time.perf_counter() - start) * 1000, out


def stage_times(stages, x, device, runs):
    """Median ms of each (name, fn) stage, feeding each stage's output to the next."""
    result = []
    samples = {name: [] for name, _ in stages}
    for _ in range(runs):
        h = x
        for name, fn in stages:
            ms, h = timed(lambda: fn(h), device)
            samples[name].append(ms)
    for name, _ in stages:
        result.append((name, statistics.median(samples[name])))
    return result


def eager_stages(g):
    up = list(g.upsample)
    stages = [("head", g.head), ("body + body_tail + skip", lambda f: f + g.body_tail(g.body(f)))]
    for i, u in enumerate(up):
        tag = "LR" if i == 0 else f"x{2 ** i}"
        stages += [(f"up{i} conv 3x3 64->256 ({tag})", u.conv), (f"up{i} PixelShuffle", u.shuffle),
                   (f"up{i} PReLU", u.prelu)]
    stages += [(f"tail conv 9x9 64->3 (x{g.scale}, HR)", g.tail), ("tanh, (x+1)/2", lambda y: (torch.tanh(y) + 1) / 2)]
    return stages


def fast_stages(fg):
    stages = [("features (head, body, skip)", fg.features)]
    last = len(fg.up_slopes) - 1
    for i, slope in enumerate(fg.up_slopes):
        tag = "LR" if i == 0 else f"x{2 ** i}"
        stages.append((f"up{i} conv 3x3 64->256 ({tag})",
                       lambda f, i=i: F.conv2d(f, fg.up_w[i], fg.up_b[i], padding=1)))
        if i < last:
            stages.append((f"up{i} PixelShuffle + leaky_relu_", lambda f, s=slope: F.leaky_relu_(F.pixel_shuffle(f, 2), s)))
        else:
            stages.append((f"up{i} leaky_relu_ (before shuffle)", lambda f, s=slope: F.leaky_relu_(f, s)))
    stages.append(("tail: polyphase conv 5x5 256->16", lambda f: F.conv2d(f, fg.tail_w, fg.tail_b, padding=fg.tail_pad)))

    def finish(y):
        n, _, h, w = y.shape
        y = torch.sigmoid(y[:, : fg.tail_out].float())
        return y.reshape(n, fg.tail_out // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, -1, 2 * h, 2 * w)

    stages.append(("sigmoid + PixelShuffle (3ch, HR)", finish))
    return stages


def print_breakdown(title, rows):
    total = sum(ms for _, ms in rows)
    print(f"\n{title} (sum of stage medians {total:.1f} ms)")
    for name, ms in rows:
        print(f"  {name:<40} {ms:8.1f} ms  {100 * ms / total:5.1f}%")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="LR input side (default 128 -> 512 output)")
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(FastGenerator) (slow to build)")
    parser.add_argument("--no-breakdown", action="store_true")
    args = parser.parse_args(argv)
    # before the model is built and timed: each was a traceback (--runs 0 the median of nothing, at the end)
    for name in ("size", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:  # 0 was taken as torch's choice, -1 a traceback
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        dtype = resolve_precision(args.precision, device)
        torch.manual_seed(0)
        g = Generator(num_blocks=args.blocks).eval().to(device)
    except ValueError as exc:  # a bad --device or --precision, or --blocks outside 1..256
        parser.error(str(exc))
    fg = FastGenerator(g).to(device=device, dtype=dtype, memory_format=torch.channels_last)
    x = torch.rand(1, 3, args.size, args.size, device=device)
    xf = x.to(dtype).contiguous(memory_format=torch.channels_last)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, native cpu bf16: {cpu_has_fast_bf16()}")
    print(f"Generator(x4, {args.blocks} blocks), input {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}; "
          f"fast path: FastGenerator, channels_last, {str(dtype).replace('torch.', '')}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    contenders = {"eager fp32 NCHW": lambda: g(x), "fast": lambda: fg(xf)}
    if args.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        start = time.perf_counter()
        cfg = torch.compile(fg)
        with torch.inference_mode():
            cfg(xf)
        print(f"torch.compile(FastGenerator, freezing) built in {time.perf_counter() - start:.0f} s")
        contenders["fast + torch.compile"] = lambda: cfg(xf)
    samples = {name: [] for name in contenders}
    with torch.inference_mode():
        ref = g(x)
        err = (fg(xf).float() - ref).abs().max().item()
        for _ in range(args.warmup):
            for fn in contenders.values():
                fn()
        for _ in range(args.runs):
            for name, fn in contenders.items():
                samples[name].append(timed(fn, device)[0])
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"\n{'':<22} {'median':>10} {'min':>10}   ({args.runs} runs each, interleaved)")
    for name, v in samples.items():
        print(f"{name:<22} {med[name]:8.1f} ms {min(v):8.1f} ms")
    base = med["eager fp32 NCHW"]
    for name in contenders:
        if name != "eager fp32 NCHW":
            print(f"speed-up {name} vs eager fp32 NCHW: {base / med[name]:.2f}x (median), "
                  f"{min(samples['eager fp32 NCHW']) / min(samples[name]):.2f}x (min)")
    print(f"max |fast - eager| = {err:.2e}")
    if not args.no_breakdown:
        runs = max(3, args.runs // 3)
        with torch.inference_mode():
            print_breakdown("eager fp32 NCHW, per stage", stage_times(eager_stages(g), x, device, runs))
            print_breakdown("fast path, per stage", stage_times(fast_stages(fg), xf, device, runs))
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (other processes share these cores)")


if __name__ == "__main__":
    main()
