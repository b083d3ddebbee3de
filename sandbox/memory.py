"""Watchdog on the memory of all a sandbox's processes together, where no cgroup counts it.

`bwrap` and `local` limit memory with RLIMIT_AS, which bounds each process alone: a
candidate that forks 100 children of 500 MiB each holds 50 GiB under a "512m" limit,
enough to make the host's OOM killer pick a victim (strop, or anybody's process). Docker
has a cgroup for this; the others use none (a caller who is not root, or a cgroup v2
tree without delegation, may not make one). So this watchdog sums the proportional set size (PSS: a page shared
by n processes counts 1/n to each, so forked workers sharing their parent's pages are not
counted n times, as with the cgroup) of every process of the sandbox, a few times a
second, and stops the command once the sum passes the limit. Memory files (`memfd_create`)
count too, by the pages they hold, while a process of the sandbox holds their descriptor:
their pages are in no address space until mapped, so neither RLIMIT_AS nor PSS sees them,
and nothing else caps their bytes (RLIMIT_FSIZE caps each, not how many). So do System V
shared memory segments of the sandbox's own IPC namespace (bwrap's `--unshare-ipc`): a
segment keeps its pages after every process detached it, until the namespace ends.

Which processes are the sandbox's is the backend's to say (`members`): the processes
of its pid namespace for bwrap (its init's descendants), of its process group for
local (a `setsid` daemon leaves that; see `sandbox.local`). Written by hand: psutil is
not a dependency, and what is needed is a few small /proc reads per process.

What it cannot see (a cgroup would): memory that no process of the sandbox maps or holds
a descriptor of, such as a memory file whose only descriptor is in flight in a unix
socket, pipe and socket buffers, and the System V segments of a caller who is not root
(joining the sandbox's IPC namespace takes CAP_SYS_ADMIN in ours too).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterable

from sandbox.execution import KilledBy

EVERY = 0.1
"""Seconds between two sums of a sandbox's processes' memory."""

_PAGE = os.sysconf("SC_PAGE_SIZE")

Members = Callable[[], Iterable[int]]


def _read(path: str, size: int = 4096) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def pids() -> list[int]:
    """Every process id of the machine (of our pid namespace)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def resident(pid: int) -> int:
    """Bytes of memory process `pid` holds: its PSS, or its RSS where smaps_rollup is absent; 0 once gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(_read(f"/proc/{pid}/statm").split()[1]) * _PAGE
    return 0


def descendants(init: Callable[[], int | None]) -> Members:
    """The process `init()` names and all its descendants: for a pid namespace's init, every
    process of the namespace (an orphan in it is re-parented to its init, never outside).

    Read from /proc/PID/task/TID/children, which costs in proportion to the sandbox, not
    to the machine; a process forked while the tree is read is counted on the next sum.
    """

    def members() -> list[int]:
        root = init()
        found: list[int] = []
        todo = [root] if root is not None else []
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError, ValueError):
                        todo += [int(child) for child in _read(f"/proc/{pid}/task/{task}/children").split()]
        return found

    return members


def in_process_group(pgid: Callable[[], int | None]) -> Members:
    """The processes of the process group `pgid()` names (none until it does).

    A member need not descend from the leader (an orphan goes to the host's init), so this
    reads every process's /proc/PID/stat: about 2 ms on a machine of 100 processes.
    """

    def members() -> list[int]:
        group = pgid()
        if group is None:
            return []
        found = []
        for other in pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and ')'.
                fields = _read(f"/proc/{other}/stat", 512).rsplit(b")", 1)[1].split()
                if int(fields[2]) == group:
                    found.append(other)
        return found

    return members


def memory_files(members: list[int]) -> int:
    """Bytes held in memory files (`memfd_create`) open in the processes `members`, each file once."""
    seen: dict[tuple[int, int], int] = {}
    for pid in members:
        folder = f"/proc/{pid}/fd"
        with contextlib.suppress(OSError):
            for fd in os.listdir(folder):
                with contextlib.suppress(OSError):
                    if os.readlink(f"{folder}/{fd}").startswith("/memfd:"):
                        info = os.stat(f"{folder}/{fd}")
                        seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    return sum(seen.values())


_CLONE_NEWIPC = 0x08000000
_LIBC: list[ctypes.CDLL] = []  # loaded on first use, then kept: the watch asks a few times a second


def _setns(fd: int, kind: int) -> int:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return int(_LIBC[0].setns(fd, kind))


def ipc_segments(pid: int) -> int:
    """Bytes held (resident and swapped) by the System V shared memory segments of the IPC
    namespace process `pid` is in; 0 where that cannot be read.

    /proc/sysvipc/shm lists the segments of the reader's IPC namespace, so it is read from a
    short-lived thread that joined `pid`'s (namespaces are per thread: the rest of strop
    stays where it is).
    """
    found: list[int] = []

    def read() -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fd = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _setns(fd, _CLONE_NEWIPC) != 0:
                    return
            finally:
                os.close(fd)
            with open("/proc/sysvipc/shm", "rb") as table:
                header, *rows = table.read().splitlines()
            names = header.split()
            columns = [names.index(name) for name in (b"rss", b"swap") if name in names]
            found.append(sum(int(row.split()[column]) for row in rows for column in columns))

    worker = threading.Thread(target=read, name="strop-ipc-memory", daemon=True)
    worker.start()
    worker.join()
    return found[0] if found else 0


class MemoryWatch:
    """Watchdog: MEMORY once the processes `members` names hold more than `limit` bytes together.

    `peak` is the largest sum seen, for the `Execution`'s peak memory.
    """

    def __init__(
        self,
        members: Members,
        limit: int,
        every: float = EVERY,
        own_ipc: Callable[[], int | None] | None = None,
    ) -> None:
        """`own_ipc`: the pid of a process in the sandbox's own IPC namespace, whose System V
        segments are then counted (never for a sandbox in the host's namespace, `local`)."""
        self.members, self.limit, self.every, self.own_ipc = members, limit, every, own_ipc
        self.peak = 0
        self._next = 0.0

    def __call__(self) -> KilledBy | None:
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every
        members = list(self.members())
        total = sum(resident(pid) for pid in members) + memory_files(members)
        ipc = self.own_ipc() if self.own_ipc is not None else None
        if ipc is not None:
            total += ipc_segments(ipc)
        self.peak = max(self.peak, total)
        return KilledBy.MEMORY if total > self.limit else None
