"""``srgan train``: run a config from start to ``steps``, or resume one, on 1 process or under torchrun.

Order of work: config and paths are checked first (:mod:`srgan.runstart`; nothing is created before they
pass), then data, models and the loop. The loop stops cleanly on SIGINT/SIGTERM (finishes the step, saves,
exits 0), and with an error after ``max_bad_steps`` non-finite steps in a row (nothing saved over the last good
checkpoint).
"""
from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

import torch

from . import distributed as ddp
from . import rundir
from .checkpoint import is_safetensors, load_checkpoint, nonfinite_tensors
from .config import ConfigError, TrainConfig, init_weights, load_config
from .device import EMULATED_BF16, emulated_bf16, out_of_memory, resolve_device
from .outputs import few
from .runlog import RunLog
from .runstart import check_config, check_start, check_vgg, stored_config
from .signals import sigterm_interrupts, stop_requests
from .trainer import Trainer
from .validation import hold_out_rule, validate


class TrainingStopped(RuntimeError):
    """Training gave up (too many bad steps); the message says why and what is on disk."""


def train_from_cli(args) -> int:
    config = load_config(args.config, args.overrides) if args.config else stored_config(args.resume, args.overrides)
    try:
        train(config, resume=args.resume)
    except TrainingStopped as exc:
        print(f"srgan: error: {exc}", file=sys.stderr)
        return 2
    return 0


def train(config: TrainConfig, resume: str | os.PathLike | bool | None = None) -> dict:
    """Train; returns a summary ``{"step", "stopped_by", "bad_total", "out_dir"}``.

    ``resume``: a checkpoint or run folder, or ``"last"`` / ``True`` for ``out_dir``'s last.pt (``srgan train
    --resume``). ``config`` is checked as ``load_config`` checks one (types, values), also when built in Python:
    ``TrainConfig(phase="GAN")`` trained an SRResNet and ``batch_size=0`` failed deep in the loader."""
    if isinstance(resume, bool):
        resume = "last" if resume else None
    elif resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume takes a checkpoint, a run folder, 'last' or True, got {resume!r}")
    resume = None if resume is None else os.fspath(resume)
    config = TrainConfig.from_dict(config.to_dict())
    out_dir = Path(config.out_dir)
    val_set, eval_sets = check_config(config)  # once: none of it depends on the run folder
    check_start(config, out_dir, resume)  # fails before the run folder or its lock is created
    device = resolve_device(config.device)
    info = ddp.init(device)
    clean = False
    try:
        device = ddp.local_device(device, info)
        # Until the loop takes the signals over, SIGTERM interrupts like Ctrl-C: a run stopped while it decodes its
        # data ends with "interrupted" and releases its lock (it used to die with 143 and leave the lock file).
        with sigterm_interrupts(), rundir.exclusive(out_dir) if info.is_main else nullcontext():
            # Again under the lock: another run may have written checkpoints since the check above.
            state, init_generator, source = check_start(config, out_dir, resume)
            if state is not None:
                check_vgg(config, state)
            summary = _run(config, out_dir, device, info, state, init_generator, val_set, eval_sets, source)
        clean = True
        return summary
    finally:
        # A failure on one rank (rank 0's lock, evaluation or writes) leaves the others inside a collective: a
        # barrier would wait for them for the process group's 30 minutes, the error unprinted. torchrun stops
        # the other ranks once this one exits.
        ddp.teardown(info, wait=clean)


