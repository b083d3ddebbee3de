"""Ctrl-C during a run, even the one CPython drops.

A SIGINT whose handler runs inside an `os.register_at_fork` callback (logging registers
some; every git command and sandboxed stage forks) raises its KeyboardInterrupt there,
where CPython reports it as "Exception ignored" and goes on: the chaos runs saw `strop run`
finish its whole budget, exit 0, after a Ctrl-C that landed in a fork (1 in 10 tries).
While the loop runs, SIGINT also sets a flag, and every node raises KeyboardInterrupt at
its start when the flag is set, so a dropped Ctrl-C still stops the run within one node.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_pending = threading.Event()


@contextmanager
def noticed_interrupts() -> Iterator[None]:
    """While inside, SIGINT is remembered as well as raised (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: Any = signal.getsignal(signal.SIGINT)

    def remember(signum: int, frame: FrameType | None) -> None:
        _pending.set()
        if callable(previous):
            previous(signum, frame)  # Python's default raises KeyboardInterrupt here
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    _pending.clear()
    signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending.clear()


def raise_if_interrupted() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C that reached the process but not its code."""
    if _pending.is_set():
        _pending.clear()
        raise KeyboardInterrupt
