"""Host paths a task's `mounts` may not bind into a sandbox, even read-only.

A read-only bind stops writes, not `connect()`: a unix socket mounted into the sandbox (or a
folder that holds one, such as `/run` with `docker.sock`) lets candidate code talk to the host
service behind it past the sandbox's own network namespace, and dockerd's API is root on the
host. The host's `/proc`, `/sys` and `/dev` replace the sandbox's own views (bubblewrap binds
mounts after them): every host process's command line, the host's devices. So those trees,
sockets and device files are refused, and a mounted folder is searched for them (up to
`MOST_ENTRIES` entries, which a data folder stays under; past that, what was not searched is
not claimed clean: the refusal says so only for what was found). Data kept in /dev/shm or on a
disk the desktop mounted under /run/media is allowed (`DATA_PLACES`), searched as any folder.
"""

from __future__ import annotations

import collections
import functools
import os
import stat
import time
from pathlib import Path

HOST_TREES = ("/proc", "/sys", "/dev", "/run", "/var/run")
"""The sandbox has its own of each (or none): the host's would show its processes, devices and
service sockets."""

DATA_PLACES = ("/dev/shm", "/run/media", "/run/mnt")
"""Folders in those trees where users keep data (a dataset in shared memory, an external disk
mounted by the desktop): allowed, and searched for sockets and devices as any folder is."""

MOST_ENTRIES = 20_000
"""Entries of a mounted folder searched for sockets and devices (a dataset folder's few
thousand files take milliseconds, a virtualenv's 20,000 about 0.6 s; the walk stops here
rather than delay every task load, and a folder is searched once per process)."""


def host_hazard(path: Path) -> str | None:
    """Why `path` (a mount's real path) may not be bound into a sandbox, or None."""
    real = path.resolve()
    in_data_place = any(real == Path(place) or Path(place) in real.parents for place in DATA_PLACES)
    for tree in HOST_TREES:
        top = Path(tree).resolve()
        if (real == top or top in real.parents) and not in_data_place:
            return f"is in the host's {tree}: a sandbox has its own, and the host's shows its processes, devices or service sockets"
        if real in top.parents or real == Path("/"):
            return f"holds the host's {tree} (its service sockets, its processes): mount the folders you need inside it"
    kind = _special(real)
    if kind:
        return f"is a {kind}: a read-only mount does not stop a candidate from connecting to it or opening it"
    if real.is_dir():
        found = _special_inside(str(real), _changed(real))
        if found is not None:
            inner, what = found
            return (
                f"holds a {what} ({inner}): a read-only mount does not stop a candidate from connecting to "
                "it; mount the folders you need beside it"
            )
    return None


def _special(path: Path) -> str:
    """ "a unix socket" or "device file" when `path` is one, else ""."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return ""
    if stat.S_ISSOCK(mode):
        return "unix socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return ""


def _changed(folder: Path) -> tuple[int, int]:
    """When `folder` itself last changed, and the minute: a search is kept at most a minute in
    one process (a socket made deeper inside leaves the top folder's time as it was)."""
    try:
        stamp = folder.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return stamp, int(time.monotonic() // 60)


@functools.lru_cache(maxsize=256)
def _special_inside(folder: str, changed: tuple[int, int]) -> tuple[Path, str] | None:
    """The first socket or device file under `folder`, nearest the top first (breadth first: a
    home folder's `.docker/…/docker.sock` is found before a deep cache fills the limit), links not
    followed, within `MOST_ENTRIES`; kept per (`folder`, `changed`): a command loads a task often."""
    seen = 0
    queue = collections.deque([folder])
    while queue:
        current = queue.popleft()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MOST_ENTRIES:
                return None
            kind = _special(Path(entry.path))
            if kind:
                return Path(entry.path), kind
            try:
                if entry.is_dir(follow_symlinks=False):
                    queue.append(entry.path)
            except OSError:
                continue
    return None
