"""``srgan train``: run a config from start to ``steps``, or resume one, on 1 process or under torchrun.

Order of work: config and paths are checked first (nothing is created before they pass), then data, models
and the loop. The loop stops cleanly on SIGINT/SIGTERM (finishes the step, saves, exits 0), and with an error
after ``max_bad_steps`` non-finite steps in a row (nothing saved over the last good checkpoint).
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
from .checkpoint import (NOT_TORCH_SAVE, CheckpointError, is_safetensors, load_checkpoint, load_generator,
                         nonfinite_tensors)
from .config import MIN_LR_CROP, PATH_KEYS, ConfigError, TrainConfig, as_list, load_config, real_folders
from .device import out_of_memory, resolve_device
from .runlog import RunLog
from .signals import sigterm_interrupts, stop_requests
from .trainer import CHECKPOINT_FORMAT, Trainer
from .validation import hold_out_rule, validate, validation_set

# Keys that may differ between a checkpoint's config and the resuming one (they change neither the model,
# the data order nor the optimisation); anything else must match.
RESUME_MAY_CHANGE = {"steps", "log_every", "checkpoint_every", "keep_last", "eval_every", "eval_data",
                     "max_bad_steps", "num_workers", "cache", "device", "precision", "channels_last", "compile",
                     "tensorboard", "progress", "d_wins_warn_steps", "vgg_weights", "out_dir"}
# val_data is not among them: a val_data folder inside train_data changes which images are trained on.
#: What every training checkpoint holds (a gan-phase one holds the discriminator's too, checked as it loads).
RESUME_NEEDS = ("step", "config", "generator", "optimizer_g", "scheduler_g", "scaler_g", "rng")


def _same_setting(key: str, saved, new, resolved_at_start: list[str] | None = None) -> bool:
    """Whether a resuming config's value is the checkpoint's. Paths: the same folder however spelled, as seen from
    here (a moved project resumes from its new place), or the folder the run started with (``resolved_at_start``,
    from checkpoints that keep it), so that a run resumes from any working folder."""
    if saved == new or key not in PATH_KEYS:
        return saved == new
    saved, new = as_list(saved), as_list(new)
    here = len(saved) == len(new) and all(
        a == b or ("pool" not in (a, b) and "" not in (a, b) and Path(a).resolve() == Path(b).resolve())
        for a, b in zip(saved, new))
    return here or resolved_at_start == real_folders(new)


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


def stored_config(resume: str, overrides: list[str] = ()) -> TrainConfig:
    """``srgan train --resume CKPT`` without ``--config``: the config stored in the checkpoint, overrides on top.
    Its paths are its own spelling where that still names something from here, else what they named for the start
    that saved it (``"paths"``: a relative train_data or vgg_weights, from another working folder); out_dir is
    the checkpoint's."""
    path = rundir.resume_path(Path("."), resume)
    state = _read_checkpoint(path)
    values = dict(state["config"])
    for key, started in state.get("paths", {}).items():
        spelled = as_list(values.get(key, ""))
        if len(started) == len(spelled) and not all(p in ("", "pool") or Path(p).expanduser().exists()
                                                    for p in spelled):
            values[key] = started if isinstance(values[key], list) else started[0]
    values["out_dir"] = str(path.parent)
    return load_config(overrides=overrides, stored=values, source=f"{path}'s config")


def _read_checkpoint(path: Path) -> dict:
    """A training checkpoint, checked to hold what a resume needs."""
    weights = ConfigError(f"--resume: {path} holds generator weights, not a training run; start a new run from "
                          "them (init_from=PATH)")
    if is_safetensors(path):  # it said "not a torch.save file (safetensors weights need ...)"
        raise weights
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        raise ConfigError(f"--resume: {str(exc).replace(NOT_TORCH_SAVE, 'not a torch.save file')}") from None
    if isinstance(state, dict) and "head.0.weight" in state:  # a bare generator state dict
        raise weights
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"--resume: {path} is not an srgan training checkpoint")
    missing = [k for k in RESUME_NEEDS if not isinstance(state.get(k), dict if k != "step" else int)]
    if missing or isinstance(state["step"], bool) or state["step"] < 0:  # a KeyError: 'rng' from deep in the start
        raise ConfigError(f"--resume: {path} is damaged: {', '.join(missing) or 'step'} missing or of the wrong kind")
    return state


