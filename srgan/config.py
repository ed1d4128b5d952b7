"""The one configuration type: every training knob, read from TOML plus ``key=value`` overrides.

A config is validated before any work starts (unknown keys, wrong types, impossible values) and is saved
inside every checkpoint, so a run can always be reproduced or resumed from its checkpoint alone.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import shipped
from .device import DEVICES, PRECISIONS, is_device_name
from .losses import CONTENT_LOSSES, DEFAULT_VGG_FEATURE_SCALE, DEFAULT_VGG_WEIGHT, PAPER_ADVERSARIAL_WEIGHT
from .models import MAX_BLOCKS, MAX_CHANNELS, SUPPORTED_SCALES

CONFIG_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """An invalid configuration; the message names the key."""


#: The smallest LR training patch: below it the 9x9 convolutions see mostly their own zero padding (srgan.upscale
#: edge-pads images under MIN_SIDE = 4 px for the same reason). Checked by srgan.train, not TrainConfig.validate, so
#: that a checkpoint saved with less still loads; resuming one takes a ``crop_size=`` override.
MIN_LR_CROP = 4
#: The largest batch_size: a billion built its list of sample indices before the first step, took all 24 GB of a
#: machine and did not stop on SIGTERM. The paper's is 16; batches over a few thousand patches run out of memory.
MAX_BATCH = 65536

PATH_KEYS = ("init_from", "train_data", "val_data")  # compared as folders on --resume, however spelled


def as_list(value) -> list:
    """A setting that is one path or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def names_no_path(key: str, value: str) -> bool:
    """Whether a path setting's value is a word, not a path: "" (none), val_data's "pool" (a training folder
    called pool is a folder: taken for the word, its run could not be resumed from another working folder), and
    init_from's shipped names (:func:`init_weights`)."""
    return value == "" or (key == "val_data" and value == "pool") or (
        key == "init_from" and value in shipped.NAMES and not os.path.isfile(value))


def init_weights(value: str) -> str:
    """The file an ``init_from`` value names: ``srresnet`` / ``srgan`` are the shipped weights, as ``--model``
    takes them (their path worked from the checkout root only), unless a file of that name is here. The name
    stays in the config, so that a run resumes with it from another install."""
    return str(shipped.weights_file(value)) if names_no_path("init_from", value) and value else value


def real_folders(key: str, value: str | list[str]) -> list[str]:
    """A path setting (one path or a list) as the folders it names, links followed; words (:func:`names_no_path`)
    as they are."""
    return [p if names_no_path(key, p) else os.path.realpath(p) for p in as_list(value)]


def resolved_paths(config: "TrainConfig") -> dict[str, list[str]]:
    """The path settings as the files and folders they name from where this start of the run stands: kept in its
    checkpoints (``"paths"``) so that --resume from another working folder recognises PATH_KEYS, and a resume
    without --config finds these and vgg_weights / eval_data folders (srgan.train; a set name stays a name)."""
    paths = {key: real_folders(key, getattr(config, key)) for key in PATH_KEYS + ("vgg_weights",)}
    paths["eval_data"] = [os.path.realpath(p) if os.path.exists(p) else p for p in config.eval_data]
    return paths


