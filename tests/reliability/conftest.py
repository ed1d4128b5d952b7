"""Fixtures for the reliability catalogue (docs/RELIABILITY.md); the helpers themselves are in support.py."""
from support import cli, train_data, trained_run, weights  # noqa: F401  (pytest fixtures)