def train(config: TrainConfig, resume: str | None = None) -> dict:
    """Train; returns a summary ``{"step", "stopped_by", "bad_total", "out_dir"}``."""
    out_dir = Path(config.out_dir)
    val_set, eval_sets = _check_config(config)  # once: none of it depends on the run folder
    _check_start(config, out_dir, resume)  # fails before the run folder or its lock is created
    device = resolve_device(config.device)
    info = ddp.init(device)
    clean = False
    try:
        device = ddp.local_device(device, info)
        # Until the loop takes the signals over, SIGTERM interrupts like Ctrl-C: a run stopped while it decodes its
        # data ends with "interrupted" and releases its lock (it used to die with 143 and leave the lock file).
        with sigterm_interrupts(), rundir.exclusive(out_dir) if info.is_main else nullcontext():
            # Again under the lock: another run may have written checkpoints since the check above.
            state, init_generator, source = _check_start(config, out_dir, resume)
            if state is not None:
                _check_vgg(config, state)
            summary = _run(config, out_dir, device, info, state, init_generator, val_set, eval_sets, source)
        clean = True
        return summary
    finally:
        # A failure on one rank (rank 0's lock, evaluation or writes) leaves the others inside a collective: a
        # barrier would wait for them for the process group's 30 minutes, the error unprinted. torchrun stops
        # the other ranks once this one exits.
        ddp.teardown(info, wait=clean)


def _check_config(config: TrainConfig):
    """The ways a config can be wrong before any work (data folders, validation and eval images, VGG weights, the
    batch split); returns the validation set (``val_data``) or None, and the eval sets (``eval_data``)."""
    if not config.train_data:
        raise ConfigError("config 'train_data': no training folders; pass train_data=FOLDER (or a list)")
    if config.eval_data and not config.eval_every:  # it was never scored, without a word (checked here, not in
        # TrainConfig.validate: a checkpoint's saved config from before this check must still load)
        raise ConfigError("config 'eval_data': is scored every eval_every steps, and eval_every is 0 (never); set "
                          "eval_every=N, or eval_data=[] to report on none")
    # Here, not in TrainConfig.validate: a run saved before these bounds must still resume.
    if config.crop_size < MIN_LR_CROP * config.scale:  # 4x4 at x4 trained on 1x1 LR patches
        raise ConfigError(f"config 'crop_size': LR patches must be at least {MIN_LR_CROP} px: crop_size >= "
                          f"{MIN_LR_CROP * config.scale} at scale {config.scale} (got {config.crop_size})")
    if config.content_loss == "vgg54" and config.crop_size < 16:
        raise ConfigError(f"config 'crop_size': vgg54 reads VGG19 after 4 poolings: crop_size >= 16 "
                          f"(got {config.crop_size})")
    missing = [p for p in config.train_data if not Path(p).exists()]
    if missing:
        raise ConfigError(f"config 'train_data': not found: {', '.join(missing)}")
    val_set = None
    if config.val_data:
        try:
            val_set = validation_set(config.val_data, config.train_data, config.scale, scored=bool(config.eval_every))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config 'val_data': {exc}") from None
    if config.content_loss != "mse":  # before the data is decoded and cached, which can take minutes
        from .vgg import resolve_vgg19_weights

        resolve_vgg19_weights(config.vgg_weights or None)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if config.batch_size % (world * config.grad_accum):
        raise ConfigError(f"config 'batch_size': {config.batch_size} must split evenly over {world} process(es) "
                          f"x grad_accum {config.grad_accum}")
    if world > 1 and config.grad_accum > 1:
        raise ConfigError("config 'grad_accum': gradient accumulation is for one process; under torchrun use "
                          "more processes instead")
    eval_sets = _eval_sets(config)
    _refuse_trained_copies(config, val_set, eval_sets)
    for bench in ([val_set] if val_set is not None and config.eval_every else []) + eval_sets:
        try:
            bench.check()
        except (OSError, ValueError) as exc:
            key = "val_data" if bench is val_set else "eval_data"
            raise ConfigError(f"config '{key}': {exc}") from None
    return val_set, eval_sets


def _eval_sets(config: TrainConfig) -> list:
    """The eval_data sets (checked against train_data by :func:`_refuse_trained_copies`)."""
    from .benchmark_sets import BenchmarkSet

    try:
        return [BenchmarkSet(folder, config.scale) for folder in _eval_folders(config)]
    except ValueError as exc:
        raise ConfigError(f"config 'eval_data': {exc}") from None


