"""One nightly at a time: an exclusive `flock` on `$STROP_HOME/nightly/lock`, with who holds it.

The kernel releases the lock when its holder dies (however it dies), so a killed
night never blocks the next one; the file's text (pid, host, since) is only there
to tell a second invocation who is running.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from agent.records import now_iso


class NightlyBusy(Exception):
    """Another process holds the nightly lock; `holder` says who, in words."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class NightlyLock:
    def __init__(self, home: Path) -> None:
        self.path = home / "nightly" / "lock"
        self.handle: int | None = None

    def __enter__(self) -> NightlyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(handle, 4096, 0))
            os.close(handle)
            raise NightlyBusy(holder) from None
        os.set_inheritable(handle, False)  # job processes must not keep the lock after we die
        stamp = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}).encode()
        os.ftruncate(handle, 0)
        os.pwrite(handle, stamp, 0)
        self.handle = handle
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.handle is not None:
            os.ftruncate(self.handle, 0)
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            os.close(self.handle)
            self.handle = None


def nightly_running(home: Path) -> bool:
    """Whether a nightly of this host holds the lock now, read from its stamp without locking.

    Taking the lock even for a moment could make a nightly that starts in that moment find it
    busy and skip its night; the stamp is emptied on every clean exit, so a stamp whose process
    is gone is a nightly that was killed.
    """
    try:
        data = json.loads((home / "nightly" / "lock").read_text() or "{}")
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return False
    if data.get("host") != socket.gethostname():
        return True  # another host's nightly on a shared home: not ours to call dead
    from sandbox.process import process_alive

    return process_alive(data["pid"])


def _describe(raw: bytes) -> str:
    try:
        data = json.loads(raw.decode() or "{}")
    except ValueError:
        data = {}
    if not data:
        return "another strop nightly run"
    return f"strop nightly run pid {data.get('pid')} on {data.get('host')} since {data.get('since')}"