@dataclass
class TrainConfig:
    # what to train
    phase: str = "mse"                      # "mse": SRResNet pretraining; "gan": SRGAN fine-tuning
    scale: int = 4
    num_blocks: int = 16
    channels: int = 64
    init_from: str = ""                     # weights to start from: gan phase, required; mse phase, fine-tuning
    # data
    train_data: list[str] = field(default_factory=list)
    crop_size: int = 96                     # HR patch side; LR patches are crop_size / scale
    batch_size: int = 16                    # the global batch: split over torchrun processes
    grad_accum: int = 1                     # split each step's batch into this many accumulated micro-batches
    num_workers: int = 0
    cache: bool = True                      # pre-decode training images once into a cache file
    # optimisation (paper: Adam 1e-4, betas 0.9/0.999; gan phase drops to 1e-5 at half the steps)
    steps: int = 100_000
    lr: float = 1e-4
    lr_decay_at: float = 0.5                # gan phase: lr *= lr_decay from step lr_decay_at * steps (half up) ...
    lr_decay_step: int = 0                  # ... or from this absolute step (0: use lr_decay_at); either way
                                            # fixed at the first start: resuming with other steps keeps it
    lr_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.999
    # losses
    content_loss: str = "mse"              # "mse" | "vgg22" | "vgg54" (paper Table 1)
    vgg_weights: str = ""                  # path to torchvision's vgg19-dcbb9e9d.pth (else env/cache/download)
    vgg_weight: float = DEFAULT_VGG_WEIGHT             # content = vgg_weight * MSE(s * VGG(SR), s * VGG(HR)),
    vgg_feature_scale: float = DEFAULT_VGG_FEATURE_SCALE  # s; 1 = plain torchvision features (docs/LOSSES.md)
    adversarial_weight: float = PAPER_ADVERSARIAL_WEIGHT
    grid_weight: float = 0.0               # gan phase: + this x losses.phase_grid_loss, against the sub-pixel grid
                                           # (not in the paper; the shipped SRGAN's second phase used 100)
    label_smoothing: float = 0.1
    # speed
    device: str = "auto"
    precision: str = "auto"                # "auto" | "fp32" | "bf16" | "fp16"
    channels_last: bool = True
    compile: bool = False
    # bookkeeping
    out_dir: str = "runs/srresnet"
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_last: int = 3
    eval_every: int = 0                     # 0 = never; else score val_data and eval_data every this many steps
    eval_data: list[str] = field(default_factory=list)  # reported only (Set5/Set14/BSD100): never pick with it
    val_data: str = ""                      # "pool": the validation split found in train_data (held out of
                                            # training); or a folder; "" = none. Scored every eval_every steps
    max_bad_steps: int = 10                 # consecutive NaN/Inf losses before stopping
    d_wins_warn_steps: int = 1000           # warn each time D has won outright this many steps in a row; 0 = off
    tensorboard: bool = True                # TensorBoard scalars/images when tensorboard is installed
    progress: bool = True                   # tqdm bar on a terminal; into a pipe or file, a line per log record

    def validate(self) -> "TrainConfig":
        def check(ok: bool, key: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"config '{key}': {message} (got {getattr(self, key)!r})")

        for f in dataclasses.fields(self):  # lr=inf passes "> 0" below, then turns every weight into NaN
            value = getattr(self, f.name)
            check(not isinstance(value, float) or math.isfinite(value), f.name, "must be a finite number")
        check(self.phase in ("mse", "gan"), "phase", "must be 'mse' or 'gan'")
        check(self.scale in SUPPORTED_SCALES, "scale", f"must be one of {SUPPORTED_SCALES}")
        for key in ("num_blocks", "channels", "batch_size", "steps", "log_every", "checkpoint_every", "keep_last",
                    "max_bad_steps", "grad_accum"):
            check(getattr(self, key) > 0, key, "must be positive")
        for key in ("num_workers", "eval_every", "seed", "d_wins_warn_steps", "lr_decay_step"):
            check(getattr(self, key) >= 0, key, "must be >= 0")
        check(self.seed < 2 ** 63, "seed", "must be below 2**63 (torch's seeds are 64-bit)")
        check(self.num_blocks <= MAX_BLOCKS, "num_blocks", f"at most {MAX_BLOCKS}: larger weights would load nowhere")
        check(self.channels <= MAX_CHANNELS, "channels", f"at most {MAX_CHANNELS}: larger weights would load nowhere")
        check(self.batch_size <= MAX_BATCH, "batch_size", f"at most {MAX_BATCH:,} (global, over every process)")
        check(self.crop_size > 0 and self.crop_size % self.scale == 0, "crop_size",
              f"must be a positive multiple of scale ({self.scale})")
        check(self.batch_size % self.grad_accum == 0, "batch_size",
              f"must be a multiple of grad_accum ({self.grad_accum})")
        for key in ("train_data", "eval_data"):
            check(all(p.strip() for p in getattr(self, key)), key, "folders must be non-empty paths")
        check(bool(self.out_dir.strip()), "out_dir", "must be a non-empty path (an unset shell variable?)")
        check(self.phase != "gan" or self.crop_size >= 96, "crop_size", "the discriminator needs crops of >= 96 px")
        for key in ("lr", "vgg_weight", "vgg_feature_scale"):
            check(getattr(self, key) > 0, key, "must be > 0")
        check(0 < self.lr_decay <= 1, "lr_decay", "must be in (0, 1]")
        check(0 < self.lr_decay_at <= 1, "lr_decay_at", "must be in (0, 1]")
        for key in ("beta1", "beta2"):
            check(0 <= getattr(self, key) < 1, key, "must be in [0, 1)")
        check(self.adversarial_weight >= 0, "adversarial_weight", "must be >= 0")
        check(self.grid_weight >= 0, "grid_weight", "must be >= 0")
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        check(self.content_loss in CONTENT_LOSSES, "content_loss", f"must be one of {CONTENT_LOSSES}")
        check(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}")
        check(is_device_name(self.device), "device", f"must be one of {DEVICES} or cuda:N")
        check(self.phase != "gan" or bool(self.init_from), "init_from",
              "the gan phase starts from an mse-phase checkpoint; set init_from")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> "TrainConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{source}: {unknown_keys(unknown, list(known))}")
        hints = typing.get_type_hints(cls)
        values = {k: _expand_home(k, _coerce(k, v, hints[k], source)) for k, v in values.items()}
        return cls(**values).validate()


