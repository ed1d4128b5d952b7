"""Helpers for the reliability catalogue (docs/RELIABILITY.md): a tiny generator, tiny images, the CLI.

Every case asserts what a user sees: the exit code, one ``srgan: ...`` line naming the file and the problem
(no traceback), and that nothing else was lost: other outputs written, existing files byte-identical.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan import Generator, save_generator
from srgan.cli import main

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the CLI


@dataclass
class Result:
    code: int
    out: str
    err: str

    def error_line(self, *needles: str) -> str:
        """The single stderr line that holds every needle; asserts there is exactly one and no traceback."""
        assert "Traceback" not in self.err, self.err
        lines = [line for line in self.err.splitlines() if all(n in line for n in needles)]
        assert len(lines) == 1, f"expected one line with {needles!r} in stderr:\n{self.err}"
        assert lines[0].startswith("srgan: "), lines[0]
        return lines[0]


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` runs ``srgan.cli.main`` in-process and returns its exit code, stdout and stderr."""
    def run(*args) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def only_error(result: Result, *needles: str) -> str:
    """Exit 1 with stderr being exactly one ``srgan: error: ...`` line holding the needles."""
    assert result.code == 1, (result.code, result.err)
    line = result.error_line(*needles)
    assert result.err.strip() == line, f"more than the one error line:\n{result.err}"
    assert line.startswith("srgan: error: "), line
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to show nothing changed."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- models and images


def tiny_generator(scale: int = 4, seed: int = 0, channels: int = 8) -> Generator:
    torch.manual_seed(seed)
    return Generator(scale=scale, num_blocks=1, channels=channels).eval()


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """A tiny random x4 Generator (1 block, 8 channels) as safetensors."""
    return save_generator(tiny_generator(), tmp_path_factory.mktemp("weights") / "tiny_x4.safetensors")


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray, mode: str | None = None, **options) -> Path:
    """Write ``array`` with Pillow (creating folders); ``mode`` converts first (e.g. 'P', 'CMYK', 'LA')."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array)
    if mode is not None:
        im = im.convert(mode)
    im.save(path, **options)
    return path


def upscale_args(inputs, output, weights, *extra):
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return ["upscale", *inputs, "-o", output, "--model", weights, "--device", "cpu", "--precision", "fp32",
            "--quiet", *extra]


# --------------------------------------------------------------------------- training


def train_args(data, out_dir, *extra, resume: str | None = None):
    """``srgan train`` with the smoke config shrunk to a fraction of a second (1 block, 8 channels, 32-px crops)."""
    head = ["train", "--config", "smoke"] + (["--resume", resume] if resume else [])
    return [*head, f"train_data={data}", f"out_dir={out_dir}", "num_blocks=1", "channels=8", "batch_size=2",
            "crop_size=32", "steps=4", "checkpoint_every=2", "log_every=1", "keep_last=5", "cache=false",
            "progress=false", "tensorboard=false", "device=cpu", "precision=fp32", *extra]


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    """Three 40x40 RGB images (the crop is 32 px)."""
    folder = tmp_path_factory.mktemp("train_data")
    for i in range(3):
        save(folder / f"img{i}.png", rgb(40, 40, seed=i))
    return folder


def subprocess_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


PYTHON = sys.executable


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, train_data) -> Path:
    """A finished 4-step run (checkpoints at steps 2 and 4). Copy it before changing anything."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(train_args(train_data, out)) == 0
    return out


def copy_run(run: Path, dest: Path) -> Path:
    """Copy a run folder; ``last.pt`` becomes a file of its own (it is a hard link in the original)."""
    import shutil

    shutil.copytree(run, dest)
    return dest
