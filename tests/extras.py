"""Optional modules the tests use (the package's extras, the dev extra's scipy and scikit-image)."""
import importlib
import os

import pytest


def need(module: str, reason: str):
    """``module`` imported, or the test skipped with ``reason``. Under CI=true, which installs every extra the
    tests use, a missing module is a failure instead: a silent skip there would hide a broken install."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason)
