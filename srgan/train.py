"""Training (placeholder until the training loop lands): validates the config so errors surface early."""
from __future__ import annotations

from .config import load_config


def train_from_cli(args) -> int:
    load_config(args.config, args.overrides)
    raise NotImplementedError("srgan train: the training loop is not implemented yet")