def _run(config, out_dir, device, info, state, init_generator, val_set, eval_sets, source: Path | None) -> dict:
    from .data import TrainDataset

    c = config
    dataset = TrainDataset(c.train_data, crop_size=c.crop_size, scale=c.scale, cache=c.cache, seed=c.seed,
                           progress=info.is_main and c.progress, hold_out=hold_out_rule(c.val_data))
    evaluating = info.is_main and c.eval_every
    val_set = val_set if evaluating else None
    eval_sets = eval_sets if evaluating else []
    now = dataset.fingerprint
    if state is not None and state.get("data", now) != now:
        raise ConfigError(f"--resume: the training images in {', '.join(c.train_data)} are not the run's "
                          f"({state['data']['images']} image file(s) when it was saved, {now['images']} now, or "
                          "other names or sizes): it would not "
                          "draw the same patches; resume with its data, or start a new run from its weights "
                          "(init_from=...)")
    trainer = Trainer(c, device, info, init_generator)
    if state is not None:
        trainer.load_state_dict(state)
    start = trainer.step
    set_aside = rundir.set_aside_later(out_dir, start) if info.is_main and state is not None else None
    log = RunLog(out_dir if info.is_main else None, total=c.steps, start=start, tensorboard=c.tensorboard,
                 progress=c.progress)
    try:  # from here on the log (a file, a progress bar) is closed whatever happens
        if state is not None and "data" not in state:  # from before the check: what it trained on is not known
            log.note(f"resumed from a checkpoint that does not record its training images; {now['images']} image "
                     "file(s) found now")
        saved_world = state.get("world_size", info.world_size) if state is not None else info.world_size
        if info.is_main and saved_world != info.world_size:
            log.note(f"resumed in {info.world_size} process(es), the run saved from {saved_world}: not an exact "
                     "continuation" + (" (on the CPU, BatchNorm normalises each process's share of the batch with its "
                                       "own statistics)" if device.type == "cpu" else ""))
        if info.is_main and source is not None and source.parent.resolve() != out_dir.resolve():
            log.note(f"resumed from {source} into out_dir {out_dir}: a branch of that run (its folder is left as it "
                     f"is); the log here starts at step {start}")
        if set_aside is not None:
            log.note(f"resumed from step {start}: the later checkpoints of the run that went on from it are "
                     f"moved to {set_aside}")
        batches = _batches(dataset, c, start, info)
        from .batches import step_loader

        loader = step_loader(dataset, batches, c.num_workers, pin_memory=device.type == "cuda")
        gan_init = info.is_main and c.phase == "gan" and init_generator is not None and _gan_checkpoint(
            init_weights(c.init_from))  # rank 0 alone: it loads the whole checkpoint (D, optimizers)
        if gan_init:
            log.note(f"init_from {c.init_from} is a gan-phase checkpoint: its generator is the start, its "
                     "discriminator and optimizers are not (a new D learns from scratch); --resume continues a run")
        if info.is_main:
            log.note(f"{c.phase} phase, steps {start}..{c.steps}, {len(dataset)} training images "
                     f"({len(dataset.held_out)} validation image{'' if len(dataset.held_out) == 1 else 's'} held "
                     f"out), device {device}, "
                     f"precision {str(trainer.dtype).replace('torch.', '')}, "
                     f"{'channels_last' if c.channels_last else 'NCHW'}{', compiled' if c.compile else ''}, "
                     f"{info.world_size} process(es), out_dir {out_dir}")
        if info.is_main and emulated_bf16(trainer.dtype, device):
            log.note(f"warning: {EMULATED_BF16}")
        if info.is_main and c.val_data and not c.eval_every:  # eval_data without eval_every is refused; this is legal
            log.note("val_data is held out of training but never scored: eval_every is 0 (set eval_every=N to "
                     "validate)")
        if info.is_main and c.eval_every and val_set is None and not eval_sets:
            log.note(f"eval_every {c.eval_every} with neither val_data nor eval_data: nothing is scored, only the "
                     "sample grids are written (samples/)")
        if info.is_main and c.phase == "gan" and c.lr_decay != 1 and trainer.lr_decay_step >= c.steps:
            # the bundled gan configs decay at the paper's step 100,000: a shorter run never decays, without a word
            log.note(f"lr_decay_step {trainer.lr_decay_step} is not before steps {c.steps}: the learning rate does "
                     "not decay in this run (lr_decay_step=0 decays at lr_decay_at x steps)")
        stopped_by = None
        window: dict[str, list[float]] = defaultdict(list)
        d_wins_streak = 0
        t_window, n_window = time.perf_counter(), 0
        with stop_requests() as flag:  # the loop finishes its step, saves and returns
            for lr, hr in loader:
                try:
                    metrics, bad = trainer.train_step(lr, hr)
                except Exception as exc:
                    if not out_of_memory(exc):
                        raise
                    raise ConfigError(f"config 'batch_size': out of memory in step {trainer.step + 1} on {device} "
                                      f"at batch_size {c.batch_size}, crop_size {c.crop_size}; lower batch_size, or "
                                      "raise grad_accum (the same batch in smaller pieces)") from None
                step = trainer.step
                n_window += 1
                if bad:
                    d_wins_streak = 0
                    trainer.bad_in_row += 1
                    trainer.bad_total += 1
                    log.note(f"step {step}: non-finite loss ({_fmt(metrics)}); update skipped "
                             f"({trainer.bad_in_row} in a row, {trainer.bad_total} in all)")
                else:
                    trainer.bad_in_row = 0
                    for k, v in metrics.items():
                        window[k].append(v)
                    log.step(step, {k: metrics[k] for k in ("loss_g", "loss_d", "d_hr", "d_sr") if k in metrics})
                    if "d_sr" in metrics and c.d_wins_warn_steps:
                        won = d_wins(metrics["d_hr"], metrics["d_sr"], c.label_smoothing)
                        d_wins_streak = d_wins_streak + 1 if won else 0
                        if d_wins_streak and d_wins_streak % c.d_wins_warn_steps == 0:
                            log.note(f"step {step}: D wins outright for {d_wins_streak} steps (mean D(SR) < 0.05, "
                                     f"D(HR) > {0.95 * (1 - c.label_smoothing / 2):.3f}): G gets little adversarial "
                                     "signal")
                stop = _agreed_stop(flag["signal"] is not None, info, device)
                if step % c.log_every == 0 or step == c.steps or stop:
                    seconds = (time.perf_counter() - t_window) / max(n_window, 1)
                    record = {"step": step, "phase": c.phase,
                              **{k: sum(v) / len(v) for k, v in window.items() if v},
                              "lr": trainer.last_lr, "s_per_step": seconds, "bad_steps": trainer.bad_total}
                    log.record(record)
                    window.clear()
                    t_window, n_window = time.perf_counter(), 0
                paused = time.perf_counter()  # checkpoint and eval time is not training time
                diverged = bad and trainer.bad_in_row >= c.max_bad_steps
                saved = (step % c.checkpoint_every == 0 or step == c.steps or stop) and not diverged
                if saved:
                    _save(trainer, dataset, out_dir, info, step)
                if diverged:
                    raise TrainingStopped(
                        f"{trainer.bad_in_row} steps in a row had a non-finite loss (max_bad_steps="
                        f"{c.max_bad_steps}); stopped at step {step}. {_last_good(out_dir)}")
                evaluates = c.eval_every and (step % c.eval_every == 0 or step == c.steps)
                if evaluates and info.is_main:
                    _evaluate(trainer, val_set, eval_sets, dataset, log, step)
                if evaluates and not stop and step < c.steps and _agreed_stop(flag["signal"] is not None, info, device):
                    # A signal during the evaluation (minutes on a CPU): stop now. It was seen after another step,
                    # checkpoint and evaluation, which could outlast a scheduler's grace period.
                    stop = True
                    if not saved:
                        _save(trainer, dataset, out_dir, info, step)
                t_window += time.perf_counter() - paused
                if stop:
                    stopped_by = flag["signal"] or "signal on another rank"
                    log.note(f"stopped by {stopped_by} after step {step}; checkpoint saved to {out_dir / 'last.pt'}; "
                             "continue with --resume")
                    break
    finally:
        log.close()
    if stopped_by is None and info.is_main:  # the run's last word, after the bar: where its weights are
        print(f"srgan: done: step {trainer.step}; weights in {out_dir / 'generator.safetensors'}, checkpoint "
              f"{out_dir / 'last.pt'}", file=sys.stderr)
    return {"step": trainer.step, "stopped_by": stopped_by, "bad_total": trainer.bad_total, "out_dir": str(out_dir)}


