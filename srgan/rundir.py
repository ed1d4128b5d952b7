"""The run folder (``out_dir``): checkpoint files, their rotation, and what ``--resume`` finds.

    out_dir/step_000010.pt ...   the last ``keep_last`` checkpoints (atomic writes)
    out_dir/last.pt              the newest checkpoint (a hard link to it, or a copy)
    out_dir/generator.safetensors  the newest generator weights, for ``srgan eval`` / ``upscale``
    out_dir/log.jsonl, samples/, tb/  see runlog.py
    out_dir/.lock                while a run is writing: one writer per folder (see :func:`exclusive`)
"""
from __future__ import annotations

import fcntl
import filecmp
import os
import re
import shutil
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, save_generator
from .files import atomic_write, make_folder, remove_if_empty, write_failure

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def step_checkpoints(out_dir: Path) -> list[Path]:
    """``step_*.pt`` files, oldest step first."""
    if not out_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out_dir.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def existing_checkpoints(out_dir: Path) -> list[Path]:
    last = out_dir / "last.pt"
    return step_checkpoints(out_dir) + ([last] if last.is_file() else [])


def folder_run_id(out_dir: Path, besides: Path) -> str | None:
    """The ``run_id`` of the run whose checkpoints ``out_dir`` holds, read from one of them other than ``besides``
    (the checkpoint to resume): last.pt, else the newest step file. None where there is none, or none records
    one (checkpoints from before run ids)."""
    for path in [out_dir / "last.pt", *reversed(step_checkpoints(out_dir))]:
        if not path.is_file() or os.path.samefile(path, besides):
            continue
        try:
            state = load_checkpoint(path, mmap=True)
        except CheckpointError:
            continue
        return state.get("run_id") if isinstance(state, dict) else None
    return None


def refuse_fresh_run(out_dir: Path) -> None:
    """A new run must not write over another run's checkpoints, nor its trained weights when only they are
    left (the large checkpoints pruned, the final weights kept). A log alone is no such thing: a run killed
    before its first checkpoint leaves one, and the next run takes its place."""
    found = existing_checkpoints(out_dir)
    if found:
        raise FileExistsError(f"out_dir {out_dir} already holds checkpoints ({found[-1].name}, {len(found)} in all); "
                              "pass --resume to continue that run, or choose another out_dir=...")
    if (out_dir / "generator.safetensors").exists():
        raise FileExistsError(f"out_dir {out_dir} already holds another run's trained generator.safetensors; "
                              "choose another out_dir=..., or move it away first")


def resume_path(out_dir: Path, resume: str) -> Path:
    """``--resume`` (no value) means ``out_dir/last.pt``; a folder, its ``last.pt``; otherwise the given file."""
    path = out_dir / "last.pt" if resume == "last" else Path(resume).expanduser()
    folder = out_dir if resume == "last" else path if path.is_dir() else None
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        found = step_checkpoints(folder) if folder is not None else []
        hint = f"; its newest is {found[-1]}: --resume {found[-1]}" if found else \
            " (nothing to resume in this out_dir)" if resume == "last" else ""
        raise FileNotFoundError(f"--resume: no checkpoint at {path}" + hint)
    return path


@contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``out_dir/.lock`` (created with the folder) while the run writes.

    The kernel drops the lock when the process ends, however it ends, so a crash never leaves the folder
    locked. The file names its holder ("pid host") and is removed on a clean exit; a file still naming a pid
    when the lock is free is the mark of a run that was killed, reported when the next run takes over.
    """
    # /proc/..., a read-only mount: the errno's own words name some path, not out_dir
    created = make_folder(out_dir, failure=f"config 'out_dir': cannot create {out_dir}")
    path = out_dir / ".lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # an existing folder on a read-only mount, or not ours: not "[Errno 30] ... .lock"
            remove_if_empty(created)
            error = OSError(f"config 'out_dir': cannot write in {out_dir} ({exc.strerror or exc})")
            error.errno = exc.errno
            raise error from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").split() or ["?"]
            os.close(fd)
            raise FileExistsError(f"out_dir {out_dir} is in use by another srgan train (pid {' on '.join(holder)}); "
                                  "refused: one run writes to a folder at a time") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: lock the new one
    dead = os.read(fd, 200).decode(errors="replace").split()
    if dead:
        print(f"srgan: {out_dir}: the previous run (pid {' on '.join(dead)}) ended without releasing its lock "
              "(killed?); taking over", file=sys.stderr)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise write_failure(path, exc, consequence="") from None
    try:
        yield
    finally:
        os.unlink(path)  # before the unlock, so nobody can lock a file that is about to go
        os.close(fd)
        remove_if_empty(created)  # a run refused before writing anything leaves no folder, nor the parents it made


def save(out_dir: Path, state: dict, generator, keep_last: int) -> Path:
    """Write ``step_NNNNNN.pt``, point ``last.pt`` at it, refresh ``generator.safetensors``, drop old ones."""
    step = int(state["step"])
    path = save_checkpoint(state, out_dir / f"step_{step:06d}.pt")
    _link_or_copy(path, out_dir / "last.pt")
    save_generator(generator, out_dir / "generator.safetensors", metadata={"step": step, "phase": state["phase"]})
    for old in step_checkpoints(out_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def set_aside_later(out_dir: Path, step: int) -> Path | None:
    """Resuming from an older checkpoint abandons what came after it: move the later ``step_*.pt``, and
    ``last.pt`` and ``generator.safetensors`` when they are that branch's, into ``out_dir/abandoned-after-step-N/``
    with a copy of the log, kept but out of the way (``-2``, ``-3``, ... for a second and third branch from one step:
    the first branch's files were overwritten). Left in place they outlived the new run's own checkpoints,
    which pruning (by step number) removed first. ``last.pt`` then points at the checkpoint resumed from, when it
    is in ``out_dir``, so that a run killed before its first save still resumes with a plain ``--resume``."""
    later = [p for p in step_checkpoints(out_dir) if int(_STEP_FILE.match(p.name).group(1)) > step]
    if not later:
        return None
    folder = out_dir / f"abandoned-after-step-{step:06d}"
    branch = 1
    while folder.exists():
        branch += 1
        folder = out_dir / f"abandoned-after-step-{step:06d}-{branch}"
    folder.mkdir()
    last = out_dir / "last.pt"
    # last.pt is a hard link to the newest step file, or a copy of it (file systems without links, a copied folder)
    if last.is_file() and any(os.path.samefile(last, p) or filecmp.cmp(last, p, shallow=False) for p in later):
        os.replace(last, folder / last.name)
        if (out_dir / "generator.safetensors").is_file():  # written with that last.pt
            os.replace(out_dir / "generator.safetensors", folder / "generator.safetensors")
    for path in later:
        os.replace(path, folder / path.name)
    if (out_dir / "log.jsonl").is_file():  # the new run drops the abandoned steps from its log
        shutil.copyfile(out_dir / "log.jsonl", folder / "log.jsonl")
    resumed = out_dir / f"step_{step:06d}.pt"
    if resumed.is_file() and not last.exists():
        _link_or_copy(resumed, last)
    return folder


def _link_or_copy(source: Path, target: Path) -> None:
    """Atomically make ``target`` the same file as ``source`` (hard link; a copy where links fail)."""
    def write(tmp: str) -> None:
        os.unlink(tmp)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    atomic_write(target, write)