#: One line per config key, for ``srgan train --help`` (tests/test_cli.py checks that every key has one).
KEY_HELP = {
    "phase": "mse: SRResNet pretraining; gan: SRGAN fine-tuning from init_from",
    "scale": "upscaling factor (2, 4 or 8)",
    "num_blocks": "residual blocks in the generator (paper: 16)",
    "channels": "feature channels in the generator (paper: 64)",
    "init_from": "a checkpoint or generator weights to start from, or srresnet / srgan for the shipped ones "
                 "(required by the gan phase; an mse run fine-tunes them)",
    "train_data": "training image folders (a list, or one folder)",
    "crop_size": "HR patch side in pixels; LR patches are crop_size / scale, at least 4 px; the gan phase's "
                 "discriminator needs >= 96 (paper: 96)",
    "batch_size": "patches per step, in total over all torchrun processes",
    "grad_accum": "split each step's batch into this many accumulated micro-batches",
    "num_workers": "data loader worker processes (0: load in the training process)",
    "cache": "decode the training images once into a cache folder (much faster loading)",
    "steps": "optimizer steps to train for",
    "lr": "Adam learning rate (paper: 1e-4)",
    "lr_decay_at": "gan phase: decay the lr at this fraction of steps ...",
    "lr_decay_step": "... or at this absolute step (0: use lr_decay_at)",
    "lr_decay": "factor applied to the lr at the decay step (paper: 0.1)",
    "beta1": "Adam beta1",
    "beta2": "Adam beta2",
    "content_loss": "mse | vgg22 | vgg54 (paper Table 1)",
    "vgg_weights": "torchvision's vgg19-dcbb9e9d.pth for the vgg losses (else env, cache, download)",
    "vgg_weight": "weight of the VGG content loss",
    "vgg_feature_scale": "scale of the VGG features before their MSE (1: plain torchvision features)",
    "adversarial_weight": "weight of the adversarial loss (paper: 1e-3; 0: G's loss has no adversarial term, so D, "
                          "which still trains, does not steer G)",
    "grid_weight": "gan phase: weight of the loss against the sub-pixel grid (0: the paper's loss; docs/TRAINING.md)",
    "label_smoothing": "one-sided label smoothing of the discriminator's real labels",
    "device": "auto | cpu | cuda | cuda:N | mps",
    "precision": "auto (bf16 on AMX/AVX512-BF16 CPUs and CUDA, fp16 on CUDA without bf16, else fp32) | fp32 | "
                 "bf16 | fp16",
    "channels_last": "channels_last memory format (faster with oneDNN and cuDNN)",
    "compile": "torch.compile the models",
    "out_dir": "run folder: checkpoints, log.jsonl, generator.safetensors",
    "seed": "random seed (data order, crops, initialisation)",
    "log_every": "steps between log lines",
    "checkpoint_every": "steps between checkpoints",
    "keep_last": "how many step checkpoints to keep",
    "eval_every": "steps between validation/eval scores (0: never)",
    "eval_data": "benchmark folders or names (Set5: looked up as srgan eval --data does), scored for reporting "
                 "only, never for choosing",
    "val_data": "pool (the held-out split of train_data), a folder, or empty: scored every eval_every steps",
    "max_bad_steps": "consecutive NaN/Inf losses before training stops",
    "d_wins_warn_steps": "warn when the discriminator wins outright this many steps in a row (0: off)",
    "tensorboard": "write TensorBoard scalars and images when tensorboard is installed",
    "progress": "tqdm progress bar on a terminal; into a pipe or a file, a plain line per log record",
}

# Names other SR code uses for our keys, which no spelling distance finds.
OTHER_NAMES = {"learning_rate": "lr", "batch": "batch_size", "patch_size": "crop_size", "epochs": "steps",
               "iterations": "steps", "iters": "steps", "upscale_factor": "scale", "num_res_blocks": "num_blocks"}


