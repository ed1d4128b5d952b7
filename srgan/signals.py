"""Signal handlers for a block of work, installed the Unix way: a signal ignored when srgan started stays ignored.

A shell runs a script's background jobs (``srgan train ... &``) with SIGINT ignored, so that a Ctrl-C meant for
the foreground leaves them be; a supervisor may ignore SIGTERM for the same reason. Python itself keeps an
ignored SIGINT ignored; :func:`handling` does the same for the handlers srgan installs.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable, Iterator

#: The terminal or ssh session closing under a long run (``nohup`` ignores it, and ignored it stays). Its default
#: action killed srgan where it stood: an upscale left a hidden ``.NAME.tmp`` behind, training its unsaved steps.
HANGUP = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()


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
    """SIGTERM (and SIGHUP) interrupt like Ctrl-C inside the block, so that ``finally`` blocks remove temporary
    files and partial downloads (unless the signal was ignored when srgan started)."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    with handling((signal.SIGTERM, *HANGUP), interrupt):
        yield


@contextmanager
def stop_requests() -> Iterator[dict]:
    """SIGINT/SIGTERM/SIGHUP set ``flag["signal"]`` (its name) for a loop to finish its step, save and stop; a
    second SIGINT aborts at once (KeyboardInterrupt). Signals ignored on entry stay ignored."""
    flag = {"signal": None}

    def handler(signum, _frame):
        if flag["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["signal"] = signal.Signals(signum).name

    with handling((signal.SIGINT, signal.SIGTERM, *HANGUP), handler):
        yield flag
