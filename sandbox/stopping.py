"""Stopping every sandboxed command of this process at once: what a SIGTERM or a Ctrl-C to strop does.

A sandboxed command runs in a process group or a container of its own, so a signal to strop
does not reach it, and the strop thread that waits on it would wait until its time limit
(minutes: a training run) while a candidate nobody will score keeps using the host.
`stop_all()` ends every command running now; it may be called from a signal handler, so
it only sends signals (a process group's SIGKILL) and raises flags: the thread that
supervises each command sees the flag within a tick and ends the rest (bwrap's pid 1, a
container, which takes a docker call). Each backend's `run` then raises `Stopped` instead
of returning an `Execution`: a command that strop cut is no verdict on the candidate, so
nothing of it is recorded, and the run's `strop resume` evaluates it again. `wait_idle()`
waits for those threads to be done, before the process ends.

A SIGKILL of strop is seen by no code of strop: there each backend's own switch ends what
it started (`sandbox.process.parent_death_signal` under local, bwrap's `--die-with-parent`;
under docker the command's `timeout` and the next `DockerSandbox`'s orphan reaping).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Running", "Stopped", "running", "stop_all", "wait_idle"]


class Stopped(KeyboardInterrupt):
    """The command was ended by `stop_all` (strop is stopping), not by itself or its limits.

    A KeyboardInterrupt, so that whatever stops on a Ctrl-C stops on it too, and no
    `except Exception` takes it for the candidate's failure.
    """


class Running:
    """One command in flight: `kill` (signal-safe, or None) ends it; `stopped`: `stop_all` did."""

    def __init__(self, kill: Callable[[], None] | None) -> None:
        self.kill = kill
        self.stopped = False

    def check(self) -> None:
        """Raise `Stopped` when `stop_all` ended this command."""
        if self.stopped:
            raise Stopped("the sandboxed command was stopped: strop is stopping")


_lock = threading.RLock()  # reentrant: a signal handler may run while its own thread holds it
_idle = threading.Condition(_lock)
_running: list[Running] = []


@contextmanager
def running(kill: Callable[[], None] | None = None) -> Iterator[Running]:
    """While inside, the command is one `stop_all` stops: `kill` (if any) at once, the flag in any case."""
    entry = Running(kill)
    with _lock:
        _running.append(entry)
    try:
        yield entry
    finally:
        with _lock:
            with contextlib.suppress(ValueError):
                _running.remove(entry)
            _idle.notify_all()


def stop_all() -> int:
    """End every command in flight now (see the module docstring); how many there were."""
    with _lock:
        entries = list(_running)
    for entry in entries:
        entry.stopped = True
        if entry.kill is not None:
            with contextlib.suppress(Exception):
                entry.kill()
    return len(entries)


def wait_idle(timeout: float) -> bool:
    """Wait up to `timeout` seconds for no command to be in flight; whether none is."""
    with _idle:
        return _idle.wait_for(lambda: not _running, timeout)
