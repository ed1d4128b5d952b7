"""Catalogue: training never writes a poisoned checkpoint. Non-finite hyperparameters are refused before any
work; weights or optimizer state that turn NaN/Inf while the loss still looks finite stop the run (exit 2)
before a checkpoint is written, and the last good checkpoint is really untouched."""
from __future__ import annotations

import pytest
import torch

from srgan.checkpoint import load_checkpoint
from srgan.trainer import Trainer
from support import copy_run, only_error, snapshot, train_args


@pytest.mark.parametrize("override", ["lr=inf", "lr=nan", "vgg_weight=inf", "adversarial_weight=nan",
                                      "label_smoothing=-inf", "lr_decay_at=nan"])
def test_non_finite_hyperparameters_are_refused_before_work(cli, train_data, tmp_path, override):
    key, value = override.split("=")
    result = cli(*train_args(train_data, tmp_path / "run", override))
    only_error(result, f"config '{key}': must be a finite number (got {float(value)!r})")
    assert not (tmp_path / "run").exists()


def test_weights_poisoned_after_a_good_checkpoint(cli, train_data, trained_run, tmp_path, monkeypatch):
    """Step 3 makes one weight Inf and leaves the loss finite (a fault no loss check sees; before, step_000004.pt
    was written full of NaN): the step-4 checkpoint is not written, last.pt stays step 2, and the message says
    so and names it."""
    original = Trainer.train_step

    def poisoning_step(self, lr, hr):
        metrics, bad = original(self, lr, hr)
        if self.step == 3:
            with torch.no_grad():
                self.g.tail.bias[0] = float("inf")
        return metrics, bad

    monkeypatch.setattr(Trainer, "train_step", poisoning_step)
    run = tmp_path / "run"
    result = cli(*train_args(train_data, run, "checkpoint_every=2"))
    assert result.code == 2, result.err
    line = result.error_line("step 4: NaN or Inf in generator.tail.bias")
    assert line.endswith(f"not saved. The last good checkpoint is untouched: {run / 'last.pt'}")
    assert load_checkpoint(run / "last.pt")["step"] == 2
    assert not (run / "step_000004.pt").exists()


def test_poisoned_optimizer_state_is_not_saved(cli, train_data, trained_run, tmp_path, monkeypatch):
    """NaN in Adam's second moment (weights still finite): resuming from such a checkpoint would poison the
    next update, so it is not written either; the resumed run's folder stays as it was."""
    run = copy_run(trained_run, tmp_path / "run")
    before = {k: v for k, v in snapshot(run).items() if k != "log.jsonl"}
    original = Trainer.train_step

    def poisoning_step(self, lr, hr):
        metrics, bad = original(self, lr, hr)
        if self.step == 6:  # after the last update: the weights stay finite
            moment = next(iter(self.opt_g.state.values()))["exp_avg_sq"]
            moment[(0,) * moment.dim()] = float("nan")
        return metrics, bad

    monkeypatch.setattr(Trainer, "train_step", poisoning_step)
    result = cli(*train_args(train_data, run, "steps=6", resume="last"))
    assert result.code == 2, result.err
    result.error_line("step 6: NaN or Inf in optimizer_g.state.0.exp_avg_sq")
    assert {k: v for k, v in snapshot(run).items() if k != "log.jsonl"} == before
    assert load_checkpoint(run / "last.pt")["step"] == 4
