"""Signal handlers for a block of work, installed the Unix way: a signal ignored when srgan started stays ignored.

A shell runs a script's background jobs (``srgan train ... &``) with SIGINT ignored, so that a Ctrl-C meant for
the foreground leaves them be; a supervisor may ignore SIGTERM for the same reason. Python itself keeps an
ignored SIGINT ignored; :func:`handling` does the same for the handlers srgan installs.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def handling(signals: tuple[signal.Signals, ...], handler: Callable) -> Iterator[None]:
    """``handler`` for each of ``signals`` not ignored on entry, inside the block; the previous ones after it."""
    previous = {s: signal.signal(s, handler) for s in signals if signal.getsignal(s) != signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM interrupts like Ctrl-C inside the block, so that ``finally`` blocks remove temporary files and
    partial downloads (unless SIGTERM was ignored when srgan started)."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    with handling((signal.SIGTERM,), interrupt):
        yield


@contextmanager
def stop_requests() -> Iterator[dict]:
    """SIGINT/SIGTERM set ``flag["signal"]`` (its name) for a loop to finish its step, save and stop; a second SIGINT
    aborts at once (KeyboardInterrupt). Signals ignored on entry stay ignored."""
    flag = {"signal": None}

    def handler(signum, _frame):
        if flag["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["signal"] = signal.Signals(signum).name

    with handling((signal.SIGINT, signal.SIGTERM), handler):
        yield flag
