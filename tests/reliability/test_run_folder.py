"""Catalogue: one run folder, one writer. ``srgan train`` holds an exclusive lock on ``out_dir`` (released
however the process ends); a second run into the folder is refused with one line. ``log.jsonl`` never repeats a
step: what a killed run logged after its last checkpoint is dropped when the run resumes (or starts afresh)."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from srgan.checkpoint import load_checkpoint
from support import PYTHON, REPO, copy_run, only_error, snapshot, subprocess_env, train_args

# Runs `srgan train` and stops at the checkpoint save of step sys.argv[2]: "wait" blocks there (a run still
# writing), "die" kills the process with SIGKILL (before that checkpoint is written). The marker says when.
STOPPING_TRAINER = r"""
import os, pathlib, signal, sys, time
from srgan import rundir

marker, at, how = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
real_save = rundir.save

def save(out_dir, state, *args):
    if state["step"] == at:
        marker.write_text(str(os.getpid()))
        if how == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(300)
    return real_save(out_dir, state, *args)

rundir.save = save
from srgan.cli import main
sys.exit(main(sys.argv[4:]))
"""


def _start(tmp_path, args, at, how):
    script, marker = tmp_path / "stopping_trainer.py", tmp_path / "marker"
    script.write_text(STOPPING_TRAINER)
    proc = subprocess.Popen([PYTHON, script, marker, str(at), how, *map(str, args)], cwd=REPO, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "no marker"
    return proc


def _steps(run):
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("second", ["fresh", "--resume"])
def test_second_run_into_a_busy_folder_is_refused(cli, train_data, tmp_path, second):
    """Run A is writing (parked at its first checkpoint, or at its second for a resumable folder); run B into the
    same out_dir (fresh with another seed, or --resume to go further) is refused with one line naming A's pid and changes
    nothing. Before, both "succeeded" with interleaved checkpoints. Once A is killed, the lock is free: the next
    run takes over and says that A never released it."""
    run = tmp_path / "run"
    proc = _start(tmp_path, train_args(train_data, run), at=2 if second == "fresh" else 4, how="wait")
    try:
        before = snapshot(run)
        extra = ["seed=7"] if second == "fresh" else ["steps=6"]  # a run of its own / the same run, further
        result = cli(*train_args(train_data, run, *extra, resume=None if second == "fresh" else "last"))
        only_error(result, f"out_dir {run} is in use by another srgan train (pid {proc.pid} on ",
                   "refused: one run writes to a folder at a time")
        assert snapshot(run) == before
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (run / ".lock").read_text().startswith(f"{proc.pid} ")  # what a killed holder leaves behind
    result = cli(*train_args(train_data, run, resume=None if second == "fresh" else "last"))
    assert result.code == 0, result.err
    result.error_line(f"the previous run (pid {proc.pid} on ", "ended without releasing its lock (killed?)")
    assert load_checkpoint(run / "last.pt")["step"] == 4
    assert not (run / ".lock").exists()  # a clean exit removes it


def test_kill_9_then_resume_logs_each_step_once(cli, train_data, trained_run, tmp_path):
    """Killed with SIGKILL after logging steps 3 and 4 but before the step-4 checkpoint: ``--resume`` redoes
    steps 3-4 from step_000002.pt, and log.jsonl holds steps 1..4 once each (it used to repeat 3 and 4), with
    the same losses as an uninterrupted run."""
    run = tmp_path / "run"
    proc = _start(tmp_path, train_args(train_data, run), at=4, how="die")
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert _steps(run) == [1, 2, 3, 4] and load_checkpoint(run / "last.pt")["step"] == 2
    result = cli(*train_args(train_data, run, resume="last"))
    assert result.code == 0, result.err
    assert _steps(run) == [1, 2, 3, 4]
    assert (run / "log.jsonl").read_text().count('"loss_g"') == 4
    losses = [json.loads(line)["loss_g"] for line in (run / "log.jsonl").read_text().splitlines()]
    reference = [json.loads(line)["loss_g"] for line in (trained_run / "log.jsonl").read_text().splitlines()]
    # Not bit-equal: steps 1-2 ran in a subprocess, the reference in this process, whose torch thread count
    # other tests may have changed; fp32 conv sums in another order differ by ~1e-6 relative. A wrong resume
    # (other batches, weights or optimizer state) moves the loss by far more.
    assert losses == pytest.approx(reference, rel=1e-5, abs=0)


def test_resume_from_an_older_checkpoint_drops_the_later_records(cli, train_data, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "run")
    result = cli(*train_args(train_data, run, "steps=3", "checkpoint_every=1", "keep_last=1",
                             resume=str(run / "step_000002.pt")))
    assert result.code == 0, result.err
    assert _steps(run) == [1, 2, 3]
    # The old step-4 checkpoint is set aside: it used to stay as the only step file while pruning (by step
    # number) removed the step-3 checkpoint just written.
    assert sorted(p.name for p in run.glob("*.pt")) == ["last.pt", "step_000003.pt"]
    assert load_checkpoint(run / "last.pt")["step"] == 3
    abandoned = run / "abandoned-after-step-000002"  # with that branch's last.pt, weights and whole log
    assert sorted(p.name for p in abandoned.iterdir()) == ["generator.safetensors", "last.pt", "log.jsonl",
                                                           "step_000004.pt"]
    assert _steps(abandoned) == [1, 2, 3, 4] and load_checkpoint(abandoned / "last.pt")["step"] == 4
    result.error_line("resumed from step 2: the later checkpoints", "abandoned-after-step-000002")


def test_a_resume_from_an_older_checkpoint_killed_before_its_first_save_resumes(cli, train_data, trained_run,
                                                                                tmp_path):
    """last.pt went with the abandoned branch before the new run had saved: killed then, the folder held
    step_000002.pt but `--resume` said "no checkpoint at last.pt (nothing to resume in this out_dir)"."""
    run = copy_run(trained_run, tmp_path / "run")
    proc = _start(tmp_path, train_args(train_data, run, resume=str(run / "step_000002.pt")), at=4, how="die")
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert load_checkpoint(run / "last.pt")["step"] == 2 and not (run / "generator.safetensors").exists()
    result = cli(*train_args(train_data, run, resume="last"))
    assert result.code == 0, result.err
    assert _steps(run) == [1, 2, 3, 4] and load_checkpoint(run / "last.pt")["step"] == 4
    (run / "last.pt").unlink()  # and where last.pt is gone, the message names the newest step file
    only_error(cli(*train_args(train_data, run, "steps=6", resume="last")),
               f"--resume: no checkpoint at {run / 'last.pt'}; its newest is {run / 'step_000004.pt'}: --resume "
               f"{run / 'step_000004.pt'}")


def test_run_killed_before_its_first_checkpoint_is_not_appended_to(cli, train_data, tmp_path):
    """Killed at step 2's save (no checkpoint yet, steps 1-2 logged): a fresh run into the folder starts a fresh
    log rather than appending to the dead run's records (before: steps 1, 2, 1, 2, 3, 4)."""
    run = tmp_path / "run"
    proc = _start(tmp_path, train_args(train_data, run), at=2, how="die")
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert _steps(run) == [1, 2] and not list(run.glob("*.pt"))
    result = cli(*train_args(train_data, run))
    assert result.code == 0, result.err
    assert _steps(run) == [1, 2, 3, 4]
    assert [json.loads(line)["step"] for line in (run / "log-earlier-1.jsonl").read_text().splitlines()] == [1, 2]
    result.error_line(f"{run / 'log.jsonl'} held an earlier run's log; kept as log-earlier-1.jsonl")


