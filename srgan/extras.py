"""The optional dependencies (pyproject.toml's extras), and one clear line when one is missing."""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(modules: tuple[str, ...], extra: str, needed_for: str) -> list[ModuleType]:
    """Import each of ``modules``, or raise :class:`MissingExtra`: ``<needed_for> needs the <extra> extra (<module>
    is not installed): pip install -e ".[<extra>]" from the srgan checkout``."""
    found, missing = [], []
    for name in modules:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtra(f"{needed_for} needs the {extra} extra ({' and '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not installed): pip install -e \".[{extra}]\" "
                           "from the srgan checkout")
    return found
