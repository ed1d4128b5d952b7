"""Catalogue: faults during ``srgan train``. A stopped run resumes exactly; a killed or failed checkpoint
write never damages the previous checkpoint; bad batches and bad files are skipped and reported, not fatal."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time

import pytest
import torch

import srgan.files as files_module
from srgan import rundir
from srgan.checkpoint import load_checkpoint
from srgan.trainer import Trainer
from support import PYTHON, REPO, rgb, save, snapshot, subprocess_env, train_args



def _records(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _assert_same_state(a, b):
    assert a["step"] == b["step"]
    for name, tensor in a["generator"].items():
        assert torch.equal(tensor, b["generator"][name]), name
    for i, s in a["optimizer_g"]["state"].items():
        assert all(torch.equal(v, b["optimizer_g"]["state"][i][k]) for k, v in s.items())


def test_sigterm_mid_step_then_resume_equals_uninterrupted(cli, train_data, trained_run, tmp_path, monkeypatch):
    """SIGTERM arrives during step 3 (of 4): the step finishes, step_000003.pt is saved, exit 0; ``--resume``
    then ends exactly where the uninterrupted run (``trained_run``, same config) ended: weights, Adam state, the
    loss of every step. (tests/test_train.py::test_sigterm_saves_then_resume_continues sends it from outside.)"""
    original = Trainer.train_step

    def step_with_sigterm(self, lr, hr):
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, to the real handler, in the middle of a step
        return original(self, lr, hr)

    monkeypatch.setattr(Trainer, "train_step", step_with_sigterm)
    run = tmp_path / "run"
    result = cli(*train_args(train_data, run))
    assert result.code == 0, result.err
    result.error_line("stopped by SIGTERM after step 3", "continue with --resume")
    assert load_checkpoint(run / "last.pt")["step"] == 3 and (run / "step_000003.pt").is_file()
    monkeypatch.setattr(Trainer, "train_step", original)
    result = cli(*train_args(train_data, run, resume="last"))
    assert result.code == 0, result.err
    _assert_same_state(load_checkpoint(run / "last.pt"), load_checkpoint(trained_run / "last.pt"))
    losses = [(r["step"], r["loss_g"]) for r in _records(run)]
    assert losses == [(r["step"], r["loss_g"]) for r in _records(trained_run)]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_signal_during_an_evaluation_stops_after_it(cli, train_data, tmp_path, monkeypatch, signame):
    """SIGTERM while step 1 is evaluated (minutes with large eval sets on a CPU): the run saves step 1 and stops.
    It trained step 2, saved and evaluated again first, which could outlast a scheduler's grace period. SIGHUP (the
    terminal or ssh session closed) is a stop request too: it killed the run where it stood."""
    from srgan import train as train_module

    evaluated = []

    def evaluate_with_signal(trainer, *args):
        evaluated.append(trainer.step)
        if trainer.step == 1:
            os.kill(os.getpid(), getattr(signal, signame))

    monkeypatch.setattr(train_module, "_evaluate", evaluate_with_signal)
    run = tmp_path / "run"
    result = cli(*train_args(train_data, run, "eval_every=1"))
    assert result.code == 0, result.err
    result.error_line(f"stopped by {signame} after step 1", "continue with --resume")
    assert evaluated == [1] and load_checkpoint(run / "last.pt")["step"] == 1


def test_a_signal_during_the_last_evaluation_ends_the_run_as_done(cli, train_data, tmp_path, monkeypatch):
    """A finished run was reported as stopped, with advice to --resume it (which it refused: nothing left)."""
    from srgan import train as train_module

    def evaluate_with_sigterm(trainer, *args):
        if trainer.step == 4:  # the last of train_args' 4 steps
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(train_module, "_evaluate", evaluate_with_sigterm)
    result = cli(*train_args(train_data, tmp_path / "run", "eval_every=2"))
    assert result.code == 0, result.err
    assert "stopped by" not in result.err
    result.error_line("srgan: done: step 4")


def test_bf16_on_a_cpu_that_emulates_it_is_warned_about(cli, train_data, tmp_path, monkeypatch):
    """precision=bf16 on an AVX2 CPU trained several times slower than fp32 without a word."""
    monkeypatch.setattr("srgan.device.cpu_has_fast_bf16", lambda: False)
    result = cli(*train_args(train_data, tmp_path / "run", "precision=bf16", "steps=1"))
    assert result.code == 0, result.err
    result.error_line("warning: bf16 is emulated on this CPU (no AVX512-BF16 or AMX)")


def test_a_signal_ignored_at_start_stays_ignored(cli, train_data, tmp_path, monkeypatch):
    """A run that a script starts in the background (`&`) has SIGINT ignored, so that a Ctrl-C meant for the
    foreground does not reach it: a SIGINT during step 3 then changes nothing (all 4 steps, exit 0). It used to stop
    the run."""
    original = Trainer.train_step

    def step_with_sigint(self, lr, hr):
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, lr, hr)

    monkeypatch.setattr(Trainer, "train_step", step_with_sigint)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = cli(*train_args(train_data, tmp_path / "run"))
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.code == 0, result.err
    assert "stopped by" not in result.err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4


KILLED_WRITER = r"""
import io, pathlib, sys, time
import torch

