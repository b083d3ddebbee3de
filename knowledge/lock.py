"""One writer at a time: an OS file lock next to the store.

Chroma corrupts an index when two processes write the same folder, so every
write (ingest, remove, learn, rebuild) holds `write.lock`. `filelock` uses
`fcntl` here, so a writer that dies releases the lock with its process (no
stale lock files to clean): a lock still held is held by a live process. A
second writer waits up to `timeout` seconds and then fails with `StoreBusy`,
naming the folder, instead of hanging; `timeout=math.inf` waits as long as the
holder lives (`strop knowledge add` does, saying so: `waiting_notices`). Readers
take no lock.

The holder writes its pid to `write.lock.pid` (a file of its own: the lock file
is opened, and may be truncated, by every process that tries the lock), so a
waiter can name it. The pid is only a name: whether the store is busy is the
lock's to say, and a pid file left by a killed writer names no one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from knowledge.errors import StoreBusy

DEFAULT_TIMEOUT_S = 60.0
POLL_S = 1.0
"""How often a waiting writer tries the lock again and calls its `waiting_notices` callback."""
PID_FILE = "write.lock.pid"

WaitNotice = Callable[[int | None, float], None]
"""notice(holder_pid or None, seconds_waited_so_far): called while a writer waits for the lock."""

_NOTICE: ContextVar[WaitNotice | None] = ContextVar("knowledge_lock_notice", default=None)


@contextmanager
def waiting_notices(notice: WaitNotice) -> Iterator[None]:
    """While inside, a writer that finds the lock held calls `notice` at once and then about every
    `POLL_S` seconds while it waits (the caller decides what to print and how often)."""
    token = _NOTICE.set(notice)
    try:
        yield
    finally:
        _NOTICE.reset(token)


@contextmanager
def writer_lock(folder: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / "write.lock"))
    _acquire(lock, folder, timeout)
    pid_file = folder / PID_FILE
    with contextlib.suppress(OSError):  # the pid only names the writer to a waiter
        tmp = folder / f"{PID_FILE}.{os.getpid()}.tmp"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, pid_file)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            pid_file.unlink()
        lock.release()


def _acquire(lock: object, folder: Path, timeout: float) -> None:
    """Take `lock`, waiting up to `timeout` seconds (forever for `math.inf`) while another process
    holds it; the `waiting_notices` callback hears of the wait."""
    from filelock import Timeout

    started = time.monotonic()
    notice = _NOTICE.get()
    wait = 0.0  # the first try does not wait: a free lock is taken at once, a held one noticed at once
    while True:
        try:
            lock.acquire(timeout=wait)  # type: ignore[attr-defined]
            return
        except Timeout:
            waited = time.monotonic() - started
            if waited >= timeout:
                raise StoreBusy(
                    f"another process is writing to the store at {folder} and still held {folder / 'write.lock'} "
                    f"after {timeout:.0f}s; try again when it has finished"
                ) from None
            if notice is not None:
                notice(holder(folder), waited)
            wait = max(0.0, min(timeout - waited, POLL_S))


def holder(folder: Path) -> int | None:
    """The pid the lock's holder wrote, when that process is alive; None when unknown."""
    try:
        pid = int((folder / PID_FILE).read_text().strip())
        os.kill(pid, 0)
    except PermissionError:
        return pid  # alive, another user's
    except (OSError, ValueError):
        return None
    return pid
