"""The upscale queue behind the web page: one worker thread runs jobs in arrival order.

One worker, because the models already use every core (or the GPU); two jobs at once would only make both
slower. A job is one uploaded image and the models picked for it; a second upload while one runs waits in
the queue and reports its place. Results are PNG files in a private temporary folder; only the newest
:data:`KEEP_JOBS` jobs are kept so a long session cannot fill the disk.
"""
from __future__ import annotations

import queue
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..images import Image, ImageError
from ..imagewrite import write_image
from ..pipeline import output_dtype, write_output
from ..device import out_of_memory
from ..engines import prepare
from ..upscaling import LARGE_OUTPUT_PIXELS, upscale_planes

KEEP_JOBS = 32
#: A forgotten job's files are removed this many forgotten jobs later, not at once: a download that found the job
#: just before it was forgotten opens its file a moment later (it met a missing file: a 500, or a cut-off body).
#: Once opened, the file outlives its removal.
LINGER_JOBS = 8
#: Jobs waiting or running at most: each holds its decoded image (float32, up to 2.4 GB at --max-pixels) until
#: it runs, so an unbounded queue would let a burst of uploads use up the memory.
MAX_WAITING = 8


class _Closing(Exception):
    """Raised in a job's progress callback once the server is stopping: the job ends at its next tile."""


@dataclass
class Result:
    model: str
    path: Path | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class Job:
    id: str
    name: str
    image: Image | None
    models: list[str]
    input_path: Path
    warning: str | None = None  # about the input, shown beside the job (only an animation's first frame is used)
    status: str = "queued"  # queued | running | done
    progress: float = 0.0
    results: list[Result] = field(default_factory=list)


class JobRunner:
    """Prepared engines for the served models and the queue that runs jobs on them."""

    def __init__(self, models: dict[str, object], device: str = "auto", precision: str = "auto"):
        # Load every model now: a bad weights file fails at startup, not on someone's first upload.
        # bicubic, always offered, runs in float64 whatever --precision says for the networks
        self.engines = {name: prepare(spec, device, "auto" if spec == "bicubic" else precision)
                        for name, spec in models.items()}
        self.workdir = Path(tempfile.mkdtemp(prefix="srgan-serve-"))
        self.jobs: dict[str, Job] = {}
        self._order: list[str] = []  # waiting job ids, oldest first
        self._forgotten: list[Path] = []  # folders of forgotten jobs, removed LINGER_JOBS later
        self._reserved = 0  # places held for uploads being decoded (see reserve)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="srgan-serve-jobs", daemon=True)
        self._worker.start()

    def describe(self, name: str) -> dict:
        engine = self.engines[name]
        return {"name": name, "scale": engine.scale, "device": str(engine.device),
                "precision": engine.precision}

    def reserve(self) -> bool:
        """Hold a place in the queue for an upload about to be decoded; False when all :data:`MAX_WAITING` are
        taken.

        The place is held while the image is decoded: counting only submitted jobs let every upload that arrived
        together pass the check. :meth:`submit` takes the place, :meth:`release` gives it up.
        """
        with self._lock:
            if len(self._order) + self._reserved >= MAX_WAITING:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        """Give up a place held by :meth:`reserve` for an upload that was refused or failed."""
        with self._lock:
            self._reserved -= 1

    def submit(self, name: str, image: Image, models: list[str], warning: str | None = None) -> Job:
        """Queue a job in the place :meth:`reserve` held for it (the caller releases it if this raises)."""
        job_id = secrets.token_hex(8)
        folder = self.workdir / job_id
        folder.mkdir()
        # The page shows the input from this PNG: browsers cannot display every format srgan reads.
        input_path = write_image(folder / "input.png", image.rgb, alpha=image.alpha, bit_depth=image.bit_depth,
                                 grayscale=image.grayscale, icc_profile=image.icc_profile)
        job = Job(job_id, name, image, models, input_path, warning)
        with self._lock:
            self._reserved -= 1  # the place becomes the job's
            self.jobs[job_id] = job
            self._order.append(job_id)
            self._forget_old()
        self._queue.put(job)
        return job

    def waiting(self) -> int:
        """Jobs queued or running (places held by :meth:`reserve` not counted)."""
        with self._lock:
            return len(self._order)

    def position(self, job: Job) -> int:
        """Jobs ahead of ``job`` in the queue (0 when it is next or running)."""
        with self._lock:
            return self._order.index(job.id) if job.id in self._order else 0

    def close(self) -> None:
        """Stop the worker, the running job at its next tile, and remove the job files. The worker must be gone
        before the process exits: torch still running in it then aborted the process ("terminate called without
        an active exception", exit 134) when Ctrl-C stopped a busy server."""
        self._closing.set()
        self._queue.put(None)
        if any(job.status == "running" for job in list(self.jobs.values())):  # a CPU tile can take minutes: silent
            print("srgan: stopping: the running job ends at its current tile", file=sys.stderr, flush=True)
        self._worker.join()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.status == "done"]
        for job in finished[: max(0, len(self.jobs) - KEEP_JOBS)]:
            del self.jobs[job.id]
            self._forgotten.append(self.workdir / job.id)
        while len(self._forgotten) > LINGER_JOBS:
            shutil.rmtree(self._forgotten.pop(0), ignore_errors=True)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job.status = "running"
            try:
                if not self._closing.is_set():
                    self._upscale(job)
            except _Closing:
                pass
            finally:
                job.image = None  # the decoded float image is the big part; the PNGs are on disk
                job.status = "done"
                with self._lock:
                    self._order.remove(job.id)

    def _upscale(self, job: Job) -> None:
        img = job.image
        h, w = img.rgb.shape[:2]
        total, finished = h * w * len(job.models), 0

        def advance(pixels: int) -> None:
            nonlocal finished
            if self._closing.is_set():
                raise _Closing
            finished += pixels
            job.progress = min(1.0, finished / total)

        rgb = torch.from_numpy(img.rgb).permute(2, 0, 1)
        alpha = None if img.alpha is None else torch.from_numpy(img.alpha)
        for name in job.models:
            engine, result = self.engines[name], Result(name)
            start = time.perf_counter()
            try:
                # srgan upscale's rules, so that the page shows its bytes: 8-bit grayscale assembled as uint8 was
                # rounded twice (to RGB, then its luma): 11.6-12.5% of the grey samples' pixels 1 level off
                out = output_dtype(img, engine.scale, LARGE_OUTPUT_PIXELS)
                y, a = upscale_planes(engine, rgb, alpha, out=out, progress=advance)
                if engine.device.type == "cuda":
                    torch.cuda.synchronize(engine.device)
                result.seconds = time.perf_counter() - start
                result.path = write_output(img, y, a, self.workdir / job.id / f"{name}.png", scale=engine.scale)
            except _Closing:
                raise
            except ImageError as exc:
                result.error = exc.problem
            except Exception as exc:  # the page reports it; the server and the queue keep going
                # torch's (a RuntimeError from the CPU allocator, CUDA's OutOfMemoryError) read as a raw message
                result.error = "out of memory" if out_of_memory(exc) else f"{type(exc).__name__}: {exc}"
            finished = (job.models.index(name) + 1) * h * w
            job.progress = finished / total
            job.results.append(result)