def _refuse_trained_copies(config: TrainConfig, val_set, eval_sets: list) -> None:
    """Refuse validation or eval_data images that training would see, as the same file or a byte-for-byte copy:
    the numbers measured on them would be measured on training images. (The files of val_data itself are held
    out of training by :func:`srgan.validation.hold_out_rule`; a copy of them elsewhere in train_data is not.)"""
    from .data import training_files
    from .outputs import file_identity
    from .validation import copies_among

    scored = [("val_data", val_set)] if val_set is not None else []
    scored += [("eval_data", bench) for bench in eval_sets]
    owner = {path: (key, bench.name) for key, bench in scored for _name, path in bench.items}
    if not owner:
        return
    held_out = hold_out_rule(config.val_data)
    trained = [path for path in training_files(config.train_data)[0] if not held_out(path)]
    copies = copies_among(trained, list(owner))
    if copies:
        path, original = copies[0]
        key, name = owner[original]
        how = "" if file_identity(path) == file_identity(original) else f", a copy of {original}"
        count = sum(owner[o] == (key, name) for _p, o in copies)
        # Other images come first: on a resume that adds eval_data, changed training images are refused.
        raise ConfigError(f"config '{key}': {count} HR image(s) of {name} are in train_data (e.g. {path}{how}): its "
                          "numbers would be measured on training images; "
                          f"{'validate' if key == 'val_data' else 'report'} on other images, or take them out of "
                          "train_data before a run starts (a resumed run keeps its training images)")


def _eval_folders(config: TrainConfig) -> list[Path]:
    """eval_data as folders: a folder as given, or a benchmark name (Set5) looked up as `srgan eval --data` does."""
    from .datasets import resolve_benchmark

    return [resolve_benchmark(p) for p in config.eval_data]


