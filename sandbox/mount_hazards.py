"""Host paths a task's `mounts` may not bind into a sandbox, even read-only.

A read-only bind stops writes, not `connect()`: a unix socket mounted into the sandbox (or a
folder that holds one, such as `/run` with `docker.sock`) lets candidate code talk to the host
service behind it past the sandbox's own network namespace, and dockerd's API is root on the
host. The host's `/proc`, `/sys` and `/dev` replace the sandbox's own views (bubblewrap binds
mounts after them): every host process's command line, the host's devices. So those trees,
sockets and device files are refused, and a mounted folder is searched for them (up to
`MOST_ENTRIES` entries, which a data folder stays under; past that, what was not searched is
not claimed clean: the refusal says so only for what was found).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

HOST_TREES = ("/proc", "/sys", "/dev", "/run", "/var/run")
"""The sandbox has its own of each (or none): the host's would show its processes, devices and
service sockets."""

MOST_ENTRIES = 50_000
"""Entries of a mounted folder searched for sockets and devices (a dataset folder's few
thousand files take milliseconds; the walk stops here rather than delay every task load)."""


def host_hazard(path: Path) -> str | None:
    """Why `path` (a mount's real path) may not be bound into a sandbox, or None."""
    real = path.resolve()
    for tree in HOST_TREES:
        top = Path(tree).resolve()
        if real == top or top in real.parents:
            return f"is in the host's {tree}: a sandbox has its own, and the host's shows its processes, devices or service sockets"
        if real in top.parents or real == Path("/"):
            return f"holds the host's {tree} (its service sockets, its processes): mount the folders you need inside it"
    kind = _special(real)
    if kind:
        return f"is a {kind}: a read-only mount does not stop a candidate from connecting to it or opening it"
    if real.is_dir():
        found = _special_inside(real)
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


def _special_inside(folder: Path) -> tuple[Path, str] | None:
    """The first socket or device file under `folder` (links not followed), within `MOST_ENTRIES`."""
    seen = 0
    for root, dirs, files in os.walk(folder, onerror=lambda error: None):
        for name in (*files, *dirs):
            seen += 1
            if seen > MOST_ENTRIES:
                return None
            kind = _special(Path(root) / name)
            if kind:
                return Path(root) / name, kind
    return None
