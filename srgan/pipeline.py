"""Whole-folder speed for ``srgan upscale``: decoding, the model and encoding overlapped; small images batched.

* A reader thread decodes the next files and writer threads encode and write finished outputs while the main
  thread runs the model. Pillow's decoders, zlib and fsync release the GIL, so they run beside torch; several
  writers because each output is fsync'ed (atomic writes), which waits on the disk rather than the CPU.
* Small images (at most :data:`SMALL_PIXELS` LR pixels, 8-bit, no alpha) next to others of the same size are
  stacked into batches of up to :data:`BATCH_PIXELS` LR pixels and run untiled (exact) on one thread: on an 8x8
  input a conv layer is thread wake-ups, not arithmetic (2 busy cores, bf16: one 8x8 image 6.9 ms on 1 thread
  vs 12.2 ms on 2; a batch of 64 33 ms vs 74 ms). An explicit ``--tile`` turns batching off.
* Memory stays bounded: at most :data:`AHEAD` decoded groups wait for the model, and outputs waiting for a
  writer are capped at :data:`PENDING_OUTPUT_BYTES` (one large image always goes through).

Outcomes come back in input order, one per file, as ``(src, dest, error line or None)``.
"""
from __future__ import annotations

import functools
import os
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from queue import Queue
from threading import Condition, Event, Thread
from typing import Callable, Iterator

import numpy as np
import torch

from .device import out_of_memory
from .images import Image, ImageError, read_image
from .imagewrite import remove_partial
from .tiling import Engine

SMALL_PIXELS = 64 * 64
#: LR pixels in one batch: the x4 tail holds ~6.5 kB per LR pixel in fp32, so ~110 MB at most.
BATCH_PIXELS = 16384
AHEAD = 2
WRITERS = 4
PENDING_OUTPUT_BYTES = 1 << 30

Pair = tuple[Path, Path]
Outcome = tuple[Path, Path, "str | None"]


@contextmanager
def one_thread():
    """torch on one thread inside the block (the setting is process-wide; the reader and writers do not use torch)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _batchable(img: Image) -> bool:
    """Small 8-bit images without alpha run in batches, straight through the engine; a side under MIN_SIDE needs
    upscale_planes' edge padding (batched, a 1x1 mid-grey image came out 85)."""
    from .upscaling import MIN_SIDE

    h, w = img.rgb.shape[:2]
    return img.bit_depth == 8 and img.alpha is None and h * w <= SMALL_PIXELS and min(h, w) >= MIN_SIDE


def _groups(pairs: list[Pair], max_pixels: int | None, batch: bool) -> Iterator[list]:
    """Decode in order; yield [(src, dest, Image | error line)] groups: a run of same-size small images or one file."""
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    group: list = []
    for src, dest in pairs:
        try:
            img = read_image(src, **kwargs)
        except ImageError as exc:
            img = str(exc)
        except MemoryError:
            img = f"{src}: out of memory while decoding"
        small = batch and not isinstance(img, str) and _batchable(img)
        if group and (not small or img.rgb.shape != group[0][2].rgb.shape
                      or (len(group) + 1) * img.rgb.shape[0] * img.rgb.shape[1] > BATCH_PIXELS):
            yield group
            group = []
        if small:
            group.append((src, dest, img))
        else:
            yield [(src, dest, img)]
    if group:
        yield group