def test_a_new_run_keeps_a_log_it_did_not_write(cli, train_data, tmp_path):
    """It was cut to the new run's records without a word (any line not an srgan record of step 0 went)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text('{"event": "upload"}\nplain text\n')
    (run / "log-earlier-1.jsonl").write_text("older\n")
    assert cli(*train_args(train_data, run)).code == 0
    assert (run / "log-earlier-2.jsonl").read_text() == '{"event": "upload"}\nplain text\n'
    assert (run / "log-earlier-1.jsonl").read_text() == "older\n" and _steps(run) == [1, 2, 3, 4]


def test_a_new_run_that_fails_at_its_first_step_leaves_no_folder(cli, tmp_path):
    """Images whose headers read but whose pixels do not (cache=false decodes them only when drawn) left an
    out_dir holding an empty log.jsonl, and the error was an unanticipated "RuntimeError: ... (rerun with --debug)"."""
    from support import rgb, save

    data = tmp_path / "data"
    for i in range(2):
        save(data / f"img{i}.png", rgb(40, 40, seed=i))
        (data / f"img{i}.png").write_bytes((data / f"img{i}.png").read_bytes()[:200])  # header intact
    result = cli(*train_args(data, tmp_path / "runs" / "a"))
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == ("srgan: error: every training image turned out unreadable when "
                                                   "decoded (2 file(s); see the warnings above)")
    assert not (tmp_path / "runs").exists()

