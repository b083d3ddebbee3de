"""The memory of all a sandbox's processes together: a memory cgroup of its own, or a watchdog.

RLIMIT_AS (what `local` sets, and `bwrap` where it has no cgroup) bounds each process alone: a
candidate that forks 100 children of 500 MiB each holds 50 GiB under a "512m" limit,
enough to make the host's OOM killer pick a victim (strop, or anybody's process). Docker
has a cgroup for this; bwrap gets one where strop may make it (`MemoryCgroup`, below),
but a caller who is not root, a read-only cgroup file system or a cgroup v2 tree without
delegation may not, and `local` never does. There, this watchdog (`MemoryWatch`) sums
the proportional set size (PSS: a page shared by n processes counts 1/n to each, so
forked workers sharing their parent's pages are not counted n times, as with the cgroup)
of every process of the sandbox, a few times a second, and stops the command once the
sum passes the limit. Memory files (`memfd_create`) count too, by the pages they hold,
while a process of the sandbox holds their descriptor: their pages are in no address
space until mapped, so neither RLIMIT_AS nor PSS sees them, and nothing else caps their
bytes (RLIMIT_FSIZE caps each, not how many). So do System V shared memory segments of
the sandbox's own IPC namespace (bwrap's `--unshare-ipc`): a segment keeps its pages
after every process detached it, until the namespace ends.

Which processes are the sandbox's is the backend's to say (`members`): the processes
of its pid namespace for bwrap (its init's descendants), of its process group for
local (a `setsid` daemon leaves that; see `sandbox.local`). Written by hand: psutil is
not a dependency, and what is needed is a few small /proc reads per process.

What it cannot see (a cgroup would): memory that no process of the sandbox maps or holds
a descriptor of, such as a memory file whose only descriptor is in flight in a unix
socket, pipe and socket buffers, files in the sandbox's own tmpfs (/tmp, /dev/shm), and
the System V segments of a caller who is not root (joining the sandbox's IPC namespace
takes CAP_SYS_ADMIN in ours too); and, polled, it lets a fast allocation run past the
limit between two sums.

So where strop may make one, a sandbox gets a memory cgroup of its own instead
(`MemoryCgroup`, bwrap only): the kernel charges it every page its processes cause,
anonymous, shared memory and tmpfs, pipe and socket buffers, kernel objects, and enforces
the limit at the allocation, no polling; swap is capped at zero with it (v1's memsw, v2's
memory.swap.max). When the sum cannot be brought under the limit, the kernel's OOM killer
kills a process of the cgroup; the cgroup's counter of such kills (v1 memory.oom_control,
v2 memory.events: `oom_kill`) turns that into the MEMORY verdict, and the watchdog then
stops the rest. v1's `failcnt` is not used: it counts every time the limit was reached,
which page-cache reclaim does without any kill. A page shared by forked workers is one
page, charged once, as with PSS. The cgroup is made under strop's own (from
/proc/self/cgroup and /proc/self/mountinfo), named `strop-PID-…` so that one left by a
strop killed outright is removed by the next; it needs that folder writable (root, no
read-only /sys/fs/cgroup as in most containers) and, on v2, the memory controller
enabled for strop's cgroup's children, which the "no internal processes" rule forbids
where strop's cgroup holds processes and is not the root (a systemd session): there,
and wherever the probe fails, the watch above holds instead (`cgroup_support` says why).

Written by hand too: the PyPI libraries (cgroupspy, last release 2024; cgroups, 2014;
libcgroup's bindings, 2019) model v1 trees, none reads the OOM counters or knows v2's
rules, and what is needed is a mkdir, four small writes, two reads and an rmdir.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandbox.execution import KilledBy
from sandbox.process import process_alive

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


# --- the kernel's count: a memory cgroup per sandbox ---------------------------------

CGROUP_PREFIX = "strop-"
"""Name prefix of the cgroups made here: `strop-OWNERPID-RANDOM`."""

REMOVE_WAIT = 5.0
"""Seconds to wait for a cgroup's last process to be gone before it is left behind."""