def _prefetch(groups: Iterator[list]) -> Iterator[list]:
    """The groups, decoded by a background thread up to AHEAD groups ahead of the caller."""
    queue: Queue = Queue(maxsize=AHEAD)
    done = object()

    def fill():
        try:
            for group in groups:
                queue.put(group)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(exc)
        queue.put(done)

    reader = Thread(target=fill, daemon=True, name="srgan-read")
    reader.start()
    while (item := queue.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    reader.join()


def upscale_files(engine: Engine, pairs: list[Pair], write: Callable, *, tile, max_pixels: int | None,
                  progress: Callable[[int, Path, int, int], object]) -> Iterator[Outcome]:
    """Upscale every pair; ``write(img, y, alpha, dest, rows_ready=None)`` encodes one output (on a writer thread).

    For a single 8-bit colour image without alpha, ``write`` is called before ``y`` is computed, with
    ``rows_ready`` (see :func:`srgan.imagewrite.write_image`), so encoding overlaps the model's later tiles.

    ``progress(index, src, width, height)`` gives the context manager (a per-tile progress callback or None)
    for an image run through tiling; batched small images report nothing per tile.
    """
    from .upscaling import LARGE_OUTPUT_PIXELS, _to_uint8_torch, upscale_planes

    index = 0
    pending = _Pending()
    writers = _Writers(WRITERS)
    streaming: RowsReady | None = None  # the output being written while the model still computes it
    y = job = None

    def submit(src, dest, img, y, a):
        pending.add(src, dest, writers.submit(write, img, y, a, dest), y.nbytes)

    try:
        # An explicit --tile is honoured file by file (with its progress bar); batches run untiled.
        batch = tile in ("auto", 0)
        for group in _prefetch(_groups(pairs, max_pixels, batch)):
            index += len(group)
            src, dest, img = group[0]
            if isinstance(img, str):  # could not be decoded
                pending.add(src, dest, img)
            elif not (batch and _batchable(img)):
                height, width = img.rgb.shape[:2]
                out = output_dtype(img, engine.scale, LARGE_OUTPUT_PIXELS)
                try:
                    # 8-bit colour without alpha: the write starts now and encodes rows as the tiles finish them.
                    # (In the try: an output too large for memory costs that file only; it stopped the folder.)
                    if out == "uint8" and img.alpha is None:
                        s = engine.scale
                        y = np.empty((height * s, width * s, 3), np.uint8)
                        streaming = RowsReady()
                        job = writers.submit(functools.partial(write, rows_ready=streaming.wait), img, y, None, dest)
                    with progress(index, src, width, height) as bar:
                        y, a = upscale_planes(engine, torch.from_numpy(img.rgb).permute(2, 0, 1),
                                              None if img.alpha is None else torch.from_numpy(img.alpha),
                                              tile=tile, out=out, progress=bar, result=y if streaming else None,
                                              rows_done=streaming.advance if streaming else None)
                except Exception as exc:
                    if not out_of_memory(exc):
                        raise
                    if streaming:
                        streaming.fail()
                    size = f"{width * engine.scale}x{height * engine.scale}"
                    pending.add(src, dest, f"{src}: out of memory (a {size} output; a smaller --tile lowers only "
                                           "the model's share of it)")
                else:
                    img.rgb = None  # the float input is not needed while the output is encoded
                    if streaming:
                        streaming.advance(y.shape[0])
                        pending.add(src, dest, job, y.nbytes)
                    else:
                        submit(src, dest, img, y, a)
                streaming = None
            else:
                x = torch.from_numpy(np.stack([img.rgb for _s, _d, img in group])).permute(0, 3, 1, 2)
                with one_thread(), torch.inference_mode():
                    y = engine.forward(x) if not engine.split else engine.reconstruct(engine.features(x))
                for (src, dest, img), yi in zip(group, y):
                    yi = yi.permute(1, 2, 0).contiguous()
                    yi = yi.numpy() if img.grayscale else _to_uint8_torch(yi).numpy()
                    submit(src, dest, img, yi, None)
            yield from pending.finished(wait=False)
        yield from pending.finished(wait=True)
    except BaseException:  # Ctrl-C, SIGTERM, an error: no half-written file stays behind
        if streaming:
            streaming.fail()
            remove_partial(dest)
        writers.stop()
        for _src, dest, job, _size in pending.items:
            if isinstance(job, Future):
                remove_partial(dest)
        raise
    # Idle threads still alive at interpreter exit can abort it; after an interruption they are left alone.
    writers.stop(join=True)


class _Writers:
    """Writer threads. Daemon threads, unlike ThreadPoolExecutor's: an interrupted run exits at once rather
    than after the encodes in flight, whose temporary files the caller removes."""

    def __init__(self, count: int):
        self.jobs: Queue = Queue()
        self.stopped = Event()
        self.threads = [Thread(target=self._work, daemon=True, name="srgan-write") for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        self.jobs.put((future, fn, args))
        return future

    def stop(self, join: bool = False) -> None:
        """Start no more jobs; each thread ends after its current one (``join``: wait for that)."""
        if not self.stopped.is_set():
            self.stopped.set()
            for _ in self.threads:
                self.jobs.put(None)
        if join:
            for thread in self.threads:
                thread.join()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None and not self.stopped.is_set():
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)


class _Pending:
    """Files in input order with their error line or write job, and the bytes of the outputs not yet written."""

    def __init__(self):
        self.items: deque[tuple[Path, Path, Future | str, int]] = deque()
        self.bytes = 0

    def add(self, src: Path, dest: Path, job: Future | str, size: int = 0) -> None:
        self.items.append((src, dest, job, size))
        self.bytes += size

    def finished(self, wait: bool) -> Iterator[Outcome]:
        """Outcomes at the head that are ready; with ``wait`` all, else as many as keep memory under the cap.

        An item leaves the list only once its write is over, so an interrupted caller still sees it.
        """
        while self.items:
            src, dest, job, size = self.items[0]
            if isinstance(job, Future) and not job.done() and not wait and self.bytes <= PENDING_OUTPUT_BYTES:
                return
            problem = job if isinstance(job, str) else _problem(src, job)
            self.items.popleft()
            self.bytes -= size
            yield src, dest, problem


def _problem(src: Path, job: Future) -> str | None:
    """Waits for a write: None when it succeeded, else the line that says why not."""
    try:
        job.result()
    except ImageError as exc:
        return str(exc)
    except MemoryError:
        return f"{src}: out of memory while writing"
    return None


def output_dtype(img: Image, scale: int, large_output_pixels: int) -> str:
    """How :func:`upscale_planes` assembles the output of a decoded file: float32 for grayscale (8- or 16-bit) up
    to ``large_output_pixels``, so that its luma is taken before the one rounding
    (:func:`~srgan.upscaling.gray_output_dtype`; 16-bit grayscale was rounded twice, 16% of pixels 1 level off
    the API's: benchmarks/rounding_paths.py); else uint16 for 16-bit sources, uint8 for 8-bit (the bytes the
    float path would give, without a float32 copy)."""
    from .upscaling import gray_output_dtype

    integer = "uint16" if img.bit_depth == 16 else "uint8"
    return gray_output_dtype(*img.rgb.shape[:2], scale, large_output_pixels, integer) if img.grayscale else integer


def write_output(img: Image, y: np.ndarray, a: np.ndarray | None, dest: str | os.PathLike, *, scale: int,
                 outscale: float | None = None, overwrite: bool = False, png_level: int = 6,
                 rows_ready: Callable[[int], None] | None = None) -> Path:
    """Write the x``scale`` model output ``y`` (alpha ``a``) of the decoded file ``img``, resized to ``outscale``.

    ``rows_ready``: ``y`` is still being filled; see :func:`srgan.imagewrite.write_image`."""
    from .imagewrite import write_image
    from .upscaling import resize_planes

    if outscale is not None and outscale != scale:
        if rows_ready is not None:
            rows_ready(y.shape[0])  # resizing needs every row
            rows_ready = None
        h, w = y.shape[0] // scale, y.shape[1] // scale
        size = max(1, round(w * outscale)), max(1, round(h * outscale))
        y = resize_planes(y, *size)
        a = None if a is None else resize_planes(a, *size)
        if y.dtype == np.float32:  # Lanczos overshoots; the float writer expects [0, 1]
            y = np.clip(y, 0, 1)
            a = None if a is None else np.clip(a, 0, 1)
    # Integer outputs stay integer all the way to the encoder (write_image converts them in row blocks).
    return write_image(dest, y, alpha=a, bit_depth=img.bit_depth, grayscale=img.grayscale,
                       icc_profile=img.icc_profile, overwrite=overwrite, png_level=png_level, rows_ready=rows_ready)


class Abandoned(Exception):
    """The image a streaming write was waiting for will not be finished (the model failed or was interrupted)."""


class RowsReady:
    """How many rows of an output being computed are final: the model thread advances it, a writer waits on it."""

    def __init__(self):
        self.rows, self.failed = 0, False
        self.changed = Condition()

    def advance(self, rows: int) -> None:
        with self.changed:
            self.rows = max(self.rows, rows)
            self.changed.notify_all()

    def fail(self) -> None:
        with self.changed:
            self.failed = True
            self.changed.notify_all()

    def wait(self, rows: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.rows >= rows or self.failed)
            if self.failed:
                raise Abandoned("the image was not finished")
