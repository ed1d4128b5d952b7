"""Exact tiled inference: the tiled output equals the untiled one up to float rounding.

A fully convolutional network's output pixel depends only on input pixels within its receptive-field radius
R (see :mod:`srgan.inference` for how R is computed from the architecture). Each tile is therefore an LR
*core* plus R pixels of context on every side that is not the image border; only the core's HR output is
kept. At the real border the tile sees the same zero padding the whole image would, so nothing differs.

Windows have one fixed size per image (a window near the border is shifted inwards rather than cut), so
tiles stack into batches. For :class:`~srgan.inference.FastGenerator` tiling is two-stage: the LR features
(radius 37 for 16 blocks) on large tiles, then the memory-hungry upsampling/HR tail (radius 3) on small
sub-tiles of those features. Output goes straight into a preallocated array (uint8, uint16, float32 or a
tensor) through a sink.
"""
from __future__ import annotations

import math
import operator
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from .device import precision_name
from .inference import GLOBAL_LAYERS, FastGenerator, measured_radius, receptive_radius, walk_may_miss

# Working memory per LR pixel of a window, fp32, measured with the x4 16-block generator (bytes):
# the features stage holds ~4 maps of 64 channels; the upsampling stage peaks at the second upsample conv's
# output (256 channels at 2x resolution) plus its input.
FEATURES_BYTES_PER_PX = 1200
RECONSTRUCT_BYTES_PER_PX = 6500
GENERIC_BYTES_PER_PX = 7500
MAX_INNER_TILE = 256


def windows(lo: int, hi: int, core_lo: int, core_hi: int, tile: int, margin: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Split ``[core_lo, core_hi)`` into cores of at most ``tile`` with fixed-length windows inside ``[lo, hi)``.

    Returns ``(window_length, [(core_start, core_end, window_start), ...])``. Every core has ``margin`` pixels
    of window on each side, except where the window meets ``lo``/``hi``.
    """
    span = core_hi - core_lo
    if tile <= 0 or tile >= span:
        n = 1
    else:
        n = math.ceil(span / tile)
    length = min(hi - lo, (math.ceil(span / n)) + 2 * margin)
    cuts = [core_lo + (span * i) // n for i in range(n + 1)]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        start = min(max(a - margin, lo), hi - length)
        out.append((a, b, start))
    return length, out


def available_memory(device: torch.device) -> int:
    """Bytes free for tiles: CUDA free memory; else MemAvailable from /proc/meminfo (or sysconf), and no more than
    is left under the process's cgroup limit (a container's 2 GiB on a 64 GiB host: /proc/meminfo tells the host's
    memory, and tiles sized by it got the process killed)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    free = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if free is None:
        try:
            free = int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            free = 2 << 30
    room = cgroup_room()
    return free if room is None else min(free, room)