def _check_start(config: TrainConfig, out_dir: Path, resume: str | None):
    """The ways the start itself can be wrong (run folder, init_from, resume), checked before the folder's lock
    is taken and again under it. Returns (the checkpoint's state, init_from's generator, the checkpoint's path):
    None where there is none."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"config 'out_dir': {out_dir} is a file, not a run folder")
    above = next((p for p in out_dir.parents if p.exists() and not p.is_dir()), None)
    if above is not None:  # it was a bare "[Errno 20] Not a directory"
        raise ConfigError(f"config 'out_dir': {above} is a file, so {out_dir} cannot be made")
    if resume is None:
        rundir.refuse_fresh_run(out_dir)
        init = None
        if config.init_from:  # the gan phase requires it; an mse run fine-tunes from it (it was ignored there)
            if not Path(config.init_from).expanduser().exists():  # the bundled gan configs name runs/srresnet/last.pt
                raise ConfigError(f"config 'init_from': {config.init_from}: no such file; train the SRResNet first "
                                  "(phase mse) or pass init_from=PATH")
            generator = load_generator(config.init_from)
            arch = {"scale": config.scale, "num_blocks": config.num_blocks, "channels": config.channels}
            if generator.architecture != arch:
                raise ConfigError(f"config 'init_from': {config.init_from} holds a generator with "
                                  f"{generator.architecture}, but the config asks for {arch}")
            init = generator.state_dict()
        return None, init, None
    path = rundir.resume_path(out_dir, resume)
    if path.parent.resolve() != out_dir.resolve() and (rundir.existing_checkpoints(out_dir) or
                                                       (out_dir / "log.jsonl").exists()):
        # its log would be cut and its checkpoints pruned in favour of the other run's
        raise ConfigError(f"--resume {resume}: out_dir {out_dir} holds another run; continue in the checkpoint's "
                          f"own folder (out_dir={path.parent}) or in a new one")
    state = _read_checkpoint(path)
    if path.parent.resolve() == out_dir.resolve() and state.get("run_id") is not None:
        here = rundir.folder_run_id(out_dir, besides=path)
        if here is not None and here != state["run_id"]:  # a checkpoint copied in: that run's would be pruned
            raise ConfigError(f"--resume: {path} is a checkpoint of another run than the one in {out_dir}: resuming "
                              "it there would prune that run's checkpoints and cut its log; resume it into a folder "
                              "of its own (out_dir=NEW)")
    saved = TrainConfig.from_dict(state["config"], source=str(path)).to_dict()
    differ = sorted(k for k, v in config.to_dict().items()
                    if k not in RESUME_MAY_CHANGE and not _same_setting(k, saved.get(k), v, state.get("paths", {}).get(k)))
    if differ:
        raise ConfigError(f"--resume: the config differs from {path.name}'s in " +
                          ", ".join(f"{k} ({saved.get(k)!r} -> {getattr(config, k)!r})" for k in differ) +
                          "; a resume keeps them: leave those settings out (--resume without --config uses the "
                          "checkpoint's own config), or start a new run from its weights (init_from=...)")
    if state["step"] >= config.steps:
        raise ConfigError(f"--resume: {path.name} is at step {state['step']}, already >= steps={config.steps}; "
                          "raise steps=... to train further")
    return state, None, path


def _check_vgg(config: TrainConfig, state: dict) -> None:
    """The resumed run's VGG19 is the one it trained with. vgg_weights may change on resume (the file moved, or is
    found another way), but other weights would change the content loss mid-run (a walkthrough saw it jump from
    9e-11 to 50)."""
    saved = state.get("vgg_sha256")  # None: an mse content loss (content_loss cannot change on resume), or a
    if saved is None:  # checkpoint from before this check
        return
    from .vgg import VGGFeatures, resolve_vgg19_weights

    found = resolve_vgg19_weights(config.vgg_weights or None)  # named, $SRGAN_VGG19_WEIGHTS or torch's cache
    if VGGFeatures(config.content_loss, found).weights_sha256() != saved:
        spelled = state["config"].get("vgg_weights") or "unset, found as the default"
        raise ConfigError(f"config 'vgg_weights': {found} holds other weights than the VGG19 this run has trained "
                          f"with (the checkpoint's vgg_weights: {spelled}): its content loss would change mid-run; "
                          "resume with those weights (vgg_weights=FILE), or start a new run from its generator "
                          "(init_from=...)")


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
        if info.is_main and init_generator is not None and c.phase == "gan" and _gan_checkpoint(c.init_from):
            log.note(f"init_from {c.init_from} is a gan-phase checkpoint: its generator is the start, its "
                     "discriminator and optimizers are not (a new D learns from scratch); --resume continues a run")
        if info.is_main:
            log.note(f"{c.phase} phase, steps {start}..{c.steps}, {len(dataset)} training images "
                     f"({len(dataset.held_out)} validation image{'' if len(dataset.held_out) == 1 else 's'} held "
                     f"out), device {device}, "
                     f"precision {str(trainer.dtype).replace('torch.', '')}, "
                     f"{'channels_last' if c.channels_last else 'NCHW'}{', compiled' if c.compile else ''}, "
                     f"{info.world_size} process(es), out_dir {out_dir}")
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
                if (step % c.checkpoint_every == 0 or step == c.steps or stop) and not diverged:
                    state = {**trainer.state_dict(), "data": dataset.fingerprint}
                    poisoned = nonfinite_tensors(state)  # a finite loss does not prove finite weights
                    if poisoned:
                        raise TrainingStopped(
                            f"step {step}: NaN or Inf in {', '.join(poisoned[:3])}"
                            f"{f' (+{len(poisoned) - 3} more)' if len(poisoned) > 3 else ''}; not saved. "
                            f"{_last_good(out_dir)}")
                    if info.is_main:
                        rundir.save(out_dir, state, trainer.g, c.keep_last)
                if diverged:
                    raise TrainingStopped(
                        f"{trainer.bad_in_row} steps in a row had a non-finite loss (max_bad_steps="
                        f"{c.max_bad_steps}); stopped at step {step}. {_last_good(out_dir)}")
                if c.eval_every and (step % c.eval_every == 0 or step == c.steps) and info.is_main:
                    _evaluate(trainer, val_set, eval_sets, dataset, log, step)
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
    from .evaluate import evaluate

    g, scale = trainer.g, trainer.config.scale
    try:
        g.eval()
        results = {"val": validate(g, val_set, scale, trainer.device)} if val_set is not None else {}
        if eval_sets:
            results.update(evaluate(g, eval_sets, scale, trainer.device, "fp32"))
        if results:
            log.eval_results(step, results)
        if eval_sets:
            _name, lr, hr = next(iter(eval_sets[0]))
            lr = torch.from_numpy(lr).permute(2, 0, 1).float() / 255
            hr = torch.from_numpy(hr).permute(2, 0, 1).float() / 255
        else:
            lr, hr = dataset[0]
        sr = g(lr[None].to(trainer.device))[0]
        log.image_grid(step, lr, sr, hr)
    finally:
        g.train()
