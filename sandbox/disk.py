"""What a sandbox wrote to disk: a cheap trigger on its file systems, then an account of its own.

A bind-mounted host folder has no size cap of its own (quotas would need xfs project
quotas, which we lack), so a watchdog stops a command whose writes pass
`Limits.workspace_bytes` or `Limits.files` new inodes (a flood of empty files fills an
inode table without taking a byte). Measuring the file system (statvfs) costs a
system call, cheap enough for every tick, but it counts every writer: another
evaluation beside this one, a parallel lane, any program of the host. Stopped for
that, an honest candidate was told it "filled its disk quota" (measured: a 100 MB
writer killed beside a 1000 MB one).

So the file system's growth is only the trigger. When it passes the budget, `OwnWrites`
measures what the sandbox itself holds: every tree it may write (its workspace, its
writable binds such as the outputs), walked through descriptors and counted by blocks
(`st_blocks`, hard links once), plus the files under those trees that its processes
hold open or mapped after deleting them (open, unlink, write: in no folder, still on the
disk). Only growth of that account past the budget stops it; otherwise the trigger is
based again so that it trips once the sandbox could have passed the budget, and the
walk is not repeated on every tick. A walk that cannot be completed (a folder it cannot
read or that moves under it) counts the file system's growth instead, as before.

What the account cannot see: a deleted file whose only descriptor is in flight in a
unix socket (no process holds it). So, beyond the account, a file system that grew past
the budget and has less than the budget left free stops the command too: whoever wrote
it, its next writes would fail. `local` has no account (its command may write anywhere
its user may; no walk can say what it wrote): its budget is the file system's growth.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.execution import KilledBy
from sandbox.workspace import walk_beneath

Members = Callable[[], Iterable[int]]
"""The process ids of a sandbox, read when asked (see `sandbox.memory`)."""

WALK_SHARE = 5.0
"""After a walk of c seconds, the trigger waits 5c before another: at most a sixth of a core."""
QUIET_CAP = 2.0
"""The longest wait between two walks, however long a walk took (a candidate decides how long:
250,000 files take 0.8 s): the nearly-full check still runs on every tick meanwhile."""


def filesystem_used(path: Path) -> int:
    """Bytes in use on the filesystem holding `path` (delayed allocations included)."""
    info = os.statvfs(path)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


def files_used(path: Path) -> int:
    """Inodes in use on the filesystem holding `path` (0 where it does not count them)."""
    info = os.statvfs(path)
    return info.f_files - info.f_ffree


HOST_SCRATCH = (Path("/"), Path("/tmp"), Path("/dev/shm"))
"""Strop's own root, /tmp and /dev/shm: where a sandbox's /tmp and /dev/shm lead before bwrap has
mounted its own (see `scratch_files_used`)."""


def host_devices(paths: Sequence[Path] = HOST_SCRATCH) -> frozenset[int]:
    """The devices of `paths` as strop sees them (a missing one is left out)."""
    found = set()
    for path in paths:
        with contextlib.suppress(OSError):
            found.add(os.stat(path).st_dev)
    return frozenset(found)


def scratch_files_used(path: Path, host: frozenset[int]) -> int | None:
    """Inodes in use on the file system at `path` (a sandbox's /tmp, through /proc/PID/root), or None
    while that file system is one of the `host` devices: not the sandbox's, nothing to judge.

    bwrap names its child's pid as soon as it is cloned, before it mounts anything: in 193 of 200
    starts /proc/PID/root/tmp was still the host's /tmp, and its 1.37 million inodes were counted
    against the sandbox's 250,000 (an honest candidate stopped for a "disk" it never wrote). The
    child's mount namespace is no sign (it is its own from the clone on, while its root is still
    the host's); the file system is. Judged on one descriptor, so the device checked is the one
    counted even when bwrap mounts in between.
    """
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY)
    try:
        if os.fstat(fd).st_dev in host:
            return None
        info = os.fstatvfs(fd)
    finally:
        os.close(fd)
    return info.f_files - info.f_ffree


def filesystem_free(path: Path) -> int:
    """Bytes an unprivileged writer may still take on the filesystem holding `path`."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


@dataclass(frozen=True)
class Usage:
    """Bytes (allocated blocks) and inodes."""

    bytes: int
    files: int


class OwnWrites:
    """What a sandbox holds on disk: its writable `roots`, walked, and the deleted files under
    them its processes (`members`) still hold open or mapped. `measure` is None when a walk
    could not be completed."""

    def __init__(self, roots: Sequence[Path], members: Members) -> None:
        self.roots = [Path(root) for root in roots]
        self.members = members
        self._devices = frozenset(os.stat(root).st_dev for root in self.roots if root.exists())

    def measure(self, held: bool = True) -> Usage | None:
        """`held=False`: the trees only (a baseline, taken before the command holds anything)."""
        for _ in range(2):  # a folder renamed during the walk (an honest checkpoint's rename): once more
            blocks: dict[tuple[int, int], int] = {}
            try:
                for root in self.roots:
                    _tree(root, blocks)
                break
            except OSError:
                continue
        else:
            return None
        try:
            files = _deleted_held(self.members(), self._devices) if held else {}
        except OSError:  # a member's descriptors or mappings could not be read: what it holds is unknown
            return None
        return Usage(sum(blocks.values()) + sum(files.values()), len(blocks) + len(files))


def _tree(root: Path, blocks: dict[tuple[int, int], int]) -> None:
    """Add every inode of `root`'s tree (root included) to `blocks`, by (device, inode)."""

    def visit(_fd: int, _name: str, _rel: str, info: os.stat_result) -> None:
        blocks[(info.st_dev, info.st_ino)] = info.st_blocks * 512

    info = os.lstat(root)
    blocks[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    walk_beneath(root, visit, strict=True)


_DELETED = " (deleted)"


def _deleted_held(members: Iterable[int], devices: frozenset[int]) -> dict[tuple[int, int], int]:
    """Bytes of the deleted files on `devices` (the sandbox's trees') that processes `members` hold
    open or mapped, by (device, inode). Found by the file, never by its path's text: a path over
    4,096 characters cannot be read back (`readlink` fails), and a deep folder hid 200 MiB of
    deleted files from the account. A process that ended while it was read is skipped; any other
    error propagates (what it holds is then unknown, not nothing)."""
    found: dict[tuple[int, int], int] = {}
    for pid in members:
        try:
            _held_open(pid, devices, found)
            _held_mapped(pid, devices, found)
        except (FileNotFoundError, ProcessLookupError):  # the process ended while it was read
            continue
    return found


def _held_open(pid: int, devices: frozenset[int], found: dict[tuple[int, int], int]) -> None:
    folder = f"/proc/{pid}/fd"
    for fd in os.listdir(folder):
        try:
            info = os.stat(f"{folder}/{fd}")  # the open file itself, wherever and however deep it was
        except FileNotFoundError:  # closed meanwhile
            continue
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 0 and info.st_dev in devices:
            key = (info.st_dev, info.st_ino)
            found[key] = max(found.get(key, 0), info.st_blocks * 512)


def _held_mapped(pid: int, devices: frozenset[int], found: dict[tuple[int, int], int]) -> None:
    """Mapped files on `devices` with no name left: by `map_files` (root), else by the mapping's
    `(deleted)` mark or a name the kernel could not write, counting the mapping's length."""
    with open(f"/proc/{pid}/maps", "rb") as maps:
        lines = maps.read().decode(errors="replace").splitlines()
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        major, minor = fields[3].split(":")
        device, inode = os.makedev(int(major, 16), int(minor, 16)), int(fields[4])
        if inode == 0 or device not in devices:
            continue
        name = fields[5] if len(fields) == 6 else ""
        low, high = (int(end, 16) for end in fields[0].split("-"))
        try:
            info = os.stat(f"/proc/{pid}/map_files/{fields[0]}")
        except FileNotFoundError:  # unmapped meanwhile
            continue
        except PermissionError:  # not root: the mapping's text says what it can
            if name and not name.endswith(_DELETED):
                continue
            size = high - low
        else:
            if info.st_nlink != 0 or not stat.S_ISREG(info.st_mode):
                continue
            size = info.st_blocks * 512
        found[(device, inode)] = max(found.get((device, inode), 0), size)


class DiskWatch:
    """Watchdog: DISK once the command wrote more than `budget` bytes or `files` inodes to the
    file systems under `paths` (see the module docstring). `own`: its account; without one
    (`local`), the file systems' growth, whoever wrote it. `begin` takes the baseline (again:
    a held command's is taken when its gate opens). `note` says why it stopped a command."""

    def __init__(
        self, paths: Sequence[Path], budget: int, files: int | None = None, own: OwnWrites | None = None
    ) -> None:
        seen: dict[int, Path] = {}
        for path in paths:
            with contextlib.suppress(OSError):
                seen.setdefault(os.stat(path).st_dev, path)
        self.paths = list(seen.values())
        self.budget, self.files, self.own = budget, files, own
        self.note: str | None = None
        self.begin()

    def begin(self) -> None:
        """Take the baseline: the file systems' use and the sandbox's own, now."""
        self.start: dict[Path, tuple[int, int]] = {}
        for path in self.paths:
            with contextlib.suppress(OSError):  # gone: nothing more can be written there
                self.start[path] = (filesystem_used(path), files_used(path))
        self.own_start = self.own.measure(held=False) if self.own is not None else None
        self._quiet_until = 0.0

    def __call__(self) -> KilledBy | None:
        grown = self._grown()
        if not grown:
            return None
        if self.own is None:
            return self._stop(f"disk: the file system of {grown[0][0]} grew past the budget")
        nearly_full = self._nearly_full(grown)
        if nearly_full is not None:
            return nearly_full
        now = time.monotonic()
        if now < self._quiet_until:
            return None
        own = self.own.measure()
        self._quiet_until = now + min(QUIET_CAP, WALK_SHARE * (time.monotonic() - now))
        if own is None or self.own_start is None:
            return self._stop(
                "disk: the file system grew past the budget and the sandbox's files could not be walked"
            )
        wrote = Usage(own.bytes - self.own_start.bytes, own.files - self.own_start.files)
        if wrote.bytes > self.budget or (self.files is not None and wrote.files > self.files):
            return self._stop(f"disk: the sandbox wrote {wrote.bytes} bytes and {wrote.files} new files")
        for path in self.paths:  # others wrote it: trip again once the sandbox could be past the budget
            with contextlib.suppress(OSError):
                self.start[path] = (
                    filesystem_used(path) - max(wrote.bytes, 0),
                    files_used(path) - max(wrote.files, 0),
                )
        return None

    def _nearly_full(self, grown: list[tuple[Path, int, int]]) -> KilledBy | None:
        """A file system that grew past the budget with less than the budget left free: checked on
        every tick, walk or not (whoever wrote it, the command's next writes would fail)."""
        for path, _, _ in grown:
            with contextlib.suppress(OSError):
                if filesystem_free(path) < self.budget:
                    return self._stop(
                        f"disk: the file system of {path} grew past the budget and is nearly full"
                    )
        return None

    def _grown(self) -> list[tuple[Path, int, int]]:
        """The file systems that grew past the budget since the baseline: (path, bytes, inodes)."""
        grown = []
        for path, (used_then, files_then) in self.start.items():
            try:
                used, count = filesystem_used(path) - used_then, files_used(path) - files_then
            except OSError:
                continue
            if used > self.budget or (self.files is not None and count > self.files):
                grown.append((path, used, count))
        return grown

    def _stop(self, note: str) -> KilledBy:
        self.note = note
        return KilledBy.DISK
