"""Ctrl-C, SIGTERM and SIGHUP during a run: the run stops where it is, resumable, and nothing runs on.

The three stop signals end a run the same way. Ctrl-C raises KeyboardInterrupt; SIGTERM (what
`kill`, systemd, `docker stop` and a CI timeout send) and SIGHUP (a closed terminal) raise
`Terminated`, a KeyboardInterrupt too, where before they killed strop on the spot, with no word
of the run and its sandboxed commands left running on the host. Each of them also stops every
sandboxed command in flight (`sandbox.stopping.stop_all`: the lanes' evaluations in other
threads end within a tick, and raise instead of recording a verdict). A SIGTERM or SIGHUP still
ends the process with that signal (status -15, 143 in a shell), once the run has stopped:
`end_by` is what the command line calls after its message, and what `noticed_interrupts` does
itself when nobody above installed a handler (`strop mle run`, a nightly job: the nightly runner
tells a job stopped at its window's end by that status). A signal that was ignored when the run
started (`nohup`'s SIGHUP) stays ignored.

A SIGINT whose handler runs inside an `os.register_at_fork` callback (logging registers
some; every git command and sandboxed stage forks) raises its KeyboardInterrupt there,
where CPython reports it as "Exception ignored" and goes on: the chaos runs saw `strop run`
finish its whole budget, exit 0, after a Ctrl-C that landed in a fork (1 in 10 tries).
While the loop runs, a stop signal also sets a flag, and every node raises its interrupt at
its start when the flag is set, so a dropped one still stops the run within one node. Inside
logging's and filelock's own at-fork callbacks (where most such signals land) the handler raises
nothing: what it raised would be dropped anyway, with a traceback on stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from sandbox.stopping import stop_all, wait_idle

__all__ = [
    "STOP_SIGNALS",
    "Terminated",
    "end_by",
    "held_interrupts",
    "noticed_interrupts",
    "raise_if_interrupted",
    "received",
    "stop_signals",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TERMINATING = (signal.SIGTERM, signal.SIGHUP)
"""The stop signals whose default action is to end the process (SIGINT's is Python's KeyboardInterrupt)."""

SANDBOXES_GONE = 5.0
"""Seconds `end_by` waits for the sandboxed commands being stopped to be gone (a container's removal)."""


class Terminated(KeyboardInterrupt):
    """A SIGTERM or SIGHUP, raised where a Ctrl-C raises KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_pending: int | None = None  # a stop signal the code may not have seen (a plain value: handler-safe)
_received: int | None = None  # the last stop signal received inside `stop_signals`/`noticed_interrupts`


def received() -> int | None:
    """The last stop signal received since `stop_signals` or `noticed_interrupts` was entered."""
    return _received


def _interruption(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _note(signum: int) -> None:
    """What every stop signal does first: remember it, and stop the sandboxed commands in flight."""
    global _pending, _received
    _pending = _received = signum
    stop_all()


_LOGGING_AT_FORK = {"_acquireLock", "_releaseLock", "_prepareFork", "_afterFork"}


_FILELOCK_AT_FORK = "filelock._core._fork"
"""filelock (4.x) registers at-fork callbacks too: a Ctrl-C there printed a traceback it ignored."""


def _in_fork_callback(frame: FrameType | None) -> bool:
    """Whether a handler runs inside logging's or filelock's at-fork callbacks (or what they call)."""
    for _ in range(8):  # the callback itself, or a few calls down from it
        if frame is None:
            return False
        module = frame.f_globals.get("__name__")
        if (module == "logging" and frame.f_code.co_name in _LOGGING_AT_FORK) or module == _FILELOCK_AT_FORK:
            return True
        frame = frame.f_back
    return False


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise `Terminated` as Ctrl-C raises KeyboardInterrupt.

    For a command that ends with its own word on an interrupt, then calls `end_by(received())`.
    Main thread only (else a no-op); a signal ignored or handled by someone else is left alone.
    """
    global _received
    if not _main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in TERMINATING}

    def terminate(signum: int, frame: FrameType | None) -> None:
        _note(signum)
        raise Terminated(signum)

    _received = None
    for signum, handler in previous.items():
        if handler == signal.SIG_DFL:
            signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(signum, handler)


@contextmanager
def noticed_interrupts() -> Iterator[None]:
    """While inside, a stop signal is remembered as well as raised (main thread only; else a no-op).

    A SIGTERM or SIGHUP whose disposition was the default one when this was entered ends the
    process by that signal on the way out (`end_by`), once the run has stopped.
    """
    global _pending, _received
    if not _main_thread():
        yield
        return
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    watched = [s for s, handler in previous.items() if handler is not None and handler != signal.SIG_IGN]

    def remember(signum: int, frame: FrameType | None) -> None:
        _note(signum)
        if _in_fork_callback(frame):
            return  # the next node raises it (`raise_if_interrupted`)
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)  # Python's SIGINT handler, or `stop_signals`', raises here
        raise _interruption(signum)

    _pending = _received = None
    for signum in watched:
        signal.signal(signum, remember)
    unraisable = sys.unraisablehook
    sys.unraisablehook = _quiet_about_interrupts(unraisable)
    try:
        yield
    except KeyboardInterrupt:
        signum = _received
        if signum in TERMINATING and signum in watched and previous[signum] == signal.SIG_DFL:
            for watched_signal in watched:
                signal.signal(watched_signal, previous[watched_signal])
            end_by(signum)
        raise
    finally:
        sys.unraisablehook = unraisable
        for signum in watched:
            signal.signal(signum, previous[signum])
        _pending = None


def _quiet_about_interrupts(hook: Any) -> Any:
    """`hook`, but silent on a stop signal's interrupt raised where Python drops it (a finaliser: z3's
    `AstRef.__del__`): it printed "Exception ignored … Traceback … KeyboardInterrupt" under strop's
    own line. It is noted already, and raised again at the next node or evaluation."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    return quiet


@contextmanager
def held_interrupts() -> Iterator[None]:
    """While inside, a stop signal waits: it is raised on the way out, by the handler it would have met.

    For the few writes that must be whole or absent (a command's output files, a Pareto point's
    commit): a Ctrl-C in the middle of one left half a file, named as a result. Only handlers
    that raise are held (Python's SIGINT one, `stop_signals`', `noticed_interrupts`'); a signal
    at its default action or ignored stays so. Main thread only (else a no-op).
    """
    if not _main_thread():
        yield
        return
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    held = [signum for signum, handler in previous.items() if callable(handler)]
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    for signum in held:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum in held:
            signal.signal(signum, previous[signum])
        if caught:
            previous[caught[0]](caught[0], None)  # raises, as it would have inside


def raise_if_interrupted() -> None:
    """Raise the interrupt of a stop signal that reached the process but not its code."""
    global _pending
    signum = _pending
    if signum is not None:
        _pending = None
        raise _interruption(signum)


def end_by(signum: int) -> None:
    """End this process now by `signum`'s default action, as if it had never been caught.

    Its parent sees the status it would have seen without strop's handler (-15 for SIGTERM:
    `agent.nightly.runner` reads it). Before: the sandboxed commands being stopped are waited
    for (a container's removal), output is flushed and the exit handlers run (temporary
    folders, child processes); the threads are not waited for, their commands are gone.
    """
    wait_idle(SANDBOXES_GONE)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    time.sleep(1)  # the signal is delivered at once; should it not be, exit as a shell reports it
    os._exit(128 + signum)