def _save(trainer: Trainer, dataset, out_dir: Path, info, step: int) -> None:
    """Checkpoint the run (rank 0 writes); nothing non-finite is ever saved."""
    state = {**trainer.state_dict(), "data": dataset.fingerprint}
    poisoned = nonfinite_tensors(state)  # a finite loss does not prove finite weights
    if poisoned:
        raise TrainingStopped(f"step {step}: NaN or Inf in {few(poisoned, 3)}; not saved. {_last_good(out_dir)}")
    if info.is_main:
        rundir.save(out_dir, state, trainer.g, trainer.config.keep_last)


def _gan_checkpoint(path: str) -> bool:
    """Whether init_from is a training checkpoint of the gan phase (it holds a discriminator that is not used)."""
    if is_safetensors(path):
        return False
    saved = load_checkpoint(path)
    return isinstance(saved, dict) and saved.get("phase") == "gan"


def d_wins(d_hr: float, d_sr: float, label_smoothing: float) -> bool:
    """Whether D wins outright: it rejects SR (mean D(SR) < 0.05) and accepts HR as fully as its targets allow. Its
    real targets are 1 - label_smoothing x U(0, 1), whose mean is 1 - label_smoothing / 2: a D that has won sits
    there, so a fixed D(HR) > 0.95 was passed only about half the steps at the default 0.1 and never warned."""
    return d_sr < 0.05 and d_hr > 0.95 * (1 - label_smoothing / 2)


