"""srgan train end to end on a few tiny generated images (smoke config: 2 blocks x 16 channels, 96-px crops)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sigterm import sigterm_when_called
from srgan.checkpoint import load_checkpoint, load_generator
from srgan.cli import main
from srgan.config import ConfigError, load_config
from srgan.train import train
from srgan.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Four 104x112 smooth-ish RGB images (>= the 96-px crop)."""
    folder = tmp_path_factory.mktemp("train_images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:104, 0:112] / 50.0
    for i in range(4):
        planes = [np.sin(xx * (i + 1) + c) * np.cos(yy * (c + 1)) for c in range(3)]
        rgb = (np.stack(planes, -1) * 0.4 + 0.5 + rng.normal(0, 0.03, (104, 112, 3))).clip(0, 1)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def overrides(images, out_dir, *extra):
    return [f"train_data={images}", f"out_dir={out_dir}", "cache=false", "progress=false", "tensorboard=false",
            "device=cpu", *extra]


def mirrored(images, folder):
    """The images flipped left-right into ``folder``: an eval set like the training images that is none of them
    (a copy is refused as training images)."""
    folder.mkdir(parents=True)
    for path in images.iterdir():
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / path.name)
    return folder


def records(out_dir):
    return [json.loads(line) for line in (Path(out_dir) / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def mse_run(images, tmp_path_factory):
    """The smoke config's mse phase, 20 steps, through the CLI."""
    out = tmp_path_factory.mktemp("mse") / "run"
    assert main(["train", "--config", "smoke", *overrides(images, out, "keep_last=1")]) == 0
    return out


def test_mse_phase_end_to_end(mse_run):
    names = sorted(p.name for p in mse_run.iterdir())
    assert names == ["generator.safetensors", "last.pt", "log.jsonl", "step_000020.pt"]  # keep_last=1
    log = records(mse_run)
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    assert all(r["phase"] == "mse" and r["lr"] == 1e-4 and r["s_per_step"] > 0 and r["bad_steps"] == 0
               and np.isfinite(r["loss_g"]) for r in log)
    state = load_checkpoint(mse_run / "last.pt")  # weights_only=True
    assert state["step"] == 20 and state["config"]["num_blocks"] == 2 and isinstance(state["config"], dict)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["generator"])
    g = load_generator(mse_run / "generator.safetensors")
    assert all(torch.equal(v, state["generator"][k]) for k, v in g.state_dict().items())


def test_progress_into_a_pipe_is_a_line_per_record(images, tmp_path, capsys):
    """progress=true (the default) wrote tqdm's carriage-return bars into pipes and log files."""
    run = [a for a in overrides(images, tmp_path / "run", "steps=4", "log_every=2", "batch_size=2")
           if a != "progress=false"]
    assert main(["train", "--config", "smoke", *run]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "srgan train:" not in err
    steps = [line.split(":")[1] for line in err.splitlines() if line.startswith("srgan: step ")]
    assert steps == [" step 2/4", " step 4/4"] and "loss_g " in err


def test_an_existing_out_dir_that_cannot_be_written_is_one_line(images, tmp_path, monkeypatch, capsys):
    """An existing out_dir on a read-only mount gave "[Errno 30] Read-only file system: '<out>/.lock'" (a new one
    on the same mount said it in the config's words)."""
    import errno

    out = tmp_path / "run"
    out.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["train", "--config", "smoke", *overrides(images, out, "steps=1")]) == 1
    assert capsys.readouterr().err == (f"srgan: error: config 'out_dir': cannot write in {out} (Read-only file "
                                       "system)\n")


def test_a_gan_run_too_short_to_decay_its_lr_says_so(mse_run, images, tmp_path, capsys):
    """The bundled gan configs decay at the paper's step 100,000: `--config srgan-mse steps=50000` never decayed,
    without a word."""
    assert main(["train", "--config", "smoke", *overrides(
        images, tmp_path / "gan", "phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=2", "batch_size=2",
        "lr_decay_step=100000")]) == 0
    assert ("srgan: lr_decay_step 100000 is not before steps 2: the learning rate does not decay in this run "
            "(lr_decay_step=0 decays at lr_decay_at x steps)\n") in capsys.readouterr().err
    assert {r["lr"] for r in records(tmp_path / "gan")} == {1e-4}
    assert main(["train", "--config", "smoke", *overrides(
        images, tmp_path / "gan2", "phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=2", "batch_size=2",
        "lr_decay_step=1")]) == 0
    assert "does not decay" not in capsys.readouterr().err
    # 0.5 x 1 step was rounded (half to even) to step 0: a 1-step run trained at the decayed lr throughout
    assert main(["train", "--config", "smoke", *overrides(
        images, tmp_path / "gan3", "phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=1", "batch_size=2")]) == 0
    assert {r["lr"] for r in records(tmp_path / "gan3")} == {1e-4}


def test_gan_phase_from_mse_checkpoint(mse_run, images, tmp_path, capsys):
    out = tmp_path / "gan"
    reported = mirrored(images, tmp_path / images.name)
    assert main(["train", "--config", "smoke", *overrides(
        images, out, "phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=4", "batch_size=2",
        "checkpoint_every=4", "log_every=1", "eval_every=4", f"eval_data={reported}")]) == 0
    assert "gan-phase checkpoint" not in capsys.readouterr().err
    # a gan checkpoint as a start gives its generator, not its D: said, where it was silent
    assert main(["train", "--config", "smoke", *overrides(
        images, tmp_path / "again", "phase=gan", f"init_from={out / 'last.pt'}", "steps=1", "batch_size=2")]) == 0
    err = capsys.readouterr().err
    assert (f"init_from {out / 'last.pt'} is a gan-phase checkpoint: its generator is the start, its discriminator "
            "and optimizers are not") in err
    # the run's last line says where its weights are (it ended on the progress bar, without a word)
    again = tmp_path / "again"
    assert err.splitlines()[-1] == (f"srgan: done: step 1; weights in {again / 'generator.safetensors'}, checkpoint "
                                    f"{again / 'last.pt'}")
    assert sorted(p.name for p in out.glob("*.pt")) == ["last.pt", "step_000004.pt"]
    log = [r for r in records(out) if "eval" not in r]
    assert [r["lr"] for r in log] == [1e-4, 1e-4, 1e-5, 1e-5]  # lr_decay_at=0.5, lr_decay=0.1
    for r in log:
        assert 0 < r["d_hr"] < 1 and 0 < r["d_sr"] < 1 and r["loss_d"] > 0
        assert r["loss_g"] == pytest.approx(r["content"] + 1e-3 * r["adversarial"], rel=1e-5)
    evals = [r for r in records(out) if "eval" in r]
    assert len(evals) == 1 and set(evals[0]["eval"]) == {f"{images.name}_psnr", f"{images.name}_ssim"}
    grid = np.asarray(Image.open(out / "samples" / "step_000004.png"))
    assert grid.shape[1] > 3 * grid.shape[0] - 20  # bicubic | SR | HR side by side
    start = load_checkpoint(mse_run / "last.pt")["generator"]
    state = load_checkpoint(out / "last.pt")
    assert {"discriminator", "optimizer_d", "scheduler_d"} <= set(state)
    assert not torch.equal(state["generator"]["head.0.weight"], start["head.0.weight"])  # started there, moved on



def test_sample_grid_is_bicubic_then_sr_then_hr():
    from srgan.imresize import imresize
    from srgan.runlog import sample_grid

    torch.manual_seed(0)
    lr, sr, hr = torch.rand(3, 6, 5), torch.rand(3, 24, 20) * 1.2 - 0.1, torch.rand(3, 24, 20)
    grid = sample_grid(lr, sr, hr, gap=4)
    assert grid.shape == (24, 3 * 20 + 2 * 4, 3)
    hwc = lambda t: t.permute(1, 2, 0).numpy()  # noqa: E731
    np.testing.assert_array_equal(grid[:, :20], hwc(imresize(lr, 4).clamp(0, 1)))
    np.testing.assert_array_equal(grid[:, 24:44], hwc(sr.clamp(0, 1)))
    np.testing.assert_array_equal(grid[:, 48:], hwc(hr))
    assert (grid[:, 20:24] == 1).all() and (grid[:, 44:48] == 1).all()  # white gaps


def test_run_log_closes_its_log_when_tensorboard_fails(tmp_path, monkeypatch):
    """A SummaryWriter (or tqdm) that raises in RunLog's constructor: log.jsonl is closed again (it used to stay
    open, unreachable) and the fresh run leaves no empty log behind."""
    import types

    from srgan import runlog

    def broken_writer(*args, **kwargs):
        raise RuntimeError("no tensorboard today")

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=broken_writer))
    opened = []

    def tracking_open(*args, **kwargs):
        opened.append(open(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(runlog, "open", tracking_open, raising=False)
    with pytest.raises(RuntimeError, match="no tensorboard today"):
        runlog.RunLog(tmp_path / "run", total=10, tensorboard=True, progress=False)
    assert len(opened) == 1 and opened[0].closed
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_gan_phase_with_the_grid_loss(mse_run, images, tmp_path):
    """grid_weight adds the sub-pixel grid term to G's loss: loss_g is then more than content + 1e-3 adversarial."""
    out = tmp_path / "gan-grid"
    assert main(["train", "--config", "smoke", *overrides(
        images, out, "phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=2", "batch_size=2",
        "checkpoint_every=2", "log_every=1", "grid_weight=100")]) == 0
    logged = records(out)
    assert len(logged) == 2  # log_every=1
    for r in logged:  # the grid term is logged (it had to be backed out of loss_g by hand)
        assert r["loss_g"] > (r["content"] + 1e-3 * r["adversarial"]) * (1 + 1e-4)
        assert r["loss_g"] == pytest.approx(r["content"] + 1e-3 * r["adversarial"] + 100 * r["grid"], rel=1e-5)


def _assert_same_state(a, b):
    for key in ("generator", "discriminator"):
        if key in a:
            assert a[key].keys() == b[key].keys()
            for name, tensor in a[key].items():
                assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs"
    assert a["optimizer_g"]["state"].keys() == b["optimizer_g"]["state"].keys()
    for i, s in a["optimizer_g"]["state"].items():
        assert all(torch.equal(v, b["optimizer_g"]["state"][i][k]) for k, v in s.items())


@pytest.mark.parametrize("phase", ["mse", "gan"])
def test_resume_is_exact(phase, mse_run, images, tmp_path):
    """N steps straight vs N/2 + resume + N/2 (fp32): identical weights and optimizer state."""
    extra = ["steps=20", "checkpoint_every=10", "keep_last=5"] if phase == "mse" else \
        ["phase=gan", f"init_from={mse_run / 'last.pt'}", "steps=2", "batch_size=2", "checkpoint_every=1",
         "keep_last=5"]
    half = "step_000010.pt" if phase == "mse" else "step_000001.pt"  # gan: lr decays at step 1, too
    straight = tmp_path / "straight"
    train(load_config("smoke", overrides(images, straight, *extra)))
    resumed = tmp_path / "resumed"
    summary = train(load_config("smoke", overrides(images, resumed, *extra)), resume=str(straight / half))
    assert summary["step"] == load_checkpoint(straight / "last.pt")["step"]
    _assert_same_state(load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt"))


def test_a_config_built_in_python_is_checked_and_resume_true_is_last(images, tmp_path):
    """train() took a TrainConfig as built: phase="GAN" trained an SRResNet logged as a GAN phase, batch_size=0
    failed with an IndexError in the loader, a str train_data was read letter by letter; resume=True was a
    pathlib TypeError; a pathlib.Path value was refused (before, saved into a last.pt that could not be resumed)."""
    from srgan.config import TrainConfig

    base = {**load_config("smoke", overrides(images, tmp_path / "run")).to_dict(), "steps": 2}
    for bad, message in [({"phase": "GAN"}, "config 'phase': must be 'mse' or 'gan' (got 'GAN')"),
                         ({"batch_size": 0}, "config 'batch_size': must be positive"),
                         ({"lr": "1e-4"}, "'lr' must be float, got str '1e-4'")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            train(TrainConfig(**{**base, **bad}))
    assert not (tmp_path / "run").exists()
    # a str or a Path is one folder; Paths are taken for strs (they were refused, or saved into an unloadable last.pt)
    assert train(TrainConfig(**{**base, "train_data": images, "out_dir": tmp_path / "run"}))["step"] == 2
    assert train(TrainConfig(**{**base, "steps": 3}), resume=True)["step"] == 3
    with pytest.raises(TypeError, match="resume takes a checkpoint, a run folder, 'last' or True, got 3"):
        train(TrainConfig(**base), resume=3)
    for precision in ("auto", "fp32"):  # a str was an AttributeError
        assert Trainer(TrainConfig(**{**base, "precision": precision}), "cpu").device == torch.device("cpu")


def test_lr_decay_step_survives_resume_with_other_steps(mse_run, images, tmp_path):
    """Issue 10: the decay step was a fraction of `steps`, so raising `steps` on resume moved it (lr back to 1e-4)."""
    gan = ["phase=gan", f"init_from={mse_run / 'last.pt'}", "batch_size=2", "log_every=1", "checkpoint_every=1",
           "keep_last=5"]
    first = tmp_path / "first"
    train(load_config("smoke", overrides(images, first, *gan, "steps=4")))  # decays at round(0.5 * 4) = 2
    assert [r["lr"] for r in records(first)] == [1e-4, 1e-4, 1e-5, 1e-5]
    assert load_checkpoint(first / "last.pt")["lr_decay_step"] == 2
    after = tmp_path / "after"  # resumed after the decay with more steps: lr stays decayed (was back up at step 5)
    train(load_config("smoke", overrides(images, after, *gan, "steps=10")), resume=str(first / "step_000003.pt"))
    assert [(r["step"], r["lr"]) for r in records(after)] == [(s, 1e-5) for s in range(4, 11)]
    before = tmp_path / "before"  # resumed before it: still decays at step 2, not at round(0.5 * 8) = 4
    train(load_config("smoke", overrides(images, before, *gan, "steps=8")), resume=str(first / "step_000001.pt"))
    assert [r["lr"] for r in records(before)] == [1e-4] + [1e-5] * 6
    assert load_checkpoint(before / "last.pt")["lr_decay_step"] == 2
    explicit = tmp_path / "explicit"
    train(load_config("smoke", overrides(images, explicit, *gan, "steps=4", "lr_decay_step=3")))
    assert [r["lr"] for r in records(explicit)] == [1e-4, 1e-4, 1e-4, 1e-5]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A training pool with the validation split: BSDS500_test200/ (the 20 split files + 2 others) and one
    more folder of 2 images; 104x200 textured JPEGs (NIQE needs two 96-px blocks of the shaved SR)."""
    from srgan.validation import VALIDATION_FOLDER, VALIDATION_IDS

    root = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:104, 0:200] / 9.0
    names = [f"{VALIDATION_FOLDER}/{i}.jpg" for i in (*VALIDATION_IDS, "100039", "100099")] + ["T9/a.jpg", "T9/b.jpg"]
    for k, name in enumerate(names):
        planes = [np.sin(xx * (1 + k % 5) + c) * np.cos(yy * (c + 1) + k) for c in range(3)]
        rgb = (np.stack(planes, -1) * 0.35 + 0.5 + rng.normal(0, 0.06, (104, 200, 3))).clip(0, 1)
        (root / name).parent.mkdir(exist_ok=True)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(root / name, quality=90)
    return root


def test_validation_split_held_out_and_scored(pool, tmp_path, capsys):
    """Issue 10 item 4: the split is never trained on, and val_psnr/val_ssim/val_niqe are logged."""
    from srgan.benchmark_sets import BenchmarkSet
    from srgan.evaluate import evaluate, super_resolve
    from srgan.niqe import niqe
    from srgan.validation import VALIDATION_FOLDER, VALIDATION_IDS

    out = tmp_path / "run"
    assert main(["train", "--config", "smoke", *overrides(pool, out, "steps=2", "batch_size=2", "eval_every=2",
                                                          "checkpoint_every=2", "val_data=pool")]) == 0
    assert "4 training images (20 validation images held out)" in capsys.readouterr().err
    evals = [r["eval"] for r in records(out) if "eval" in r]
    assert len(evals) == 1 and set(evals[0]) == {"val_psnr", "val_ssim", "val_niqe"}
    # the same numbers as srgan eval on the split, and NIQE of the same SR outputs
    val = BenchmarkSet(pool / VALIDATION_FOLDER, 4, names=VALIDATION_IDS)
    assert [name for name, _ in val.items] == sorted(VALIDATION_IDS)
    # in the layout training scored it in (channels_last): on AVX2 CPUs the NCHW convolutions sum in another
    # order, 5e-8 dB away
    g = load_generator(out / "generator.safetensors").to(memory_format=torch.channels_last)
    reference = evaluate(g, [val])[VALIDATION_FOLDER]
    assert evals[0]["val_psnr"] == pytest.approx(reference["psnr"], abs=1e-9)
    assert evals[0]["val_ssim"] == pytest.approx(reference["ssim"], abs=1e-9)
    niqes = [niqe(super_resolve(g.eval(), lr, "cpu"), border=4) for _, lr, _ in val]
    assert evals[0]["val_niqe"] == pytest.approx(np.mean(niqes), abs=1e-9) and 2 < evals[0]["val_niqe"] < 50
    # an eval set called val is logged beside the validation split: its scores replaced the split's (and val_niqe
    # went missing), so checkpoints chosen by val_psnr were chosen on the test set
    mirrored(pool / "T9", tmp_path / "val")
    again = tmp_path / "again"
    train(load_config("smoke", overrides(pool, again, "steps=2", "batch_size=2", "eval_every=2", "val_data=pool",
                                         f"eval_data={tmp_path / 'val'}")))
    (logged,) = [r["eval"] for r in records(again) if "eval" in r]
    assert {"val_psnr", "val_ssim", "val_niqe", "val#2_psnr", "val#2_ssim"} <= set(logged)
    assert logged["val_psnr"] == pytest.approx(evals[0]["val_psnr"], abs=1e-9)
    # a pool without the split is refused before any work
    with pytest.raises(ConfigError, match="val_data.*no BSDS500_test200"):
        train(load_config("smoke", overrides(pool / "T9", tmp_path / "none", "val_data=pool")))
    assert not (tmp_path / "none").exists()


def test_a_benchmark_as_val_data_is_warned_about(shared_data, caplog):
    """val_data=Set5 was taken without a word: checkpoints chosen by val_psnr were then chosen on the test set."""
    import logging

    from srgan.validation import validation_set

    with caplog.at_level(logging.WARNING, logger="srgan"):
        validation_set(str(shared_data / "benchmarks" / "Set5"), [], 4, scored=False)
    assert ("val_data Set5 is a benchmark set: checkpoints chosen by its numbers are chosen on the test set"
            in caplog.text)


def test_sigterm_saves_then_resume_continues(images, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "srgan", "train", "--config", "smoke",
                             *overrides(images, out, "steps=100000", "checkpoint_every=100000", "log_every=1")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120  # startup alone can take most of a minute on a loaded 2-core runner
        while not ((out / "log.jsonl").is_file() and len((out / "log.jsonl").read_text().splitlines()) >= 2):
            assert time.time() < deadline and proc.poll() is None, "training never logged two steps"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped by SIGTERM" in stderr and "--resume" in stderr
    state = load_checkpoint(out / "last.pt")
    assert state["step"] >= 2 and state["step"] == records(out)[-1]["step"]
    summary = train(load_config("smoke", overrides(images, out, f"steps={state['step'] + 2}")), resume="last")
    assert summary["step"] == state["step"] + 2 and summary["stopped_by"] is None


def test_sigterm_while_the_data_is_decoded_interrupts_and_releases_the_lock(images, tmp_path, monkeypatch):
    """Before the loop, SIGTERM killed the run (exit 143) and left out_dir/.lock naming a dead process."""
    import srgan.data

    out = tmp_path / "run"
    with sigterm_when_called(monkeypatch, srgan.data, "TrainDataset"), pytest.raises(KeyboardInterrupt):
        train(load_config("smoke", overrides(images, out)))
    assert not out.exists()  # neither the lock file nor the folder made for it is left


def test_nan_steps_are_skipped_counted_then_stop(images, tmp_path, monkeypatch, capsys):
    """NaN batches: one is skipped and counted; max_bad_steps=3 in a row stops with last.pt intact."""
    original = Trainer.train_step
    poisoned = {2} | set(range(5, 100))  # step indices whose batch is NaN

    def step_with_nan(self, lr, hr):
        if self.step in poisoned:
            lr = torch.full_like(lr, float("nan"))
        return original(self, lr, hr)

    monkeypatch.setattr(Trainer, "train_step", step_with_nan)
    out = tmp_path / "run"
    code = main(["train", "--config", "smoke", *overrides(images, out, "steps=12", "checkpoint_every=4",
                                                          "log_every=1", "max_bad_steps=3")])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 steps in a row had a non-finite loss" in err and "stopped at step 8" in err
    assert "step 3: non-finite loss" in err
    log = records(out)
    assert [r["bad_steps"] for r in log] == [0, 0, 1, 1, 1, 2, 3, 4]
    assert "loss_g" not in log[2]  # a bad step's loss is not averaged into the log
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == 4 and sorted(p.name for p in out.glob("step_*.pt")) == ["step_000004.pt"]
    # the skipped step left no NaN behind, BatchNorm running statistics included
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())


def test_refuses_to_overwrite_an_existing_run(images, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "step_000010.pt").write_bytes(b"precious")
    assert main(["train", "--config", "smoke", *overrides(images, out)]) == 1
    assert "already holds checkpoints" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["step_000010.pt"]
    assert (out / "step_000010.pt").read_bytes() == b"precious"


@pytest.mark.parametrize("extra, message", [
    (["steps=ten"], "'steps' must be int"),
    (["train_data=/no/such/folder"], "not found: /no/such/folder"),
    (["train_data=no/such"], "not found: no/such (looked for /"),  # relative: where it led from here
    # its sample grids became training images, and a resume then said the training images had changed
    (["out_dir=TRAIN/run"], "'out_dir': TRAIN/run is inside train_data TRAIN: the run's sample images would become "
                            "training images"),
    (["train_data="], "non-empty paths"),
    (["out_dir="], "'out_dir': must be a non-empty path"),  # it used to train into the current folder
    (["phase=gan"], "init_from"),
    # it said "/no/such.pt: no such weights file", naming no key (the bundled gan configs default to a path)
    (["phase=gan", "init_from=/no/such.pt"], "config 'init_from': /no/such.pt: no such file; train the SRResNet "
                                             "first (phase mse), or pass init_from=PATH (init_from=srresnet: the shipped weights)"),
    (["batch_size=4", "grad_accum=3"], "multiple of grad_accum"),
    (["phase=gan", "crop_size=64"], "crops of >= 96"),
    (["eval_data=/tmp"], "'eval_data': is scored every eval_every steps, and eval_every is 0 (never)"),  # was silent
    (["eval_every=2", "eval_data=/no/such"], "'eval_data': /no/such: no such folder, and not a benchmark name"),
    (["eval_every=2", "eval_data=TRAIN"], "'eval_data': 4 HR image(s) of train_images0 are in train_data (e.g. "),
    (["crop_size=12"], "'crop_size': LR patches must be at least 4 px: crop_size >= 16 at scale 4 (got 12)"),
    (["scale=2", "crop_size=8", "content_loss=vgg54"], "vgg54 reads VGG19 after 4 poolings: crop_size >= 16 (got 8)"),
])
def test_config_errors_before_any_work(extra, message, images, tmp_path, capsys):
    out = tmp_path / "run"
    extra = [e.replace("TRAIN", str(images)) for e in extra]
    assert main(["train", "--config", "smoke", *overrides(images, out), *extra]) == 1
    assert message.replace("TRAIN", str(images)) in capsys.readouterr().err
    assert not out.exists() and not (images / "run").exists()


def test_a_bad_eval_or_val_lr_is_found_before_training(images, tmp_path, capsys):
    """A wrong-size LR in eval_data or val_data failed at the first evaluation: after eval_every steps of training,
    with nothing saved when it came before the first checkpoint."""
    for folder in ("HR", "LR_bicubic_x4"):
        (tmp_path / "Set" / folder).mkdir(parents=True)
    for i in range(2):  # 200 x 112: large enough for NIQE (val_data)
        image = Image.open(images / f"img{i}.png")
        image.resize((200, 112)).save(tmp_path / "Set" / "HR" / f"img{i}.png")
        image.resize((50 - i, 28)).save(tmp_path / "Set" / "LR_bicubic_x4" / f"img{i}.png")
    train = shutil.copytree(images, tmp_path / "train")
    for key in ("eval_data", "val_data"):
        out = tmp_path / key
        assert main(["train", "--config", "smoke", *overrides(train, out, "eval_every=2", f"{key}={tmp_path / 'Set'}",
                                                              "steps=4")]) == 1
        err = capsys.readouterr().err
        assert f"config '{key}': {tmp_path / 'Set' / 'LR_bicubic_x4' / 'img1.png'}: LR is 49x28 but the HR" in err
        assert not out.exists()


def test_eval_data_held_out_as_val_data_may_be_reported(images, tmp_path):
    """The overlap check ignored the hold-out: val_data=pool/val eval_data=pool/val was refused as "measured on
    training images", which they are not."""
    from srgan.runstart import check_config

    pool = tmp_path / "pool"
    shutil.copytree(images, pool / "train")
    (pool / "val").mkdir()
    for i in range(2):
        Image.open(images / f"img{i}.png").resize((200, 112)).save(pool / "val" / f"v{i}.png")
    config = load_config("smoke", overrides(pool, tmp_path / "run", "eval_every=2", f"val_data={pool / 'val'}",
                                            f"eval_data={pool / 'val'}"))
    val_set, (reported,) = check_config(config)
    assert len(val_set) == len(reported) == 2


def test_an_unreadable_validation_image_names_val_data(images, tmp_path):
    """Training skips an unreadable file with a warning; the same file in val_data stopped the run with an error
    that named the file only, not the key."""
    from srgan.config import ConfigError
    from srgan.runstart import check_config

    val = tmp_path / "val"
    val.mkdir()
    Image.open(images / "img0.png").resize((200, 112)).save(val / "v0.png")
    (val / "readme.png").write_text("not an image")
    config = load_config("smoke", overrides(images, tmp_path / "run", "eval_every=2", f"val_data={val}"))
    with pytest.raises(ConfigError, match=rf"^config 'val_data': {val / 'readme.png'}: "):
        check_config(config)


def test_copies_of_validation_or_eval_images_in_train_data_are_refused(images, tmp_path, capsys):
    """The overlap check compared files by identity: a copied validation folder inside train_data was trained on,
    and train_data = a copy of a set's HR images with eval_data = that set reported numbers on training images."""
    val = tmp_path / "val"
    val.mkdir()
    for i in range(2):  # large enough for NIQE
        Image.open(images / f"img{i}.png").resize((200, 112)).save(val / f"v{i}.png")
    pool = shutil.copytree(images, tmp_path / "pool")
    shutil.copytree(val, pool / "val_copy")
    out = tmp_path / "run"
    for key in ("val_data", "eval_data"):
        argv = overrides(pool, out, "eval_every=2", f"{key}={val}")
        assert main(["train", "--config", "smoke", *argv]) == 1
        assert capsys.readouterr().err == (
            f"srgan: error: config '{key}': 2 HR image(s) of val are in train_data (e.g. {pool / 'val_copy' / 'v0.png'}"
            f", a copy of {val / 'v0.png'}): its numbers would be measured on training images; "
            f"{'validate' if key == 'val_data' else 'report'} on other images, or take them out of train_data before "
            "a run starts (a resumed run keeps its training images)\n")
        assert not out.exists()
    (pool / "val_copy" / "v1.png").unlink()
    Image.open(val / "v0.png").save(pool / "val_copy" / "v0.png", compress_level=0)  # re-encoded: not a copy
    assert main(["train", "--config", "smoke", *overrides(pool, out, "steps=1", f"val_data={val}")]) == 0


def test_eval_data_takes_a_benchmark_name(images, tmp_path, monkeypatch):
    """eval_data=Set5 is looked up as `srgan eval --data Set5` does; it was "not found: Set5"."""
    mirrored(images, tmp_path / "root" / "benchmarks" / "Set5")
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "root"))
    out = tmp_path / "run"
    assert main(["train", "--config", "smoke", *overrides(images, out, "steps=2", "batch_size=2", "log_every=1",
                                                          "eval_every=2", "eval_data=set5")]) == 0
    evals = [r["eval"] for r in records(out) if "eval" in r]
    assert len(evals) == 1 and set(evals[0]) == {"Set5_psnr", "Set5_ssim"} and evals[0]["Set5_psnr"] > 10


def test_out_dir_that_is_a_file_is_a_config_error(images, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["train", "--config", "smoke", *overrides(images, notes)]) == 1  # was "[Errno 17] File exists"
    assert capsys.readouterr().err == f"srgan: error: config 'out_dir': {notes} is a file, not a run folder\n"
    assert notes.read_text() == "mine"
    assert main(["train", "--config", "smoke", *overrides(images, notes / "run")]) == 1
    assert capsys.readouterr().err == f"srgan: error: config 'out_dir': {notes} is a file, so {notes / 'run'} cannot be made\n"



def test_mse_phase_fine_tunes_from_init_from(mse_run, images, tmp_path):
    """init_from was ignored in the mse phase, even when the file did not exist."""
    start = load_generator(mse_run / "generator.safetensors").state_dict()
    out = tmp_path / "tuned"
    summary = train(load_config("smoke", overrides(images, out, f"init_from={mse_run / 'generator.safetensors'}",
                                                   "steps=1", "lr=1e-12")))
    assert summary["step"] == 1
    tuned = load_checkpoint(out / "last.pt")["generator"]
    assert all(torch.allclose(tuned[k].float(), v.float(), atol=1e-6) for k, v in start.items()
               if "num_batches_tracked" not in k and "running" not in k)  # one step of lr 1e-12: the start
    with pytest.raises(ConfigError, match="^config 'init_from': /no/such.safetensors: no such file"):
        train(load_config("smoke", overrides(images, tmp_path / "none", "init_from=/no/such.safetensors")))


def test_validation_images_too_small_for_niqe_are_refused_before_work(images, tmp_path, capsys):
    """They used to fail at the first evaluation, losing the steps trained since the last checkpoint."""
    small = tmp_path / "val"
    small.mkdir()
    Image.fromarray(np.zeros((120, 120, 3), np.uint8)).save(small / "a.png")
    out = tmp_path / "run"
    assert main(["train", "--config", "smoke", *overrides(images, out, f"val_data={small}", "eval_every=2")]) == 1
    assert "config 'val_data': " in (err := capsys.readouterr().err) and "a.png: 120x120 is too small to validate on" in err
    assert not out.exists()
    assert main(["train", "--config", "smoke", *overrides(images, out, f"val_data={small}", "eval_every=0",
                                                          "steps=1")]) == 0  # only held out: nothing to score
    assert ("srgan: val_data is held out of training but never scored: eval_every is 0 (set eval_every=N to "
            "validate)") in capsys.readouterr().err  # it said nothing


def test_a_val_data_folder_reached_through_a_link_is_held_out_too(images, tmp_path, capsys):
    """hold_out_rule compared abspath prefixes: with val_data (or train_data) spelled through a symbolic link, the
    validation images inside train_data were trained on (and every val_psnr was measured on training images)."""
    pool = tmp_path / "pool"
    shutil.copytree(images, pool / "train")
    val = pool / "val"
    val.mkdir()
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(val / "v.png")
    (tmp_path / "val_link").symlink_to(val)
    (tmp_path / "pool_link").symlink_to(pool)
    raw = tmp_path / "raw"  # and a val folder of links to files elsewhere (the fix's first form trained on them)
    raw.mkdir()
    Image.fromarray(np.full((200, 200, 3), 60, np.uint8)).save(raw / "w.png")
    (val / "w.png").symlink_to(raw / "w.png")
    for train_data, val_data in ((pool, val), (pool, tmp_path / "val_link"), (tmp_path / "pool_link", val)):
        out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
        assert main(["train", "--config", "smoke", *overrides(train_data, out, f"val_data={val_data}", "steps=1")]) == 0
        assert "4 training images (2 validation images held out)" in capsys.readouterr().err, (train_data, val_data)


def test_resume_from_another_working_folder_and_after_a_move(images, tmp_path, monkeypatch):
    """train_data=data was compared on --resume only against the resuming shell's folder: from anywhere else even
    the run's own folder by its absolute path was refused. The checkpoint now keeps the folders the run started
    with ("paths"); a project moved with its data still resumes by its relative spelling."""
    home = tmp_path / "proj"
    shutil.copytree(images, home / "data")
    monkeypatch.chdir(home)
    train(load_config("smoke", overrides("data", "run", "steps=2")))
    state = load_checkpoint(home / "run" / "last.pt")
    assert state["config"]["train_data"] == ["data"] and state["paths"]["train_data"] == [str(home / "data")]
    moved = tmp_path / "moved"
    home.rename(moved)
    monkeypatch.chdir(moved)
    assert train(load_config("smoke", overrides("data", "run", "steps=4")), resume="last")["step"] == 4
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="train_data"):  # not the run's folder from here
        train(load_config("smoke", overrides("data", moved / "run", "steps=6")), resume="last")
    assert train(load_config("smoke", overrides(moved / "data", moved / "run", "steps=6")), resume="last")["step"] == 6


def test_resume_with_the_checkpoints_own_config(images, tmp_path, monkeypatch, capsys):
    """`srgan train --resume CKPT` needed --config and the run's overrides again, though the checkpoint stores its
    config. Without --config the stored one is used (overrides on top), out_dir is the checkpoint's folder, a run
    folder means its last.pt, and a relative train_data is the folder the run started with."""
    home = tmp_path / "proj"
    shutil.copytree(images, home / "data")
    monkeypatch.chdir(home)
    run = ["steps=20", "checkpoint_every=10", "keep_last=5", "batch_size=4", "lr=3e-4"]
    assert main(["train", "--config", "smoke", *overrides("data", "straight", *run)]) == 0
    assert main(["train", "--config", "smoke", *overrides("data", "resumed", *run[1:], "steps=10")]) == 0
    monkeypatch.chdir(tmp_path)  # "data" names nothing here: the folder the run started with is used
    assert main(["train", "--resume", "proj/resumed/step_000010.pt", "steps=15"]) == 0
    assert main(["train", "--resume", "proj/resumed", "steps=20"]) == 0
    assert "out_dir proj/resumed" in capsys.readouterr().err
    _assert_same_state(load_checkpoint(home / "straight" / "last.pt"), load_checkpoint(home / "resumed" / "last.pt"))
    assert load_checkpoint(home / "resumed" / "last.pt")["config"]["lr"] == 3e-4
    assert main(["train", "--resume", "proj/resumed", "steps=22", "batch_size=2"]) == 1  # still checked
    assert "differs from last.pt's in batch_size (4 -> 2)" in capsys.readouterr().err
    for argv in (["train"], ["train", "--resume"], ["train", "--resume", "steps=30"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert "required: --config (or --resume CKPT|RUN_DIR, which continues with the config stored in the " \
               "checkpoint)" in capsys.readouterr().err


def test_a_training_folder_called_pool_resumes_from_elsewhere(images, tmp_path, monkeypatch):
    """"pool" is val_data's word for the held-out split; a train_data folder of that name was taken for the word,
    kept unresolved, and the run could not be resumed from another working folder ("not found: pool")."""
    shutil.copytree(images, tmp_path / "proj" / "pool")
    monkeypatch.chdir(tmp_path / "proj")
    assert main(["train", "--config", "smoke", *overrides("pool", "run", "steps=2", "batch_size=2")]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", "proj/run", "steps=3"]) == 0
    assert load_checkpoint(tmp_path / "proj" / "run" / "last.pt")["step"] == 3


def test_two_branches_from_one_step_keep_their_own_abandoned_files(images, tmp_path):
    """A second resume from the same older checkpoint moved its branch into the first branch's
    abandoned-after-step-N folder: that branch's last.pt, weights, log and same-numbered checkpoints were replaced."""
    run = tmp_path / "run"
    every = ["checkpoint_every=2", "log_every=1", "keep_last=5", "batch_size=2"]
    train(load_config("smoke", overrides(images, run, *every, "steps=6")))
    train(load_config("smoke", overrides(images, run, *every, "steps=5")), resume=str(run / "step_000002.pt"))
    train(load_config("smoke", overrides(images, run, *every, "steps=3")), resume=str(run / "step_000002.pt"))
    first, second = run / "abandoned-after-step-000002", run / "abandoned-after-step-000002-2"
    assert sorted(p.name for p in first.glob("*.pt")) == ["last.pt", "step_000004.pt", "step_000006.pt"]
    assert load_checkpoint(first / "last.pt")["step"] == 6 and records(first)[-1]["step"] == 6
    assert sorted(p.name for p in second.glob("*.pt")) == ["last.pt", "step_000004.pt", "step_000005.pt"]
    assert load_checkpoint(second / "last.pt")["step"] == 5 and records(second)[-1]["step"] == 5
    assert [r["step"] for r in records(run)] == [1, 2, 3]


def test_another_runs_checkpoint_copied_into_a_run_folder_is_refused(images, tmp_path):
    """The "out_dir holds another run" check looked only at checkpoints outside out_dir: one copied into a run's
    folder resumed there, pruned that run's checkpoints, replaced its last.pt and mixed the two logs."""
    every = ["checkpoint_every=2", "log_every=2", "batch_size=2", "steps=4"]
    here, other = tmp_path / "here", tmp_path / "other"
    train(load_config("smoke", overrides(images, here, *every)))
    train(load_config("smoke", overrides(images, other, *every, "seed=1")))
    shutil.copy(other / "step_000004.pt", here / "from_other.pt")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in here.iterdir())
    with pytest.raises(ConfigError, match=f"--resume: {here / 'from_other.pt'} is a checkpoint of another run than "
                                          f"the one in {here}: resuming it there would prune"):
        train(load_config("smoke", overrides(images, here, *every, "seed=1", "steps=8")),
              resume=str(here / "from_other.pt"))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in here.iterdir()) == before
    # its own older checkpoint resumes there, and the copy resumes into a folder of its own
    assert train(load_config("smoke", overrides(images, here, *every, "steps=6")),
                 resume=str(here / "step_000002.pt"))["step"] == 6
    branch = train(load_config("smoke", overrides(images, tmp_path / "new", *every, "seed=1", "steps=6")),
                   resume=str(here / "from_other.pt"))
    assert branch["step"] == 6


def test_resume_errors_say_what_to_do(mse_run, images, tmp_path, capsys):
    """What a walkthrough met: generator weights and non-checkpoints got a hint about safetensors extensions (or
    none), a run folder without last.pt did not point at its step files, and a refused override said "resume with
    the run's own config" to someone already using it."""
    from safetensors.torch import save_file

    weights = tmp_path / "g.safetensors"
    save_file(load_generator(mse_run / "last.pt").state_dict(), weights)
    torch.save(load_generator(mse_run / "last.pt").state_dict(), tmp_path / "g.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    no_last = shutil.copytree(mse_run, tmp_path / "no_last")
    (no_last / "last.pt").unlink()
    cases = [(weights, f"--resume: {weights} holds generator weights, not a training run; start a new run from them "
                       "(init_from=PATH)"),
             (tmp_path / "g.pt", "holds generator weights, not a training run"),
             (tmp_path / "notes.pt", f"--resume: {tmp_path / 'notes.pt'}: cannot load checkpoint: not a torch.save "
                                     "file\n"),
             (no_last, f"--resume: no checkpoint at {no_last / 'last.pt'}; its newest is "
                       f"{no_last / 'step_000020.pt'}: --resume {no_last / 'step_000020.pt'}")]
    for resume, message in cases:
        assert main(["train", "--resume", str(resume), "steps=30"]) == 1
        assert message in capsys.readouterr().err, resume
    assert main(["train", "--resume", str(no_last / "step_000020.pt"), "steps=30", "batch_size=2"]) == 1
    err = capsys.readouterr().err
    assert ("in batch_size (4 -> 2); a resume keeps them: leave those settings out (--resume without --config uses "
            "the checkpoint's own config), or start a new run from its weights (init_from=...)") in err


def test_resume_refuses_other_training_images(images, tmp_path, monkeypatch):
    """A relative train_data is read from where you stand: another folder of that name passed, as did images changed
    between stop and resume; the batches then differ from the run's (sample i is cut from image i % n)."""
    shutil.copytree(images, tmp_path / "a" / "data")
    monkeypatch.chdir(tmp_path / "a")
    run = tmp_path / "run"
    train(load_config("smoke", overrides("data", run, "steps=2")))
    assert load_checkpoint(run / "last.pt")["data"]["images"] == 4
    shutil.copytree(images, tmp_path / "b" / "data")
    (tmp_path / "b" / "data" / "img0.png").unlink()
    monkeypatch.chdir(tmp_path / "b")
    with pytest.raises(ConfigError, match=r"--resume: the training images in data are not the run's \(4 image "
                                          r"file\(s\) when it was saved, 3 now, or other names or sizes\)"):
        train(load_config("smoke", overrides("data", run, "steps=4")), resume="last")
    shutil.copy(tmp_path / "a" / "data" / "img0.png", tmp_path / "b" / "data")
    Image.open(tmp_path / "b" / "data" / "img1.png").save(tmp_path / "b" / "data" / "img1.png", compress_level=0)
    with pytest.raises(ConfigError, match="4 image file\\(s\\) when it was saved, 4 now"):  # one image changed
        train(load_config("smoke", overrides("data", run, "steps=4")), resume="last")
    monkeypatch.chdir(tmp_path / "a")
    assert train(load_config("smoke", overrides("data", run, "steps=4")), resume="last")["step"] == 4


def test_resume_compares_the_files_not_what_decoding_found(images, tmp_path, monkeypatch, capsys):
    """The cache decodes every file, a run without it reads headers only: with a broken file in the pool, a run
    started with the cache was refused on resuming without it ("4 when it was saved, 5 now"), its data unchanged.
    A checkpoint from before the check resumes, with a note."""
    monkeypatch.setenv("SRGAN_CACHE_DIR", str(tmp_path / "cache"))
    data = shutil.copytree(images, tmp_path / "data")
    png = (data / "img0.png").read_bytes()
    (data / "broken.png").write_bytes(png[:len(png) // 2])  # its header reads, its pixels do not
    run = tmp_path / "run"
    train(load_config("smoke", overrides(data, run, "steps=2", "cache=true")))
    assert train(load_config("smoke", overrides(data, run, "steps=4")), resume="last")["step"] == 4
    state = load_checkpoint(run / "last.pt")
    del state["data"]  # as written before the check
    torch.save(state, run / "last.pt")
    capsys.readouterr()
    assert train(load_config("smoke", overrides(data, run, "steps=6")), resume="last")["step"] == 6
    assert ("resumed from a checkpoint that does not record its training images; 5 image file(s) found now"
            in capsys.readouterr().err)


def test_missing_vgg_weights_are_refused_before_the_data_is_read(images, tmp_path, capsys, monkeypatch):
    """The error came after the whole training set had been decoded and cached (minutes on a large pool)."""
    monkeypatch.setattr("srgan.data.TrainDataset.__init__", lambda *a, **k: pytest.fail("data read first"))
    out = tmp_path / "run"
    assert main(["train", "--config", "smoke", *overrides(images, out, "content_loss=vgg54",
                                                          "vgg_weights=/no/such/vgg19.pth")]) == 1
    assert capsys.readouterr().err == ("srgan: error: ImageNet VGG19 weights file from the given path not found: "
                                       "/no/such/vgg19.pth\n")
    assert not out.exists()

def test_resume_refuses_other_vgg19_weights(images, tmp_path, monkeypatch):
    """vgg_weights may change on --resume (the file moves), and nothing checked that it held the run's weights: the
    content loss changed mid-run. The checkpoint keeps a hash of the weights in use; a copy of them resumes. A
    relative vgg_weights is found again by a resume without --config from another folder (it was "not found")."""
    from srgan.vgg import CUTS, build_vgg19_features

    def stand_in(seed, name):
        torch.manual_seed(seed)
        layers = build_vgg19_features(CUTS["vgg22"]).state_dict()
        torch.save({f"features.{k}": v for k, v in layers.items()}, tmp_path / name)
        return tmp_path / name

    first, other = stand_in(0, "vgg_a.pth"), stand_in(1, "vgg_b.pth")
    run = tmp_path / "run"
    vgg = ["content_loss=vgg22", "batch_size=2"]
    train(load_config("smoke", overrides(images, run, *vgg, "steps=2", f"vgg_weights={first}")))
    assert len(load_checkpoint(run / "last.pt")["vgg_sha256"]) == 64
    with pytest.raises(ConfigError, match=f"config 'vgg_weights': {other} holds other weights than the VGG19 this "
                                          f"run has trained with \\(the checkpoint's vgg_weights: {first}\\)"):
        train(load_config("smoke", overrides(images, run, *vgg, "steps=4", f"vgg_weights={other}")), resume="last")
    assert load_checkpoint(run / "last.pt")["step"] == 2
    moved = shutil.copy(first, tmp_path / "moved.pth")
    summary = train(load_config("smoke", overrides(images, run, *vgg, "steps=4", f"vgg_weights={moved}")),
                    resume="last")
    assert summary["step"] == 4
    monkeypatch.chdir(tmp_path)
    train(load_config("smoke", overrides(images, "relative", *vgg, "steps=2", "vgg_weights=vgg_a.pth")))
    monkeypatch.chdir(run)
    assert main(["train", "--resume", str(tmp_path / "relative"), "steps=3"]) == 0


def test_start_notes_for_nothing_to_score_another_process_count_and_a_branch(images, tmp_path, capsys):
    """Starts that said nothing: eval_every with neither val_data nor eval_data (no numbers ever came), a run saved
    from W torchrun processes resumed in one (on the CPU its BatchNorm statistics change), and a resume into
    another out_dir (a branch, whose log starts at the resumed step)."""
    run = tmp_path / "run"
    assert main(["train", "--config", "smoke", *overrides(images, run, "steps=2", "batch_size=2", "eval_every=2")]) == 0
    assert ("srgan: eval_every 2 with neither val_data nor eval_data: nothing is scored, only the sample grids are "
            "written (samples/)") in capsys.readouterr().err
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000002.png"]
    state = load_checkpoint(run / "last.pt")
    assert state["world_size"] == 1
    torch.save({**state, "world_size": 2}, run / "last.pt")  # as a 2-process run saves it
    assert main(["train", "--resume", str(run), "steps=3"]) == 0
    err = capsys.readouterr().err
    assert ("srgan: resumed in 1 process(es), the run saved from 2: not an exact continuation (on the CPU, "
            "BatchNorm normalises each process's share of the batch with its own statistics)") in err
    branch = tmp_path / "branch"
    assert main(["train", "--config", "smoke", *overrides(images, branch, "steps=4", "batch_size=2"), "--resume",
                 str(run / "step_000002.pt")]) == 0
    assert (f"srgan: resumed from {run / 'step_000002.pt'} into out_dir {branch}: a branch of that run (its folder is "
            "left as it is); the log here starts at step 2") in capsys.readouterr().err


def test_gan_init_from_must_match_the_architecture(mse_run, images, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="num_blocks"):
        train(load_config("smoke", overrides(images, out, "phase=gan", f"init_from={mse_run / 'last.pt'}",
                                             "num_blocks=3")))
    assert not out.exists()


def test_resume_checks(mse_run, images, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(load_config("smoke", overrides(images, tmp_path / "empty")), resume="last")
    run = tmp_path / "copy"  # a copy: were a check to fail, training would go on in the shared run
    shutil.copytree(mse_run, run)
    with pytest.raises(ConfigError, match="channels"):
        train(load_config("smoke", overrides(images, run, "channels=8", "steps=30")), resume="last")
    with pytest.raises(ConfigError, match="raise steps"):
        train(load_config("smoke", overrides(images, run)), resume="last")
    # another run's checkpoint into this run's folder: it used to cut this log and prune these checkpoints
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir())
    with pytest.raises(ConfigError, match=f"out_dir {run} holds another run; continue in the checkpoint's own "
                                          f"folder \\(out_dir={mse_run}\\)"):
        train(load_config("smoke", overrides(images, run, "steps=30")), resume=str(mse_run / "last.pt"))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir()) == before
    other = tmp_path / "other_images"  # the same pictures in another folder are other training data
    shutil.copytree(images, other)
    with pytest.raises(ConfigError, match="train_data"):
        train(load_config("smoke", overrides(other, run, "steps=22")), resume="last")
    # the same folder spelled another way is not "a config difference" (it was: paths were compared as strings)
    summary = train(load_config("smoke", overrides(f"{images}{os.sep}.{os.sep}", run, "steps=22")), resume="last")
    assert summary["step"] == 22


def test_d_wins_is_judged_against_the_smoothed_real_targets():
    """D's real targets average 1 - label_smoothing / 2 (0.95 at the default 0.1): a D that had won sat at 0.95 and
    passed the fixed D(HR) > 0.95 about half the steps, so the warning never came."""
    from srgan.train import d_wins

    assert d_wins(0.95, 0.01, 0.1) and d_wins(0.99, 0.01, 0.0)
    assert not d_wins(0.95, 0.01, 0.0) and not d_wins(0.95, 0.06, 0.1) and not d_wins(0.85, 0.01, 0.1)


def test_an_fp16_resume_of_an_fp32_run_starts_a_fresh_scaler():
    """precision may change on --resume: an fp32/bf16 run saves an empty GradScaler state, which an enabled (fp16)
    scaler refused to load ("The source state dict is empty")."""
    from srgan.trainer import _load_scaler

    scaler = torch.amp.GradScaler("cpu", enabled=True)
    _load_scaler(scaler, torch.amp.GradScaler("cpu", enabled=False).state_dict())
    assert scaler.get_scale() == 65536.0
    saved = torch.amp.GradScaler("cpu", init_scale=8.0).state_dict()
    _load_scaler(scaler, saved)
    assert scaler.get_scale() == 8.0


def test_the_cuda_rng_state_is_the_current_gpus(monkeypatch):
    """Every visible GPU's state was saved (8 under torchrun) and all restored: an IndexError where fewer are."""
    from srgan import trainer

    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda: torch.tensor([7], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("all GPUs' states saved"))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s: restored.append(int(s[0])))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: pytest.fail("all GPUs' states restored"))
    state = trainer.rng_state()
    assert [int(s[0]) for s in state["cuda"]] == [7]
    trainer.set_rng_state({**state, "cuda": [torch.tensor([i], dtype=torch.uint8) for i in range(8)]})  # an older one
    assert restored == [0]


def test_the_step_loader_leaves_the_global_rng_alone(images):
    """Iterating a DataLoader draws a base seed from torch's global RNG: a resumed run's saved torch state was one
    draw ahead of the uninterrupted run's."""
    from srgan.batches import StepBatches, step_loader
    from srgan.data import TrainDataset

    dataset = TrainDataset([images], crop_size=32, cache=False, progress=False)
    before = torch.get_rng_state()
    lr, hr = next(iter(step_loader(dataset, StepBatches(len(dataset), 2, seed=0, start=0, stop=2))))
    assert hr.shape == (2, 3, 32, 32) and torch.equal(torch.get_rng_state(), before)
