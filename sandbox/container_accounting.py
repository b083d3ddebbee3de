"""The CPU time and peak memory of a container: read whole from a cgroup above it, after it ended.

The container's own cgroup is removed the moment its last process ends, so counters read from
it are samples taken while it ran (every `TICK`): the last 50 ms of CPU were missed, and a command
shorter than one tick had no figure at all (a speed task's fastest candidates got no CPU time, and
a scorer falling back to wall time ranked a slower program first). Under the `cgroupfs` driver,
each container is started under a parent cgroup of its own (`cgroup_parent`), made for this
evaluation and named as strop's other cgroups (`strop-PID-RANDOM`, swept the same way when a
strop dies). A parent's counters hold its children's, the ended ones included (v1: cpuacct
charges every ancestor; v2: `cpu.stat` and `memory.peak` are hierarchical), so once the
container is gone they are read whole, then the parent is removed from every hierarchy. The
peak memory stays the container's own where a sample saw it (a high-water mark, caught by any
sample after it; the parent's is a little higher, by what the runtime charged while starting
the container: 256 KiB over a 256 MiB limit the container itself never passed).

The `systemd` driver names parents as slices that systemd makes and may collect, and a remote
or rootless engine's cgroups are not this machine's to read: there the figures stay samples, the
peak memory is kept (a high-water mark, caught by any sample after it), and the CPU time is not
given as whole (`complete` False: `$STROP_RUN_STATS` gives none).

Written by hand for the reasons of `sandbox.cputime`: a few reads of files the kernel keeps.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

from sandbox.cputime import used
from sandbox.memory import CGROUP_PREFIX, remove, sweep

ROOT = Path("/sys/fs/cgroup")
CPU_V1 = ("cpuacct", "cpu,cpuacct", "cpuacct,cpu")


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text()
    return None


def _number(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def cpu_seconds(folder: str, root: Path = ROOT) -> float | None:
    """CPU seconds of cgroup `folder` (a path under the hierarchies' root), v1 or v2; None if unread."""
    for hierarchy in CPU_V1:
        if (seconds := used(root / hierarchy / folder, 1)) is not None:
            return seconds
    return used(root / folder, 2)


def peak_bytes(folder: str, root: Path = ROOT) -> int | None:
    """Peak memory of cgroup `folder` in bytes, v1 or v2 (`memory.peak`, kernel 5.19+); None if unread."""
    v1 = _number(_read(root / "memory" / folder / "memory.max_usage_in_bytes"))
    return v1 if v1 is not None else _number(_read(root / folder / "memory.peak"))


class Accounting:
    """One container's figures: sampled from its own cgroup while it runs (`sample`), then, where
    it was started under a parent of its own (`parent`), read whole from that parent (`finish`)."""

    def __init__(self, parent: str | None, root: Path = ROOT) -> None:
        self.parent, self.root = parent, root
        self.cid = ""
        self.cpu, self.peak = 0.0, 0
        self.complete = False
        self.finished = False  # `finish` ran: the container ended and its parent was looked for

    def sample(self) -> None:
        """Read the container's own cgroup while it exists (its figures so far)."""
        if not self.cid:
            return
        for folder in self._own():
            if (peak := peak_bytes(folder, self.root)) is not None:
                self.peak = max(self.peak, peak)
            if (cpu := cpu_seconds(folder, self.root)) is not None:
                self.cpu = max(self.cpu, cpu)
                return

    def _own(self) -> list[str]:
        inside = f"{self.parent}/{self.cid}" if self.parent else f"docker/{self.cid}"
        return [inside, f"system.slice/docker-{self.cid}.scope"]

    def finish(self) -> None:
        """After the container's processes are gone: its whole figures from the parent, if any."""
        self.sample()
        self.finished = True
        if self.parent is None:
            return
        cpu, peak = cpu_seconds(self.parent, self.root), peak_bytes(self.parent, self.root)
        if cpu is not None:
            self.cpu, self.complete = cpu, True
        if peak is not None and not self.peak:  # the container's own high-water mark when sampled:
            self.peak = peak  # the parent's also holds what the runtime charged while starting it

    @property
    def parent_missing(self) -> bool:
        """The container ended and its parent was not where strop reads (not an error before that)."""
        return self.parent is not None and self.finished and not self.complete

    def remove(self) -> None:
        """Remove the parent from every hierarchy it was made in (once the container is removed)."""
        if self.parent is None:
            return
        for folder in _hierarchies(self.root):
            if (folder / self.parent).is_dir():
                remove(folder / self.parent)

    def note(self) -> str:
        """How the figures were read, in words (an `Execution` note)."""
        if self.complete:
            return "cpu time: a cgroup above the container's, read after it ended, every process counted"
        why = "no parent cgroup of its own (the engine's cgroup driver is not cgroupfs, or its cgroups are not here)"
        return f"cpu time: sampled while the container ran, the last moments missed ({why})"


def _hierarchies(root: Path) -> list[Path]:
    """Where cgroups are made on this machine: v2's root, or each v1 hierarchy's."""
    if (root / "cgroup.controllers").exists():
        return [root]
    with contextlib.suppress(OSError):
        return [Path(entry.path) for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    return []


def new_parent() -> str:
    """A fresh parent cgroup's name for one container (docker makes it in every hierarchy)."""
    return f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"


def parents_usable(client: Any, root: Path = ROOT) -> bool:
    """Whether containers can be started under parents strop reads here: the engine's cgroups are
    made by cgroupfs, in this machine's file system (a local engine), and strop may remove them
    (the engine makes them as root: a normal user could not, and each evaluation would leave one)."""
    try:
        driver = client.info().get("CgroupDriver")
    except Exception:
        return False
    host = os.environ.get("DOCKER_HOST", "")
    local = not host or host.startswith("unix://")
    hierarchies = _hierarchies(root)
    writable = all(os.access(folder, os.W_OK) for folder in hierarchies)
    return driver == "cgroupfs" and local and bool(hierarchies) and writable


def sweep_parents(root: Path = ROOT) -> None:
    """Remove the parents a strop that has died left behind (killed outright: no `remove`)."""
    for folder in _hierarchies(root):
        sweep(folder)