def own_peak_rss() -> int:
    """This process's peak RSS in bytes: what a command it forks starts its own peak from."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def credible_peak(launcher: int | None, watched: int, inherited: int) -> int | None:
    """A command's peak memory from its launcher's `ru_maxrss` and the watch's largest sum.

    A forked child's peak RSS starts from its parent's (the kernel copies the high-water mark
    at fork and keeps it across exec): under a strop of 900 MiB, a candidate of 50 MiB read
    913 MiB. So a launcher peak no larger than strop's own (`inherited`, read before the
    fork) says nothing of the command, and the watch's sum is its peak; a larger one is the
    command's own.
    """
    if launcher is None or launcher <= inherited:
        return watched or None
    return max(launcher, watched)


@dataclass(frozen=True)
class CgroupPlace:
    """Where sandboxes' memory cgroups are made: under `folder` (strop's own), of cgroup `version` 1 or 2."""

    folder: Path
    version: int


def own_memory_cgroup(cgroups: str, mountinfo: str) -> CgroupPlace | str:
    """Pure: strop's own memory cgroup on the file system, from the text of /proc/self/cgroup and
    /proc/self/mountinfo; or why there is none. A v1 memory hierarchy wins over v2 (a hybrid
    machine binds the memory controller to v1; v2 may then have none)."""
    return own_cgroup(cgroups, mountinfo, "memory")


def own_cgroup(cgroups: str, mountinfo: str, controller: str) -> CgroupPlace | str:
    """Pure: strop's own cgroup of `controller` (v1's hierarchy of it, else v2's) on the file
    system, from the text of /proc/self/cgroup and /proc/self/mountinfo; or why there is none."""
    paths: dict[int, str] = {}
    for line in cgroups.splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            paths.setdefault(2, path)
        elif controller in controllers.split(","):
            paths[1] = path
    mounts: dict[int, list[tuple[str, str]]] = {1: [], 2: []}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 5 or len(after) < 3:
            continue
        root, point = fields[3], fields[4].replace("\\040", " ")
        if after[0] == "cgroup" and controller in after[2].split(","):
            mounts[1].append((root, point))
        elif after[0] == "cgroup2":
            mounts[2].append((root, point))
    for version in (1, 2):
        path = paths.get(version)
        if path is None:
            continue
        path = path.removesuffix(" (deleted)")
        for root, point in mounts[version]:
            if root == "/":
                return CgroupPlace(Path(point + path.rstrip("/")), version)
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return CgroupPlace(Path(point + path[len(root) :].rstrip("/")), version)
        return f"strop's {controller} cgroup ({path}, v{version}) is not mounted here"
    return f"no {controller} controller in /proc/self/cgroup"


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _counter(text: str, name: str) -> int:
    """The value of line `name N` in a flat-keyed cgroup file (memory.events, memory.oom_control)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            with contextlib.suppress(ValueError):
                return int(value)
    return 0