marker = pathlib.Path(sys.argv[1])
real_save = torch.save

def slow_save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("step") == 4:  # the second checkpoint: die half-way through it
        buffer = io.BytesIO()
        real_save(obj, buffer)
        with open(f, "wb") as handle:
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            handle.flush()
        marker.write_text(str(f))
        time.sleep(300)
    return real_save(obj, f, *args, **kwargs)

torch.save = slow_save
from srgan.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_kill_9_during_checkpoint_write(cli, train_data, trained_run, tmp_path):
    """SIGKILL while step_000004.pt is half written: last.pt is still step 2, byte for byte, and loads; the
    half-written temp file is never taken for a checkpoint; ``--resume`` finishes the run exactly."""
    script = tmp_path / "killed_writer.py"
    script.write_text(KILLED_WRITER)
    marker, run = tmp_path / "writing", tmp_path / "run"
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen([PYTHON, script, marker, *map(str, train_args(train_data, run))], cwd=REPO,
                                env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.time() + 120
            while not marker.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert marker.exists(), (tmp_path / "stderr.txt").read_text()
            before = {k: v for k, v in snapshot(run).items() if not k.startswith(".")}
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    temp = marker.read_text()
    assert os.path.basename(temp).startswith(".step_000004.pt.") and os.path.exists(temp)  # the torn write
    assert {k: v for k, v in snapshot(run).items() if not k.startswith(".")} == before
    assert sorted(before) == ["generator.safetensors", "last.pt", "log.jsonl", "step_000002.pt"]
    assert load_checkpoint(run / "last.pt")["step"] == 2
    assert before["last.pt"] == before["step_000002.pt"]
    assert rundir.existing_checkpoints(run) == [run / "step_000002.pt", run / "last.pt"]
    result = cli(*train_args(train_data, run, resume="last"))
    assert result.code == 0, result.err
    _assert_same_state(load_checkpoint(run / "last.pt"), load_checkpoint(trained_run / "last.pt"))


@pytest.mark.parametrize("failure", ["ENOSPC", "torch RuntimeError"])
def test_disk_full_while_writing_a_checkpoint(cli, train_data, tmp_path, monkeypatch, failure):
    """The step-4 checkpoint cannot be written: one line naming it and the reason; step 2 stays the last
    checkpoint (last.pt and generator.safetensors untouched), no temp file is left; --resume carries on.
    A full disk makes torch.save raise a RuntimeError ("unexpected pos ..."); that is reported as disk full."""
    run = tmp_path / "run"
    real_save = torch.save

    def save_until_full(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("step") == 4:
            with open(f, "wb") as handle:
                handle.write(b"PK\x03\x04 partial")
            if failure == "ENOSPC":
                raise OSError(errno.ENOSPC, "No space left on device")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    if failure != "ENOSPC":
        free = os.statvfs(tmp_path)
        usage = type("usage", (), {"total": free.f_blocks * free.f_frsize, "used": 0, "free": 4096})
        monkeypatch.setattr(files_module.shutil, "disk_usage", lambda path: usage)
    holder = {}
    original_save = rundir.save

    def remember(out_dir, state, *args):
        if state["step"] == 4:
            holder["before"] = {k: v for k, v in snapshot(out_dir).items() if k != ".lock"}  # gone at exit
        return original_save(out_dir, state, *args)

    monkeypatch.setattr(rundir, "save", remember)
    result = cli(*train_args(train_data, run))
    assert result.code == 1
    line = result.error_line("srgan: error: ", os.fspath(run / "step_000004.pt"),
                             "cannot write (disk full, no space left on device); no existing file was replaced")
    assert line == result.err.splitlines()[-1]
    assert snapshot(run) == holder["before"]  # nothing half-written, nothing replaced
    assert sorted(p.name for p in run.iterdir()) == ["generator.safetensors", "last.pt", "log.jsonl",
                                                     "step_000002.pt"]
    assert load_checkpoint(run / "last.pt")["step"] == 2
    monkeypatch.undo()
    result = cli(*train_args(train_data, run, resume="last"))
    assert result.code == 0, result.err
    assert load_checkpoint(run / "last.pt")["step"] == 4


def test_nan_batch_is_skipped_and_counted(cli, train_data, tmp_path, monkeypatch):
    """One NaN batch (step 2): that update is skipped, the run finishes (exit 0) with finite weights and the
    skip is reported and counted. Many in a row stop the run with exit 2 and the last good checkpoint intact:
    tests/test_train.py::test_nan_steps_are_skipped_counted_then_stop."""
    original = Trainer.train_step

    def nan_batch(self, lr, hr):
        if self.step == 1:
            lr = torch.full_like(lr, float("nan"))
        return original(self, lr, hr)

    monkeypatch.setattr(Trainer, "train_step", nan_batch)
    run = tmp_path / "run"
    result = cli(*train_args(train_data, run))
    assert result.code == 0, result.err
    result.error_line("step 2: non-finite loss", "update skipped", "1 in a row, 1 in all")
    assert [r["bad_steps"] for r in _records(run)] == [0, 1, 1, 1]
    state = load_checkpoint(run / "last.pt")
    assert state["step"] == 4 and state["bad_steps"]["total"] == 1
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())


@pytest.mark.parametrize("contents", ["nothing", "only images smaller than the crop", "only broken files",
                                      "only validation images"])
def test_dataset_without_usable_images(cli, tmp_path, contents):
    data = tmp_path / "data"
    data.mkdir()
    if contents == "only images smaller than the crop":
        save(data / "icon.png", rgb(16, 16))
    elif contents == "only broken files":
        (data / "a.png").write_bytes(b"")
        (data / "b.jpg").write_text("not a jpeg")
    elif contents == "only validation images":  # val_data naming the training folder itself
        save(data / "a.png", rgb(40, 40))
    run = tmp_path / "runs" / "mine"  # as the bundled configs' runs/<name>: no parent folder is left either
    extra = [f"val_data={data}"] if contents == "only validation images" else []
    result = cli(*train_args(data, run, *extra))
    found = {"nothing": "0 image file(s) found", "only images smaller than the crop": "1 smaller than the 32-px crop",
             "only broken files": "2 unreadable", "only validation images": "1 held out for validation"}[contents]
    assert result.code == 1
    line = result.error_line("srgan: error: no usable training images in", os.fspath(data), found)
    assert "Traceback" not in result.err and line == result.err.splitlines()[-1]
    assert not run.parent.exists()


def test_dataset_with_corrupt_small_and_oddly_named_files(train_data, tmp_path):
    """A real ``srgan train`` process (default cache on): each corrupt file is reported once, by name; the
    image smaller than the crop is skipped and counted; non-ASCII and space names train; the run finishes."""
    data = tmp_path / "data"
    save(data / "Grüße aus Köln.png", rgb(40, 40, seed=1))
    save(data / "with space.jpg", rgb(40, 48, seed=2), quality=95)
    save(data / "日本.png", rgb(48, 40, seed=3))
    save(data / "icon.png", rgb(16, 16, seed=4))
    good = save(tmp_path / "whole.png", rgb(40, 40, seed=5)).read_bytes()
    (data / "truncated.png").write_bytes(good[: len(good) // 2])
    (data / "empty.png").write_bytes(b"")
    (data / "readme.jpg").write_text("not a picture")
    (data / "album.png").mkdir()  # a folder named like an image: not a file, passed over silently
    run = tmp_path / "run"
    env = {**subprocess_env(), "SRGAN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([PYTHON, "-m", "srgan", *map(str, train_args(data, run, "cache=true"))], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    for name in ("truncated.png", "empty.png", "readme.jpg"):
        mine = [line for line in lines if name in line]
        assert len(mine) == 1 and "skipping unreadable image" in mine[0] and os.fspath(data / name) in mine[0], lines
    small = [line for line in lines if "icon.png" in line]
    # srgan's own prefix: Python's last-resort handler printed the bare message
    assert len(small) == 1 and small[0].startswith("srgan: warning: skipped 1 image(s) smaller than the 32-px crop")
    assert not any("album.png" in line for line in lines)
    assert any("3 training images" in line for line in lines)
    assert load_checkpoint(run / "last.pt")["step"] == 4


def test_out_of_memory_in_a_step_names_batch_size(cli, train_data, tmp_path, monkeypatch):
    """batch_size=4096 on a 24 GB machine was "RuntimeError: [enforce fail at alloc_cpu.cpp:127] ... can't allocate
    memory: you tried to allocate 2415919104 bytes ... (rerun with --debug)", naming no setting, and it left the
    run folder with an empty log.jsonl."""
    def out_of_memory(self, lr, hr):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: not enough memory: you "
                           "tried to allocate 2415919104 bytes. (can't allocate memory)")

    monkeypatch.setattr(Trainer, "train_step", out_of_memory)
    result = cli(*train_args(train_data, tmp_path / "run"))
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "srgan: error: config 'batch_size': out of memory in step 1 on cpu at batch_size 2, crop_size 32; lower "
        "batch_size, or raise grad_accum (the same batch in smaller pieces)")
    assert not (tmp_path / "run").exists()
