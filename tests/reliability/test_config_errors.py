"""Catalogue: configurations that cannot work are refused before any work: one ``srgan: error:`` line that
names the key (and the file or override it came from), exit 1, no run folder created, an existing run
folder left byte for byte as it was."""
from __future__ import annotations

import os

import pytest

from support import copy_run, only_error, snapshot, train_args


BAD_OVERRIDES = [
    ("learning_rate=1e-4", ["override 'learning_rate=1e-4'", "unknown key 'learning_rate'", "known keys: phase"]),
    ("lr=fast", ["override 'lr=fast'", "'lr' must be float, got str 'fast'"]),
    ("steps=2.5", ["override 'steps=2.5'", "'steps' must be int"]),
    ("train_data=[1, 2]", ["'train_data' must be a list of strings"]),
    ("lr=-1e-4", ["config 'lr': must be > 0 (got -0.0001)"]),
    ("scale=3", ["config 'scale': must be one of (2, 4, 8) (got 3)"]),
    ("crop_size=30", ["config 'crop_size': must be a positive multiple of scale (4)"]),
    ("beta1=1.5", ["config 'beta1': must be in [0, 1)"]),
    ("precision=fp8", ["config 'precision'"]),
    # These ran: a billion took the machine's 24 GB before its first step, 257 blocks trained weights that every
    # other command refuses, and a 20-digit seed failed after the data was decoded ("Overflow when unpacking").
    ("batch_size=1000000000", ["config 'batch_size': at most 65,536 (global, over every process)"]),
    ("num_blocks=257", ["config 'num_blocks': at most 256: larger weights would load nowhere"]),
    ("channels=1025", ["config 'channels': at most 1024: larger weights would load nowhere"]),
    ("seed=99999999999999999999", ["config 'seed': must be below 2**63 (torch's seeds are 64-bit)"]),
]


@pytest.mark.parametrize("override, needles", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_override_is_refused_before_work(cli, train_data, tmp_path, override, needles):
    run = tmp_path / "run"
    only_error(cli(*train_args(train_data, run, override)), *needles)
    assert not run.exists()



@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_out_dir_that_cannot_be_made_is_named(cli, train_data, tmp_path):
    """It was "[Errno 2] No such file or directory: '/proc/srgan-no-such-run'", not saying which setting it was."""
    only_error(cli(*train_args(train_data, tmp_path / "run", "out_dir=/proc/srgan-no-such-run")),
               "config 'out_dir': cannot create /proc/srgan-no-such-run (No such file or directory)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, needles", [
    ('phase = "mse"\nlearning_rate = 1e-4\n', ["unknown key 'learning_rate' (did you mean 'lr'?)"]),
    ('phase = "mse"\nseed = "zero"\n', ["'seed' must be int, got str 'zero'"]),
    ('phase = "mse"\nbatch_size = \n', ["not valid TOML"]),
], ids=["unknown key", "wrong type", "not TOML"])
def test_bad_config_file_is_named(cli, train_data, tmp_path, text, needles):
    config = tmp_path / "my run.toml"
    config.write_text(text)
    args = train_args(train_data, tmp_path / "run")
    args[args.index("smoke")] = config
    only_error(cli(*args), os.fspath(config), *needles)
    assert not (tmp_path / "run").exists()



def test_config_from_a_pipe_is_read_and_a_folder_is_named(cli, train_data, tmp_path):
    """``--config <(...)`` (bash gives a pipe, /dev/fd/N) and a folder both used to say "not found"."""
    import threading

    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text('phase = "mse"\nseed = "zero"\n'), daemon=True)
    writer.start()
    args = train_args(train_data, tmp_path / "run")
    args[args.index("smoke")] = pipe
    only_error(cli(*args), os.fspath(pipe), "'seed' must be int, got str 'zero'")  # read: its error, not "not found"
    writer.join(5)
    args[args.index(pipe)] = tmp_path
    only_error(cli(*args), f"config '{tmp_path}' is a folder, not a config file (bundled configs: ")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, needles", [
    ("scale=2", ["the config differs from last.pt's in scale (4 -> 2)"]),
    ("scale=3", ["config 'scale': must be one of (2, 4, 8) (got 3)"]),
    ("channels=16", ["the config differs from last.pt's in channels (8 -> 16)"]),
    ("steps=4", ["last.pt is at step 4, already >= steps=4", "raise steps"]),
], ids=["scale=2", "scale=3", "channels=16", "steps=4"])
def test_resume_with_an_impossible_config(cli, train_data, trained_run, tmp_path, override, needles):
    """Resuming an x4 run as x2 (or x3, or wider): refused before the dataset or model is touched."""
    run = copy_run(trained_run, tmp_path / "run")
    before = snapshot(run)
    only_error(cli(*train_args(train_data, run, "steps=8", override, resume="last")), *needles)
    assert snapshot(run) == before


def test_fresh_run_into_a_folder_with_checkpoints(cli, train_data, trained_run, tmp_path):
    """Starting over in a run folder would write over its checkpoints: refused, nothing changes."""
    run = copy_run(trained_run, tmp_path / "run")
    before = snapshot(run)
    only_error(cli(*train_args(train_data, run)), f"out_dir {run} already holds checkpoints", "--resume")
    assert snapshot(run) == before



def test_fresh_run_into_a_folder_with_only_the_final_weights(cli, train_data, trained_run, tmp_path):
    """A run folder whose checkpoints were pruned still holds its trained weights and log: refused too."""
    run = copy_run(trained_run, tmp_path / "run")
    for checkpoint in run.glob("*.pt"):
        checkpoint.unlink()
    before = snapshot(run)
    only_error(cli(*train_args(train_data, run)),
               f"out_dir {run} already holds another run's trained generator.safetensors")
    assert snapshot(run) == before

def test_debug_raises_the_real_exception(cli, train_data, tmp_path):
    """``srgan --debug ...`` lets the exception through, so Python prints the full traceback."""
    from srgan.cli import main
    from srgan.config import ConfigError

    args = [str(a) for a in train_args(train_data, tmp_path / "run", "lr=-1")]
    with pytest.raises(ConfigError, match="config 'lr': must be > 0"):
        main(["--debug", *args])
    assert not (tmp_path / "run").exists()
