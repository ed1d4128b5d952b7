"""What a training run checks before its first step: the config against its data (``val_data`` and
``eval_data`` images kept out of training), the run folder, and a resumed checkpoint with the config stored in
it. Nothing is created before these pass; :mod:`srgan.train` runs them twice, before and under the run
folder's lock.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import rundir
from .checkpoint import NOT_TORCH_SAVE, CheckpointError, is_safetensors, load_checkpoint, load_generator
from .config import (MIN_LR_CROP, PATH_KEYS, ConfigError, TrainConfig, as_list, init_weights, load_config,
                     names_no_path, real_folders)
from .images import ImageError
from .trainer import CHECKPOINT_FORMAT
from .validation import hold_out_rule, validation_set


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
    if key == "init_from":  # init_from=srresnet and the shipped file's path are the same weights
        saved, new = init_weights(saved), init_weights(new)
    saved, new = as_list(saved), as_list(new)
    here = len(saved) == len(new) and all(
        a == b or not (names_no_path(key, a) or names_no_path(key, b)) and Path(a).resolve() == Path(b).resolve()
        for a, b in zip(saved, new))
    return here or resolved_at_start == real_folders(key, new)


def stored_config(resume: str, overrides: list[str] = ()) -> TrainConfig:
    """``srgan train --resume CKPT`` without ``--config``: the config stored in the checkpoint, overrides on top.
    Its paths are its own spelling where that still names something from here, else what they named for the start
    that saved it (``"paths"``: a relative train_data or vgg_weights, from another working folder); out_dir is
    the checkpoint's."""
    path = rundir.resume_path(Path("."), resume)
    state = read_checkpoint(path)
    values = dict(state["config"])
    for key, started in state.get("paths", {}).items():
        spelled = as_list(values.get(key, ""))
        if len(started) == len(spelled) and not all(names_no_path(key, p) or Path(p).expanduser().exists()
                                                    for p in spelled):
            values[key] = started if isinstance(values[key], list) else started[0]
    values["out_dir"] = str(path.parent)
    return load_config(overrides=overrides, stored=values, source=f"{path}'s config")


def read_checkpoint(path: Path) -> dict:
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


def check_config(config: TrainConfig):
    """The ways a config can be wrong before any work (data folders, validation and eval images, VGG weights, the
    batch split); returns the validation set (``val_data``) or None, and the eval sets (``eval_data``)."""
    if not config.train_data:
        raise ConfigError("config 'train_data': no training folders; pass train_data=FOLDER (or a list)")
    # These checks are here, not in TrainConfig.validate, so that a checkpoint saved before them still loads (eval,
    # upscale, init_from); a resume of one is refused here and goes on with the override the message names.
    if config.eval_data and not config.eval_every:  # it was never scored, without a word
        raise ConfigError("config 'eval_data': is scored every eval_every steps, and eval_every is 0 (never); set "
                          "eval_every=N, or eval_data=[] to report on none")
    if config.crop_size < MIN_LR_CROP * config.scale:  # 4x4 at x4 trained on 1x1 LR patches
        raise ConfigError(f"config 'crop_size': LR patches must be at least {MIN_LR_CROP} px: crop_size >= "
                          f"{MIN_LR_CROP * config.scale} at scale {config.scale} (got {config.crop_size})")
    if config.content_loss == "vgg54" and config.crop_size < 16:
        raise ConfigError(f"config 'crop_size': vgg54 reads VGG19 after 4 poolings: crop_size >= 16 "
                          f"(got {config.crop_size})")
    missing = [p for p in config.train_data if not Path(p).exists()]
    if missing:  # a relative one is read from the working folder (TRAINING.md): say where that led
        raise ConfigError("config 'train_data': not found: " + ", ".join(
            p if Path(p).expanduser().is_absolute() else f"{p} (looked for {Path(p).expanduser().resolve()})"
            for p in missing))
    out = Path(config.out_dir).expanduser().resolve()
    inside = next((p for p in config.train_data if Path(p).is_dir() and out.is_relative_to(Path(p).resolve())), None)
    if inside is not None:  # its sample grids were trained on, and a resume then found "other training images"
        raise ConfigError(f"config 'out_dir': {config.out_dir} is inside train_data {inside}: the run's sample "
                          "images would become training images; put the run outside its training data")
    val_set = None
    if config.val_data:
        try:
            val_set = validation_set(config.val_data, config.train_data, config.scale, scored=bool(config.eval_every))
        except (OSError, ValueError, ImageError) as exc:  # a file training skips: the error did not say val_data
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
    refuse_trained_copies(config, val_set, eval_sets)
    for bench in ([val_set] if val_set is not None and config.eval_every else []) + eval_sets:
        try:
            bench.check()
        except (OSError, ValueError, ImageError) as exc:
            key = "val_data" if bench is val_set else "eval_data"
            raise ConfigError(f"config '{key}': {exc}") from None
    return val_set, eval_sets


