"""What a run reports: tqdm bar, ``log.jsonl`` (always), TensorBoard (when installed), sample grids.

Only rank 0 makes a ``RunLog``; the other ranks get ``RunLog(None)``, which does nothing.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write, write_failure
from .imagewrite import write_image
from .imresize import imresize


class RunLog:
    def __init__(self, out_dir: Path | None, *, total: int = 0, start: int = 0, tensorboard: bool = True,
                 progress: bool = True):
        self.active = out_dir is not None
        self.out_dir = out_dir
        self.bar = self.tb = None
        self.total = total
        # Into a pipe or a log file, tqdm's bar is carriage returns: a plain line per log record instead
        self.lines = progress and not sys.stderr.isatty()
        if not self.active:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "log.jsonl"
        # A new run (start 0) keeps an earlier log under another name (it used to be cut to nothing: the log of a
        # run whose checkpoints were deleted, or someone else's file); a resumed one drops the steps it redoes.
        earlier = None
        if start == 0:
            earlier = _set_aside(path)
        else:
            _keep_until(path, start)
        self.fresh, self.written = start == 0, False
        self.made_tb = tensorboard and not (out_dir / "tb").exists()
        self.jsonl = open(path, "a", buffering=1)
        try:
            if progress and not self.lines:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=start, desc="srgan train", unit="step", dynamic_ncols=True,
                                file=sys.stderr, mininterval=0.5)
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    self.note("TensorBoard is not installed (the tb extra: pip install -e \".[tb]\"); "
                              "logging to log.jsonl only")
                else:
                    self.tb = SummaryWriter(str(out_dir / "tb"), purge_step=start + 1)
            if earlier is not None:
                self.note(f"{path} held an earlier run's log; kept as {earlier.name}")
        except BaseException:  # a failing tqdm or TensorBoard must not leave log.jsonl open (or a stray tb/)
            self.close()
            raise

    def note(self, message: str) -> None:
        """A one-line message that does not break the progress bar."""
        if not self.active:
            return
        if self.bar is not None:
            self.bar.write(f"srgan: {message}", file=sys.stderr)
        else:
            print(f"srgan: {message}", file=sys.stderr)

    def step(self, step: int, postfix: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def record(self, record: dict) -> None:
        """One JSON line; numbers also go to TensorBoard as ``train/<key>``."""
        if not self.active:
            return
        self._append(record)
        if self.lines:
            print(f"srgan: step {record['step']}/{self.total}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k != "step" and isinstance(v, (int, float))),
                file=sys.stderr)
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"train/{key}", value, record["step"])

    def _append(self, record: dict) -> None:
        """One line of log.jsonl; a failed write names the file (a full disk says so)."""
        try:
            self.jsonl.write(json.dumps(record) + "\n")
            self.written = True
        except OSError as exc:
            raise write_failure(Path(self.jsonl.name), exc, consequence="") from None

    def eval_results(self, step: int, results: dict) -> None:
        if not self.active:
            return
        flat = {f"{name}_{metric}": float(value) for name, r in results.items() for metric, value in r.items()
                if metric != "images"}  # psnr, ssim and whatever else a set reports (the validation set's niqe)
        self._append({"step": step, "eval": flat})
        self.note(f"step {step} eval: " + ", ".join(f"{k} {v:.4f}" for k, v in flat.items()))
        if self.tb is not None:
            for key, value in flat.items():
                self.tb.add_scalar(f"eval/{key}", value, step)

    def image_grid(self, step: int, lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor) -> Path | None:
        """Write ``samples/step_NNNNNN.png``: bicubic | SR | HR side by side (and to TensorBoard)."""
        if not self.active:
            return None
        grid = sample_grid(lr, sr, hr)
        self.written = True
        path = write_image(self.out_dir / "samples" / f"step_{step:06d}.png", grid, overwrite=True)
        if self.tb is not None:
            self.tb.add_image("samples/bicubic|SR|HR", grid, step, dataformats="HWC")
        return path

    def close(self) -> None:
        if not self.active:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self.jsonl.close()
        if self.fresh and not self.written:  # a new run that failed before its first record leaves no trace
            Path(self.jsonl.name).unlink(missing_ok=True)
            if self.made_tb:
                shutil.rmtree(self.out_dir / "tb", ignore_errors=True)


def _set_aside(path: Path) -> Path | None:
    """Rename a non-empty ``path`` to a free ``log-earlier-N.jsonl`` beside it; return the new path."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    for n in itertools.count(1):
        target = path.with_name(f"log-earlier-{n}.jsonl")
        try:
            os.link(path, target)  # fails if taken: never replaces an earlier one
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if target.exists():
                continue
            os.replace(path, target)
            return target
        os.unlink(path)
        return target


def _keep_until(path: Path, start: int) -> None:
    """Drop the records of steps after ``start``: a run killed after its last checkpoint logged steps that the
    resumed run redoes, and each step must appear once."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if _step_of(line) <= start]
    if len(kept) != len(lines):
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(f"{line}\n" for line in kept), encoding="utf-8"))


def _step_of(line: str) -> float:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return float("inf")  # a line torn by kill -9, or not a record: dropped
    return step if isinstance(step, int) else float("inf")


def sample_grid(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, gap: int = 4) -> np.ndarray:
    """HxWx3 float array in [0, 1]: MATLAB-bicubic(LR) | SR | HR, separated by white gaps."""
    scale = hr.shape[-1] // lr.shape[-1]
    bicubic = imresize(lr.detach().float().cpu(), scale)
    panels = [t.detach().float().cpu().clamp(0, 1) for t in (bicubic, sr, hr)]
    h = panels[2].shape[-2]
    white = torch.ones(3, h, gap)
    row = torch.cat([panels[0], white, panels[1], white, panels[2]], dim=-1)
    return row.permute(1, 2, 0).numpy()
