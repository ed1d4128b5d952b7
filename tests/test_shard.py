"""``torchrun --nproc-per-node 2 -m srgan upscale DIR -o OUT`` on CPU (gloo): the folder shared out, resumable."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srgan.checkpoint import save_generator
from srgan.cli import main
from srgan.models import Generator

REPO = Path(__file__).resolve().parents[1]


def torchrun_upscale(*args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "srgan", "upscale", *map(str, args), "--device", "cpu", "--precision", "fp32", "--quiet"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def summary(result) -> str:
    lines = [line for line in result.stderr.splitlines() if "processes:" in line]
    assert len(lines) == 1, result.stderr[-3000:]  # from rank 0 only
    return lines[0]


def test_two_ranks_do_each_file_once_and_resume(tmp_path):
    torch.manual_seed(0)
    weights = save_generator(Generator(num_blocks=1, channels=8).eval(), tmp_path / "g.safetensors")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i}.png" for i in range(5)] + ["sub/5.png"]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)).save(src / name)
    out = tmp_path / "out"

    result = torchrun_upscale(src, "-o", out, "--model", weights)
    assert result.returncode == 0, result.stderr[-3000:]
    # 6 files, 6 written in total: a file done by both ranks would be counted twice.
    assert "2 processes: 6 image(s) written, 0 already done (skipped), 0 failed" in summary(result)
    single = tmp_path / "single"
    assert main(["upscale", str(src), "-o", str(single), "--model", str(weights), "--device", "cpu",
                 "--precision", "fp32", "--quiet"]) == 0
    for name in names:
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(single / name))), name

    # Interrupted run: two outputs missing. The rerun writes those two and leaves the others untouched; one that
    # another tool left empty is kept, and said once (each rank saw only what was left to do: nothing was said)
    (out / "1.png").unlink()
    (out / "sub" / "5.png").unlink()
    (out / "0.png").write_bytes(b"")
    stamps = {name: (out / name).stat().st_mtime_ns for name in names if (out / name).exists()}
    result = torchrun_upscale(src, "-o", out, "--model", weights)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "6 image(s)" not in summary(result)
    assert "2 image(s) written, 4 already done (skipped), 0 failed" in summary(result)
    assert result.stderr.count(f"srgan: warning: 1 existing output(s) kept by a torchrun rerun are not what this run "
                               f"writes: {out / '0.png'} (empty or unreadable)") == 1, result.stderr[-3000:]
    assert {name: (out / name).stat().st_mtime_ns for name in stamps} == stamps
    assert all((out / name).exists() for name in names)
    (out / "0.png").unlink()  # for the runs below: written again
    assert torchrun_upscale(src, "-o", out, "--model", weights).returncode == 0

    # A broken file fails its rank; every rank exits non-zero and rank 0 counts it.
    (src / "broken.png").write_bytes(b"not a png")
    result = torchrun_upscale(src, "-o", out, "--model", weights)
    assert result.returncode != 0
    assert "0 image(s) written, 6 already done (skipped), 1 failed" in summary(result)

    # A missing input is reported once and counted (each rank printed it, and the summary left it out).
    result = torchrun_upscale(src, tmp_path / "missing.png", "-o", out, "--model", weights)
    assert result.returncode != 0
    assert result.stderr.count("missing.png: no such file or folder") == 1, result.stderr[-3000:]
    assert "0 image(s) written, 6 already done (skipped), 2 failed" in summary(result)

    # --overwrite: an old output of an input that now fails is still there, and was counted as written
    (out / "broken.png").write_bytes((out / "1.png").read_bytes())
    result = torchrun_upscale(src, "-o", out, "--model", weights, "--overwrite")
    assert result.returncode != 0
    assert "6 image(s) written, 0 already done (skipped), 1 failed" in summary(result)
