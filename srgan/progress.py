"""What ``srgan upscale`` tells the user while it works: a per-tile bar, tile-size advice, a closing line.

The bar (tqdm, with an ETA) is drawn only on a terminal: in a pipe or a log file it would be noise, and
``--quiet`` turns it off. The advice and the closing line are one line each on stderr, so stdout stays empty.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from .tiling import Engine, choose_tiles

#: Warn when a requested tile does this many times the work of ``--tile auto``.
SLOW_TILE_FACTOR = 2.0


def _work(core: int, side: int, radius: int) -> float:
    """Pixels computed per pixel kept along one side: each tile recomputes ``radius`` px of context per side."""
    if core <= 0 or core >= side:
        return 1.0
    return (min(core + 2 * radius, side)) / core


def tile_advice(engine: Engine, height: int, width: int, tile, *, api: bool = False) -> str | None:
    """A warning when ``tile`` makes the run much slower than 'auto', saying what 'auto' picks; else None.
    ``api``: in the Python API's words (``tile=4``) rather than the command line's (``--tile 4``)."""
    if tile in ("auto", 0):
        return None
    auto, _inner = choose_tiles(engine, "auto")
    r = engine.radius

    def work(t: int) -> float:
        return _work(t, height, r) * _work(t, width, r)

    factor = work(int(tile)) / work(auto)
    if factor < SLOW_TILE_FACTOR:
        return None
    given, best = (f"tile={int(tile)}", "tile='auto'") if api else (f"--tile {tile}", "--tile auto")
    return (f"{given} recomputes {r} px of context around every tile: about {factor:.0f}x the work of "
            f"{best}, which picks {auto} px tiles here (tiling is exact at any size)")


@contextmanager
def tile_bar(label: str, pixels: int, enabled: bool):
    """A per-tile progress callback for :func:`srgan.tiling.run_tiled` (LR pixels done), or None when off."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=pixels, desc=label, unit="px", unit_scale=True, leave=False, file=sys.stderr,
              dynamic_ncols=True) as bar:
        yield bar.update


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def closing_line(written: list[tuple[Path, tuple[int, int]]], folder: Path, seconds: float) -> str:
    """``wrote out/a.png (2048x1536) in 3.2 s``, or for several, the count, the folder and the largest size."""
    if len(written) == 1:
        dest, (w, h) = written[0]
        return f"wrote {dest} ({w}x{h}) in {seconds:.1f} s"
    w, h = max((size for _dest, size in written), key=lambda s: s[0] * s[1])
    return f"wrote {len(written)} images to {folder} in {seconds:.1f} s (largest {w}x{h})"