def unknown_keys(unknown: list[str], known: list[str]) -> str:
    """"unknown key 'stepz' (did you mean 'steps'?)": the closest key first, since the list is 41 long."""
    named = []
    for key in unknown:
        close = [OTHER_NAMES[key]] if key in OTHER_NAMES else difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    return f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(named)}; known keys: {', '.join(known)}"


def _coerce(key: str, value: Any, hint: Any, source: str) -> Any:
    """Check ``value`` against the field type; ints are accepted for floats, a string for a one-item list, a
    ``pathlib.Path`` for a string (a config built in Python)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if typing.get_origin(hint) is list:
        if isinstance(value, (str, os.PathLike)):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: '{key}' must be a list of strings, got {value!r}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is a subclass of int: a bool is only accepted where a bool is wanted, and vice versa.
    ok = isinstance(value, bool) if hint is bool else isinstance(value, hint) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{source}: '{key}' must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


HOME_KEYS = PATH_KEYS + ("eval_data", "vgg_weights", "out_dir")  # "~/..." is the home folder, as in a shell


def _expand_home(key: str, value: Any) -> Any:
    if key not in HOME_KEYS:
        return value
    return [os.path.expanduser(v) for v in value] if isinstance(value, list) else os.path.expanduser(value)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a TOML value (``lr=2e-4``, ``compile=true``); bare words are strings."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def resolve_config_path(name: str | Path) -> Path:
    """A config file path, or the name of a bundled config (``paper-srresnet`` -> srgan/configs/...)."""
    path = Path(name)
    if path.exists() and not path.is_dir():  # a file, or a pipe such as bash's --config <(...)
        return path
    bundled = CONFIG_DIR / f"{name}.toml"
    if bundled.is_file():
        return bundled
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    if path.is_dir():
        raise ConfigError(f"config {str(name)!r} is a folder, not a config file (bundled configs: {names})")
    raise ConfigError(f"config {str(name)!r} not found (not a file; bundled configs: {names})")


# Keys the mse phase has no use for: D's loss and weight, the grid loss, the lr drop, D's win warning.
GAN_ONLY = ("adversarial_weight", "grid_weight", "label_smoothing", "lr_decay", "lr_decay_at", "lr_decay_step",
            "d_wins_warn_steps")
# Keys the mse content loss has no use for.
VGG_ONLY = ("vgg_weights", "vgg_weight", "vgg_feature_scale")


def load_config(name: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), *,
                stored: dict[str, Any] | None = None, source: str = "config") -> TrainConfig:
    """A config file (or bundled name) with ``key=value`` overrides on top. ``stored``: start from these values
    instead of a file: a checkpoint's own config (``srgan train --resume CKPT`` without ``--config``)."""
    from_file: dict[str, Any] = {}
    if name:
        path = resolve_config_path(name)
        source = str(path)
        try:
            from_file = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: the BOM Windows editors write
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    parsed = [parse_override(item) for item in overrides]
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    hints = typing.get_type_hints(TrainConfig)
    for (key, value), item in zip(parsed, overrides):  # blame the command line, not the file, for its own keys
        if key not in known:
            raise ConfigError(f"override {item!r}: {unknown_keys([key], known)}")
        _coerce(key, value, hints[key], f"override {item!r}")
    config = TrainConfig.from_dict({**(stored or {}), **from_file, **dict(parsed)}, source=source)
    chosen = set(from_file) | {key for key, _value in parsed}  # set on purpose, unlike every key a checkpoint keeps
    # Set on purpose and silently without effect is worse than an error.
    if config.phase == "mse":
        _refuse_unused([key for key in GAN_ONLY if key in chosen], "the gan phase uses", "phase is 'mse'",
                       "phase=gan")
    # The VGG keys: on the command line (a VGG ablation that forgot content_loss=vgg54 made N identical runs), and
    # in a file that itself asks for mse (a vgg54 file's own keys stand when a line switches it to mse).
    vgg_set = {key for key, _value in parsed} | (set(from_file) if from_file.get("content_loss", "mse") == "mse"
                                                  else set())
    if config.content_loss == "mse":
        _refuse_unused([key for key in VGG_ONLY if key in vgg_set], "the VGG content losses use",
                       "content_loss is 'mse'", "content_loss=vgg54 (or vgg22)")
    return config


def _refuse_unused(keys: list[str], used_by: str, because: str, remedy: str) -> None:
    """ConfigError for ``keys`` set where nothing uses them: "only <used_by> it, and <because>; ..."."""
    if keys:
        it = "it" if len(keys) == 1 else "them"
        raise ConfigError(f"config {', '.join(repr(k) for k in keys)}: only {used_by} {it}, and {because}; remove "
                          f"{it} or set {remedy}")