def _last_good(out_dir: Path) -> str:
    last = out_dir / "last.pt"
    return f"The last good checkpoint is untouched{f': {last}' if last.is_file() else ' (none was written yet)'}"


def _batches(dataset, config, start, info):
    from .batches import StepBatches

    return StepBatches(len(dataset), config.batch_size, config.seed, start, config.steps, info.rank, info.world_size)


def _agreed_stop(local: bool, info: ddp.DistInfo, device: torch.device) -> bool:
    """Every rank stops after the same step when any rank got a signal. The flag lives on the training device:
    NCCL, the CUDA backend, reduces only CUDA tensors."""
    if not info.enabled:
        return local
    return bool(ddp.all_reduce_mean(torch.tensor([float(local)], device=device), info).item() > 0)


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


@torch.no_grad()
def _evaluate(trainer: Trainer, val_set, eval_sets, dataset, log: RunLog, step: int) -> None:
    """PSNR/SSIM/NIQE on the validation set (the one to choose checkpoints by), PSNR/SSIM on the eval sets
    (reported only; srgan.evaluate, fp32), and a bicubic | SR | HR grid of one image."""
    from .data import to_chw_float
    from .evaluate import evaluate, unique_key

    g, scale = trainer.g, trainer.config.scale
    try:
        g.eval()
        results = {"val": validate(g, val_set, scale, trainer.device)} if val_set is not None else {}
        # "val" is the split's, with or without one: an eval set called val replaced its scores, or passed for them
        evaluated = evaluate(g, eval_sets, scale, trainer.device, "fp32").values() if eval_sets else ()
        for bench, scores in zip(eval_sets, evaluated):
            results[unique_key(bench.name, {"val": None, **results})] = scores
        if results:
            log.eval_results(step, results)
        if eval_sets:
            _name, lr, hr = next(iter(eval_sets[0]))
            lr, hr = to_chw_float(lr), to_chw_float(hr)
        else:
            lr, hr = dataset[0]
        sr = g(lr[None].to(trainer.device))[0]
        log.image_grid(step, lr, sr, hr)
    finally:
        g.train()
