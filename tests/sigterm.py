"""In-process SIGTERM at a chosen call, for tests of what a command does when it is killed there."""
from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager


@contextmanager
def sigterm_when_called(monkeypatch, owner, name: str):
    """Inside the block, ``owner.name(...)`` sends this process SIGTERM. A handler of the caller's stands in for
    the default action, so a command that fails to take the signal fails the test rather than killing pytest;
    after the block that handler must be back."""
    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs here
        raise AssertionError("SIGTERM did not interrupt")

    def callers_handler(_signum, _frame):
        raise AssertionError("SIGTERM reached the caller's handler: the command did not take it")

    monkeypatch.setattr(owner, name, killed)
    previous = signal.signal(signal.SIGTERM, callers_handler)
    try:
        yield
        assert signal.getsignal(signal.SIGTERM) is callers_handler  # given back after the command
    finally:
        signal.signal(signal.SIGTERM, previous)