def sweep(folder: Path) -> None:
    """Remove the cgroups a strop that has died left in `folder` (killed outright: no `close`).

    One that still holds processes stays (rmdir fails): its sandbox ends by its own
    `timeout -s KILL` (see `sandbox.bubblewrap.ORPHAN_GRACE`), and a later sweep takes it.
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            owner = entry.name.removeprefix(CGROUP_PREFIX).split("-")[0]
            if entry.name.startswith(CGROUP_PREFIX) and owner.isdigit() and not process_alive(int(owner)):
                with contextlib.suppress(OSError):
                    os.rmdir(entry.path)


class MemoryCgroup:
    """A memory cgroup of one sandbox's own, holding `limit` bytes (swap none), made at once.

    `enter` moves the calling process in (a `preexec_fn`: the launcher and all it forks
    then belong to it); as a watchdog, MEMORY once the kernel's OOM killer has killed in it;
    `close` reads its peak and OOM kills and removes it (killing what is still in it).
    OSError when the cgroup cannot be made or limited (nothing is left behind then).
    """

    def __init__(self, place: CgroupPlace, limit: int) -> None:
        self.version, self.limit = place.version, limit
        self.path = place.folder / f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.peak = 0
        self.oom_kills = 0
        self._events: Path | None = None  # set once limited: then `close` reads it
        self._peak_file = ""
        os.mkdir(self.path, 0o755)
        try:
            if self.version == 1:
                _write(self.path / "memory.limit_in_bytes", str(limit))
                if (self.path / "memory.memsw.limit_in_bytes").exists():
                    _write(self.path / "memory.memsw.limit_in_bytes", str(limit))
                else:  # no swap accounting (swapaccount=0): keep its pages out of swap instead
                    _write(self.path / "memory.swappiness", "0")
                self._events, self._peak_file = self.path / "memory.oom_control", "memory.max_usage_in_bytes"
            else:
                _write(self.path / "memory.max", str(limit))
                if (self.path / "memory.swap.max").exists():
                    _write(self.path / "memory.swap.max", "0")
                if (self.path / "memory.oom.group").exists():  # one OOM kill takes the whole sandbox
                    _write(self.path / "memory.oom.group", "1")
                self._events, self._peak_file = self.path / "memory.events", "memory.peak"
        except OSError:
            self.close()
            raise
        self._procs = str(self.path / "cgroup.procs").encode()

    @staticmethod
    def describe_version(version: int) -> str:
        """How a cgroup of `version` holds the memory, in words."""
        limit = "memory.limit_in_bytes, no swap" if version == 1 else "memory.max, memory.swap.max=0"
        return f"memory: a cgroup v{version} of the sandbox's own ({limit}), enforced by the kernel"

    def describe(self) -> str:
        return self.describe_version(self.version)

    def enter(self) -> None:
        """Move the calling process into the cgroup; run between fork and exec (few calls, no allocation)."""
        fd = os.open(self._procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def _oom_kills(self) -> int:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            self.oom_kills = max(self.oom_kills, _counter(_read(str(self._events)).decode(), "oom_kill"))
        return self.oom_kills

    def __call__(self) -> KilledBy | None:
        """Watchdog: MEMORY once the kernel has OOM-killed a process of the sandbox."""
        return KilledBy.MEMORY if self._oom_kills() else None

    def close(self) -> None:
        """Read the peak and the OOM kills, then remove the cgroup; kills what is left in it.

        Its processes are normally gone (bwrap's pid namespace dies with its init), but an
        exiting process leaves its cgroup a moment after its parent saw it end.
        """
        if self._events is not None:
            self._oom_kills()
            with contextlib.suppress(OSError, ValueError):
                self.peak = max(self.peak, int(_read(str(self.path / self._peak_file))))
        remove(self.path)


def _kill_members(path: Path) -> int:
    """SIGKILL every process in cgroup `path`; how many it held (0 once it is gone)."""
    try:
        left = _read(str(path / "cgroup.procs"), 1 << 20).split()
    except OSError:
        return 0
    for pid in left:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    return len(left)


def empty(path: Path, wait: float = REMOVE_WAIT) -> bool:
    """Kill what is left in cgroup `path` until it holds no process; False where one stays past `wait` s.

    A counter read once it holds none (CPU time) counts every process it ever held, to its end.
    """
    deadline = time.monotonic() + wait
    while _kill_members(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def remove(path: Path) -> None:
    """Remove cgroup `path`, killing what is still in it; left for the next `sweep` past `REMOVE_WAIT`.

    Its processes are normally gone, but an exiting process leaves its cgroup a moment after
    its parent saw it end (rmdir: EBUSY until then).
    """
    deadline = time.monotonic() + REMOVE_WAIT
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                return
        _kill_members(path)
        time.sleep(0.01)


def _place_here() -> CgroupPlace | str:
    """Strop's own memory cgroup if sandboxes' can be made under it; or why not."""
    try:
        place = own_memory_cgroup(
            Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text()
        )
    except OSError as error:
        return f"cannot read /proc/self: {error}"
    if isinstance(place, str):
        return place
    if not os.access(place.folder, os.W_OK):
        return f"{place.folder} is not writable (not root, or a read-only cgroup file system)"
    if place.version == 2:
        with contextlib.suppress(OSError):
            if "memory" not in (place.folder / "cgroup.controllers").read_text().split():
                return f"the memory controller is not delegated to {place.folder}"
            if "memory" not in (place.folder / "cgroup.subtree_control").read_text().split():
                try:
                    _write(place.folder / "cgroup.subtree_control", "+memory")
                except OSError as error:  # EBUSY: strop's cgroup holds processes and is not the root
                    return f"cannot enable memory for the children of {place.folder}: {error.strerror}"
    return place


@functools.cache
def cgroup_support() -> CgroupPlace | str:
    """Where sandboxes' memory cgroups are made on this machine, or why they cannot be; asked once.

    Proved by making one and moving a short-lived process (`true`) into it.
    """
    place = _place_here()
    if isinstance(place, str):
        return place
    sweep(place.folder)
    try:
        probe = MemoryCgroup(place, 64 << 20)
    except OSError as error:
        return f"cannot make a memory cgroup in {place.folder}: {error.strerror or error}"
    failed = enter_once(probe, place.folder, "memory")
    return place if failed is None else failed


class Enterable(Protocol):
    """A cgroup a process can be moved into (`preexec_fn`) and that is closed after."""

    def enter(self) -> None: ...
    def close(self) -> None: ...


def enter_once(probe: Enterable, folder: Path, kind: str) -> str | None:
    """Move a short-lived process (`true`) into cgroup `probe`, then close it: why that failed
    (a cgroup made but not enterable: a delegation or a security module's refusal), or None."""
    try:
        subprocess.run(["true"], preexec_fn=probe.enter, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"cannot move a process into a {kind} cgroup in {folder}: {error}"
    finally:
        probe.close()
    return None


def memory_cgroup(limit: int) -> MemoryCgroup | str:
    """A fresh memory cgroup holding `limit` bytes, or why there is none (the watch holds then)."""
    place = cgroup_support()
    if isinstance(place, str):
        return place
    sweep(place.folder)
    try:
        return MemoryCgroup(place, limit)
    except OSError as error:
        return f"cannot make a memory cgroup in {place.folder}: {error.strerror or error}"
