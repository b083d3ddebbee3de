"""A call with a hard wall-clock limit: the function runs in a child process that is killed past it.

Some library calls cannot be interrupted from Python and ignore their own limits: a Z3
check on nonlinear real arithmetic can run for minutes past its `rlimit` and its soft
timeout (measured: one denominator check of an evolved float64 program ran > 55 s with
`rlimit` 400 000). A run's deadline is only a limit if such a call can be stopped, so it
runs here: one long-lived child process per `KillableCall` (started on first use, so a
call costs a pipe round trip, not a process start), fed one call at a time. When a call
is not back by its timeout the child is killed (SIGKILL) and the next call starts a
fresh one; the caller gets `CallTimedOut` and decides what an unanswered call means.

The function must be importable (module level) and its arguments and result picklable.
A `KillableCall` pickles without its child, so an object that holds one can still be
sent to worker processes (each would start its own child if it ever called it).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["CallFailed", "CallTimedOut", "KillableCall"]


class CallTimedOut(Exception):
    """The call was not back within its timeout; its child process was killed."""


class CallFailed(Exception):
    """The function raised in the child (the message is the exception's last line) or the child died."""


def _serve(connection: Connection, function: Callable[..., Any]) -> None:
    """The child's loop: one call per message, until the pipe closes or `None` arrives.

    Ctrl-C is ignored (a terminal sends it to the whole process group: the caller stops,
    and takes this child down; its KeyboardInterrupt was a traceback on the user's screen).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        args, kwargs = message
        try:
            reply: tuple[bool, Any] = (True, function(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - sent back to the caller as CallFailed
            reply = (False, "".join(traceback.format_exception_only(type(error), error)).strip()[-500:])
        try:
            connection.send(reply)
        except OSError:  # the caller is gone (BrokenPipeError): nobody wants the answer
            return


def started_quietly(process: Any, start_method: str) -> None:
    """`process.start()` for a child that must print nothing when strop is stopped.

    A forkserver is started with Ctrl-C ignored, so that every child it forks (pool workers,
    killable calls) ignores it from its first instruction: a terminal's Ctrl-C reaches the
    whole process group, and a child still unpickling its task printed a KeyboardInterrupt
    traceback (the caller stops, and kills its children). The start itself holds a stop
    signal until the child has its task: one cut mid-send left the child a truncated pickle,
    and a traceback. (A Ctrl-C in the few milliseconds the forkserver takes to start is lost.)
    """
    from agent.loop.interrupts import held_interrupts

    with held_interrupts():
        if start_method == "forkserver":
            _forkserver_deaf_to_ctrl_c()
        process.start()


def _forkserver_deaf_to_ctrl_c() -> None:
    """Start this process's forkserver (once; later calls find it running) with Ctrl-C ignored."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    # ignored here: inherited by the forkserver, which hands its own setting on to its children
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _die_with_parent() -> None:
    """Linux: the child is killed when its parent process goes, even by SIGKILL (no orphan keeps a CPU)."""
    from sandbox.process import parent_death_signal

    parent_death_signal(signal.SIGKILL)


class KillableCall:
    """`call(*args, timeout=…)` runs `function(*args)` in a child process killed past `timeout` seconds."""

    def __init__(self, function: Callable[..., Any], start_method: str = "forkserver") -> None:
        self.function = function
        self.start_method = start_method
        self.kills = 0  # children killed because a call ran past its timeout
        self._process: Any = None
        self._connection: Connection | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"function": self.function, "start_method": self.start_method, "kills": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["function"], state["start_method"])  # type: ignore[misc]

    def __enter__(self) -> KillableCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, *args: Any, timeout: float, **kwargs: Any) -> Any:
        """The function's result; `CallTimedOut` past `timeout` (0 or less: without trying)."""
        if timeout <= 0:
            raise CallTimedOut("no time left for the call")
        connection = self._child()
        started = time.monotonic()
        try:
            connection.send((args, kwargs))
            ready = connection.poll(None if math.isinf(timeout) else max(0.0, timeout))
            reply = connection.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError) as error:
            self._kill()
            raise CallFailed(f"the child process died: {error or type(error).__name__}") from None
        if reply is None:
            self._kill()
            self.kills += 1
            raise CallTimedOut(f"not done after {time.monotonic() - started:.1f}s")
        ok, value = reply
        if not ok:
            raise CallFailed(value)
        return value

    def close(self) -> None:
        """Stop the child (politely; killed if it is busy)."""
        if self._connection is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self._connection.send(None)
        if self._process is not None:
            self._process.join(timeout=1)
        self._kill()

    def _child(self) -> Connection:
        if self._process is None or not self._process.is_alive() or self._connection is None:
            self._kill()
            context = multiprocessing.get_context(self.start_method)
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self.function), daemon=True)
            started_quietly(self._process, self.start_method)
            child.close()
            self._connection = parent
        return self._connection

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
            self._process = None
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None
