"""The run folder (``out_dir``): checkpoint files, their rotation, and what ``--resume`` finds.

    out_dir/step_000010.pt ...   the last ``keep_last`` checkpoints (atomic writes)
    out_dir/last.pt              the newest checkpoint (a hard link to it, or a copy)
    out_dir/generator.safetensors  the newest generator weights, for ``srgan eval`` / ``upscale``
    out_dir/log.jsonl, samples/, tb/  see runlog.py
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .checkpoint import atomic_write, save_checkpoint, save_generator

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


def refuse_fresh_run(out_dir: Path) -> None:
    """A new run must not write over another run's checkpoints."""
    found = existing_checkpoints(out_dir)
    if found:
        raise FileExistsError(f"out_dir {out_dir} already holds checkpoints ({found[-1].name}, {len(found)} in all); "
                              "pass --resume to continue that run, or choose another out_dir=...")


def resume_path(out_dir: Path, resume: str) -> Path:
    """``--resume`` (no value) means ``out_dir/last.pt``; otherwise the given file."""
    path = out_dir / "last.pt" if resume == "last" else Path(resume).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}" +
                                (" (nothing to resume in this out_dir)" if resume == "last" else ""))
    return path


def save(out_dir: Path, state: dict, generator, keep_last: int) -> Path:
    """Write ``step_NNNNNN.pt``, point ``last.pt`` at it, refresh ``generator.safetensors``, drop old ones."""
    step = int(state["step"])
    path = save_checkpoint(state, out_dir / f"step_{step:06d}.pt")
    _link_or_copy(path, out_dir / "last.pt")
    save_generator(generator, out_dir / "generator.safetensors", metadata={"step": step, "phase": state["phase"]})
    for old in step_checkpoints(out_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def _link_or_copy(source: Path, target: Path) -> None:
    """Atomically make ``target`` the same file as ``source`` (hard link; a copy where links fail)."""
    def write(tmp: str) -> None:
        os.unlink(tmp)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    atomic_write(target, write)