def cgroup_room(root: str = "/sys/fs/cgroup", membership: str = "/proc/self/cgroup") -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``),
    or None without one. The process's own cgroup is read, else the mount's root (a container's namespace)."""
    try:
        lines = Path(membership).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            names, folder = ("memory.max", "memory.current"), Path(root)
        elif "memory" in controllers.split(","):  # v1
            names, folder = ("memory.limit_in_bytes", "memory.usage_in_bytes"), Path(root) / "memory"
        else:
            continue
        for where in (folder / path.lstrip("/"), folder):
            try:
                limit, usage = ((where / name).read_text().strip() for name in names)
            except OSError:
                continue
            if limit.isdigit() and usage.isdigit() and int(limit) < 1 << 60:  # "max" or v1's 2^63: no limit
                return max(0, int(limit) - int(usage))
            break
    return None


def memory_budget(device: torch.device) -> int:
    """How much working memory tiles may use: half of what is free, at most 1.5 GiB on CPU (keeps the
    RSS of a 16000x12000 upscale under 4 GiB with the output image) or 8 GiB on a GPU."""
    cap = (8 << 30) if device.type == "cuda" else (3 << 29)
    return max(64 << 20, min(available_memory(device) // 2, cap))


def _callers_level() -> int:
    """``stacklevel`` for a warning at the first caller outside srgan: the user's line, however deep srgan's
    calls go."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep  # not srgan_tools/ beside it
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


class Engine:
    """A model prepared for inference on a device/dtype, with what tiling needs to know about it."""

    #: Whether a tiny image is edge-padded before it runs (srgan.upscaling.MIN_SIDE): networks that zero-pad need
    #: it; MATLAB bicubic handles its borders itself.
    pad_tiny = True
    #: What runs the network, and whether its convolutions are int8 (then ``dtype`` is the rest's precision).
    backend, int8 = "torch", False

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype, channels_last: bool = True):
        self.model, self.device, self.dtype = model, device, dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.split = isinstance(model, FastGenerator)
        if self.split:
            self.scale = model.scale
            self.features_radius, self.reconstruct_radius = model.features_radius, model.reconstruct_radius
            self.radius = self.features_radius + self.reconstruct_radius
        elif isinstance(getattr(model, "radius", None), int):  # opaque nets that know it (QuantGenerator)
            self.scale, self.radius = model.scale, model.radius + 1  # +1: as below
        else:
            radius, scale = receptive_radius(model)
            self.scale = int(getattr(model, "scale", 0) or round(scale))
            # +1: rounding of positions through the up-sampling layers (exact for the srgan Generator).
            self.radius = self._user_radius(model, device, dtype, math.ceil(radius)) + 1

    def _user_radius(self, model: nn.Module, device: torch.device, dtype: torch.dtype, walked: int) -> int:
        """``walked``, or for a user's module that the walk may miss part of (:func:`walk_may_miss`), its measured
        radius (:func:`measured_radius`); a warning where no tile can be exact or the radius is unknown."""
        plain = getattr(model, "_orig_mod", model)  # torch.compile'd: the module, not a recompile
        if type(plain).__module__.startswith("srgan."):  # srgan's networks and its peers' are walked exactly
            return walked
        name = type(plain).__name__
        pooled = next((type(m).__name__ for m in plain.modules() if isinstance(m, GLOBAL_LAYERS)), None)
        if pooled:
            warnings.warn(f"{name}: its {pooled} makes each output pixel depend on the whole input, so tiled output "
                          "differs from untiled at the seams; pass tile=0 for the exact output",
                          stacklevel=_callers_level())
            return walked
        if not walk_may_miss(plain):
            return walked
        measured = measured_radius(plain, self.scale, device, dtype, at_least=walked)
        if measured is None:
            warnings.warn(f"{name}: its receptive radius could not be measured (it reaches past 128 px, pools the "
                          "whole image, or its forward runs without gradients), so tiles may differ from the untiled "
                          "output at the seams; pass tile=0, or give the module a 'radius' attribute (LR pixels)",
                          stacklevel=_callers_level())
            return walked
        return measured

    @property
    def precision(self) -> str:
        """"int8", or the name of ``dtype``: what the engine runs in, for titles and errors."""
        return "int8" if self.int8 else precision_name(self.dtype)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=self.memory_format)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(self._prep(x))

    def reconstruct(self, f: torch.Tensor) -> torch.Tensor:
        return self.model.reconstruct(f.contiguous(memory_format=self.memory_format)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._prep(x)).float()


def _bytes_scale(engine: Engine) -> float:
    """The engine's bytes per value against fp32's, which the per-pixel figures are: bicubic's float64 takes twice
    (tiles and batches were sized for half)."""
    return torch.finfo(engine.dtype).bits / 32


def choose_tiles(engine: Engine, tile: int | str | None, budget: int | None = None) -> tuple[int, int]:
    """(outer tile, inner tile) in LR pixels for ``tile`` = 'auto' | int (0 = untiled)."""
    if tile in (0, "0", None):
        return 0, 0
    budget = budget or memory_budget(engine.device)
    scale_bytes = _bytes_scale(engine)
    if engine.split:
        inner_px = budget / 3 / (RECONSTRUCT_BYTES_PER_PX * scale_bytes)
        inner = max(16, min(MAX_INNER_TILE, int(math.sqrt(inner_px)) - 2 * engine.reconstruct_radius))
        outer_px = budget * 2 / 3 / (FEATURES_BYTES_PER_PX * scale_bytes)
    else:
        inner = 0
        outer_px = budget / (GENERIC_BYTES_PER_PX * scale_bytes)
    if tile == "auto":
        outer = max(32, int(math.sqrt(outer_px)) - 2 * engine.radius)
    else:
        outer = _whole(tile)
        if outer is None or outer < 1:  # 'big', 7.9 or True are no tile sizes
            raise ValueError(f"tile must be a positive number of LR pixels, 0 or 'auto', got {tile!r}")
    return outer, (min(inner, outer) if inner else 0)


def _whole(value) -> int | None:
    """``value`` as a whole number (an int of any kind, or a string of digits as the CLI passes it), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return int(value) if value.strip().lstrip("-").isdigit() else None
    try:
        return operator.index(value)  # int, numpy integers; not 7.9
    except TypeError:
        return None


def _batch_size(window_px: int, bytes_per_px: float, budget: int, count: int) -> int:
    return max(1, min(count, int(budget // max(1.0, window_px * bytes_per_px))))


Sink = Callable[[int, int, torch.Tensor], None]  # (hr_y, hr_x, float CHW tensor) -> None


def run_tiled(engine: Engine, image: torch.Tensor, sink: Sink, tile: int | str = "auto",
              budget: int | None = None, progress: Callable[[int], None] | None = None,
              rows_done: Callable[[int], None] | None = None) -> None:
    """Upscale ``image`` (3,H,W float on CPU or the device) and hand every HR piece to ``sink``.

    ``tile`` = 0 runs the whole image at once; an int is the LR core size of the (outer) tiles; 'auto' picks it
    from :func:`memory_budget`. ``progress(n)`` is called with the number of LR pixels finished;
    ``rows_done(y)`` whenever HR rows ``[0, y)`` are all in the sink (tiles run row by row), so that they can be
    encoded while the rest is computed. The engine runs in its own precision: a caller's ``torch.autocast`` (a
    validation inside a mixed-precision training loop) ran an fp32 engine in bf16.
    """
    with torch.inference_mode(), torch.autocast(engine.device.type, enabled=False):
        _run_tiled(engine, image, sink, tile, budget, progress, rows_done)


def _run_tiled(engine, image, sink, tile, budget, progress, rows_done) -> None:
    _, height, width = image.shape
    budget = budget or memory_budget(engine.device)
    outer, inner = choose_tiles(engine, tile, budget)
    s = engine.scale
    margin = engine.radius
    wh, rows = windows(0, height, 0, height, outer, margin)
    ww, cols = windows(0, width, 0, width, outer, margin)
    jobs = [(r, c) for r in rows for c in cols]
    per_px = (FEATURES_BYTES_PER_PX if engine.split else GENERIC_BYTES_PER_PX) * _bytes_scale(engine)
    batch = 1 if outer == 0 else _batch_size(wh * ww, per_px, budget, len(jobs))

    def finished(k: int, r: tuple[int, int, int], c: tuple[int, int, int]) -> None:
        if progress:
            progress((r[1] - r[0]) * (c[1] - c[0]))
        if rows_done and (k + 1) % len(cols) == 0:  # the last tile of a row of tiles
            rows_done(r[1] * s)

    for i in range(0, len(jobs), batch):
        group = jobs[i:i + batch]
        x = torch.stack([image[:, r[2]:r[2] + wh, c[2]:c[2] + ww] for r, c in group])
        if not engine.split:
            y = engine.forward(x)
            _check_output(y, x, s)
            for k, (r, c) in enumerate(group):
                sink(r[0] * s, c[0] * s, y[k, :, (r[0] - r[2]) * s:(r[1] - r[2]) * s, (c[0] - c[2]) * s:(c[1] - c[2]) * s])
                finished(i + k, r, c)
            continue
        feats = engine.features(x)
        del x
        for k, (r, c) in enumerate(group):
            _reconstruct_window(engine, feats[k], r, c, inner, budget, sink)
            finished(i + k, r, c)
        del feats


def _check_output(y: torch.Tensor, x: torch.Tensor, scale: int) -> None:
    """A model whose output is not 3 x (scale * its input) would leave parts of the preallocated result unset."""
    n, _, h, w = x.shape
    if tuple(y.shape) != (n, 3, h * scale, w * scale):
        c, oh, ow = y.shape[1:]
        raise ValueError(f"the model's output is {c}x{oh}x{ow} for input 3x{h}x{w}; its scale, {scale}, means "
                         f"3x{h * scale}x{w * scale} (RGB)")


def _reconstruct_window(engine: Engine, feats: torch.Tensor, r: tuple[int, int, int], c: tuple[int, int, int],
                        inner: int, budget: int, sink: Sink) -> None:
    """Run the upsampling half on the exact part of one window's features, in sub-tiles, and emit its core."""
    s, m = engine.scale, engine.reconstruct_radius
    _, fh, fw = feats.shape
    # Core in window coordinates; the sub-tile windows stay inside core +- m (all exact features).
    cy0, cy1, cx0, cx1 = r[0] - r[2], r[1] - r[2], c[0] - c[2], c[1] - c[2]
    ly0, ly1, lx0, lx1 = max(0, cy0 - m), min(fh, cy1 + m), max(0, cx0 - m), min(fw, cx1 + m)
    sh, srows = windows(ly0, ly1, cy0, cy1, inner, m)
    sw, scols = windows(lx0, lx1, cx0, cx1, inner, m)
    jobs = [(a, b) for a in srows for b in scols]
    batch = 1 if inner == 0 else _batch_size(sh * sw, RECONSTRUCT_BYTES_PER_PX * _bytes_scale(engine), budget / 3,
                                             len(jobs))
    for i in range(0, len(jobs), batch):
        group = jobs[i:i + batch]
        f = torch.stack([feats[:, a[2]:a[2] + sh, b[2]:b[2] + sw] for a, b in group])
        y = engine.reconstruct(f)
        _check_output(y, f, s)
        del f
        for k, (a, b) in enumerate(group):
            sink((r[2] + a[0]) * s, (c[2] + b[0]) * s,
                 y[k, :, (a[0] - a[2]) * s:(a[1] - a[2]) * s, (b[0] - b[2]) * s:(b[1] - b[2]) * s])
        del y


def iter_alpha_tiles(alpha: torch.Tensor, scale: int, tile: int, margin: int = 4
                     ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """MATLAB-bicubic upscaling of a (H, W) plane, tiled like the image: yields (hr_y, hr_x, HR core).

    Bicubic x``scale`` reads input pixels within 3 of each output's source position, so a 4-pixel margin makes
    every core exact (mirrored borders only where the tile meets the image border, as for the whole plane).
    """
    from .imresize import imresize

    height, width = alpha.shape
    wh, rows = windows(0, height, 0, height, tile, margin)
    ww, cols = windows(0, width, 0, width, tile, margin)
    for r in rows:
        for c in cols:
            win = alpha[r[2]:r[2] + wh, c[2]:c[2] + ww][None, None]
            up = imresize(win, scale=scale)[0, 0]
            yield r[0] * scale, c[0] * scale, up[(r[0] - r[2]) * scale:(r[1] - r[2]) * scale,
                                               (c[0] - c[2]) * scale:(c[1] - c[2]) * scale]