def _eval_sets(config: TrainConfig) -> list:
    """The eval_data sets (checked against train_data by :func:`refuse_trained_copies`)."""
    from .benchmark_sets import BenchmarkSet

    try:
        return [BenchmarkSet(folder, config.scale) for folder in _eval_folders(config)]
    except ValueError as exc:
        raise ConfigError(f"config 'eval_data': {exc}") from None


def refuse_trained_copies(config: TrainConfig, val_set, eval_sets: list) -> None:
    """Refuse validation or eval_data images that training would see, as the same file or a byte-for-byte copy:
    the numbers measured on them would be measured on training images. (The files of val_data itself are held
    out of training by :func:`srgan.validation.hold_out_rule`; a copy of them elsewhere in train_data is not.)"""
    from .data import training_files
    from .files import file_identity
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


def check_start(config: TrainConfig, out_dir: Path, resume: str | None):
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
            weights = init_weights(config.init_from)
            if not Path(weights).expanduser().exists():  # the bundled gan configs name runs/srresnet/last.pt
                raise ConfigError(f"config 'init_from': {config.init_from}: no such file; train the SRResNet first "
                                  "(phase mse), or pass init_from=PATH (init_from=srresnet: the shipped weights)")
            generator = load_generator(weights)
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
    state = read_checkpoint(path)
    if path.parent.resolve() == out_dir.resolve() and state.get("run_id") is not None:
        here = rundir.folder_run_id(out_dir, besides=path)
        if here is not None and here != state["run_id"]:  # a checkpoint copied in: that run's would be pruned
            raise ConfigError(f"--resume: {path} is a checkpoint of another run than the one in {out_dir}: resuming "
                              "it there would prune that run's checkpoints and cut its log; resume it into a folder "
                              "of its own (out_dir=NEW)")
    saved = TrainConfig.from_dict(state["config"], source=str(path)).to_dict()
    differ = sorted(k for k, v in config.to_dict().items()
                    if k not in RESUME_MAY_CHANGE
                    and not _same_setting(k, saved.get(k), v, state.get("paths", {}).get(k)))
    if differ:
        raise ConfigError(f"--resume: the config differs from {path.name}'s in " +
                          ", ".join(f"{k} ({saved.get(k)!r} -> {getattr(config, k)!r})" for k in differ) +
                          "; a resume keeps them: leave those settings out (--resume without --config uses the "
                          "checkpoint's own config), or start a new run from its weights (init_from=...)")
    if state["step"] >= config.steps:
        raise ConfigError(f"--resume: {path.name} is at step {state['step']}, already >= steps={config.steps}; "
                          "raise steps=... to train further")
    return state, None, path


def check_vgg(config: TrainConfig, state: dict) -> None:
    """The resumed run's VGG19 is the one it trained with. vgg_weights may change on resume (the file moved, or is
    found another way), but other weights would change the content loss mid-run (a walkthrough saw it jump from
    9e-11 to 50)."""
    saved = state.get("vgg_sha256")  # None: an mse content loss (content_loss cannot change on resume), or a
    if saved is None:  # checkpoint from before this check
        return
    from .pretrained import load_state_dict_file
    from .vgg import VGGFeatures, resolve_vgg19_weights

    found = resolve_vgg19_weights(config.vgg_weights or None)  # named, $SRGAN_VGG19_WEIGHTS or torch's cache
    # From the state dict: the file is hashed, and a stand-in said so, once, when the Trainer builds its VGG19
    if VGGFeatures(config.content_loss, load_state_dict_file(found, "VGG19")).weights_sha256() != saved:
        spelled = state["config"].get("vgg_weights") or "unset, found as the default"
        raise ConfigError(f"config 'vgg_weights': {found} holds other weights than the VGG19 this run has trained "
                          f"with (the checkpoint's vgg_weights: {spelled}): its content loss would change mid-run; "
                          "resume with those weights (vgg_weights=FILE), or start a new run from its generator "
                          "(init_from=...)")
