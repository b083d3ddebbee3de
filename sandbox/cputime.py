"""The CPU time of all a sandbox's processes together: the kernel's count in a cgroup.

A backend that waits for its command gets that process's CPU time and its waited-for children's
(`wait4`'s rusage). A worker forked twice and left running when the command ends is killed with
the sandbox and waited for by nobody, so its CPU time is in no rusage: the same prime count read
115x "faster" that way. A cgroup counts every process that was ever in it, killed ones included,
so where bwrap runs its command in a cgroup strop made (`sandbox.memory.MemoryCgroup`), the CPU
time is read from there and is whole (`Execution.cpu_complete`; `$STROP_RUN_STATS` gives it):

- v2: the memory cgroup itself; every v2 cgroup has `cpu.stat` (`usage_usec`), whether or not
  the cpu controller is enabled for it;
- v1: CPU accounting is a hierarchy of its own (`cpuacct`), so a cpuacct cgroup is made beside
  the memory one, under strop's own, with the same `strop-PID-…` name (swept the same way), and
  entered in the same `preexec_fn`; `cpuacct.usage` is in nanoseconds.

It is read once every process has left it (what is left is killed first), so the figure holds
each one to its end. Where there is no such cgroup (a normal user, a read-only cgroup file system,
the `local` backend), the CPU time stays rusage's and is not given (`uncounted` says why).

Written by hand: no well-kept library reads cgroup CPU accounting for a process tree we start
with bwrap (cgroupspy, last release 2024, and cgroups, 2014, model v1 trees only; libcgroup's
bindings are from 2019; psutil sums processes alive now, never the dead ones); what is needed is
a mkdir, a write between fork and exec, one read and an rmdir.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from pathlib import Path

from sandbox.memory import (
    CGROUP_PREFIX,
    CgroupPlace,
    MemoryCgroup,
    empty,
    enter_once,
    own_cgroup,
    remove,
    sweep,
)


class CpuCgroup:
    """The CPU time of every process that was ever in cgroup `path`, read by `close` (`seconds`).

    `owned`: a cgroup made here (v1's cpuacct group): `enter` moves the calling process in and
    `close` removes it. Not owned (v2: the memory cgroup, which the process entered already and
    whose owner removes it): both only read.
    """

    def __init__(self, path: Path, version: int, owned: bool) -> None:
        self.path, self.version, self.owned = path, version, owned
        self.seconds: float | None = None
        self._procs = str(path / "cgroup.procs").encode()

    def describe(self) -> str:
        """Where the CPU time comes from, in words (an `Execution` note)."""
        counter = "cpuacct.usage of a cpuacct cgroup" if self.version == 1 else "cpu.stat of the cgroup"
        return f"cpu time: {counter} of the sandbox's own (v{self.version}), every process counted"

    def enter(self) -> None:
        """Move the calling process into the cgroup; run between fork and exec (few calls, no allocation)."""
        if not self.owned:
            return
        fd = os.open(self._procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def close(self) -> None:
        """Kill what is left, read the CPU time (None where a process would not leave), then remove
        the cgroup if it is ours."""
        if empty(self.path):
            self.seconds = used(self.path, self.version)
        if self.owned:
            remove(self.path)


def used(path: Path, version: int) -> float | None:
    """Seconds of CPU the processes of cgroup `path` have used, the ended ones included; None if unread."""
    with contextlib.suppress(OSError, ValueError):
        if version == 1:
            return int((path / "cpuacct.usage").read_text()) / 1e9
        for line in (path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    return None


def uncounted(why: str) -> str:
    """The note of a run whose CPU time misses what no one waited for, and why there is no cgroup."""
    return f"cpu time: the processes waited for only, not one left running (no cgroup: {why})"


def _cpuacct_here() -> Path | str:
    """Strop's own v1 cpuacct cgroup if sandboxes' can be made under it; or why not."""
    try:
        place = own_cgroup(
            Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text(), "cpuacct"
        )
    except OSError as error:
        return f"cannot read /proc/self: {error}"
    if isinstance(place, str):
        return place
    if place.version != 1:
        return "memory is held by cgroup v1, and no v1 cpuacct hierarchy is mounted for the CPU time"
    if not os.access(place.folder, os.W_OK):
        return f"{place.folder} is not writable (not root, or a read-only cgroup file system)"
    return place.folder


@functools.cache
def cpuacct_support() -> Path | str:
    """Where sandboxes' v1 cpuacct cgroups are made on this machine, or why they cannot be; asked once.

    Proved by making one, moving a short-lived process (`true`) into it and reading its count.
    """
    folder = _cpuacct_here()
    if isinstance(folder, str):
        return folder
    sweep(folder)
    probe = CpuCgroup(folder / f"{CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}", 1, owned=True)
    try:
        os.mkdir(probe.path, 0o755)
    except OSError as error:
        return f"cannot make a cpuacct cgroup in {folder}: {error.strerror or error}"
    if failed := enter_once(probe, folder, "cpuacct"):
        return failed
    return folder if probe.seconds is not None else f"cannot read cpuacct.usage in {folder}"


def cpu_support(memory: CgroupPlace | str) -> CgroupPlace | str:
    """Where the CPU time of sandboxes is counted, given where their memory cgroups are (`memory`,
    `sandbox.memory.cgroup_support`); or why it is not."""
    if isinstance(memory, str) or memory.version == 2:
        return memory
    folder = cpuacct_support()
    return CgroupPlace(folder, 1) if isinstance(folder, Path) else folder


def cpu_cgroup(memory: MemoryCgroup) -> CpuCgroup | str:
    """The CPU count of the sandbox whose memory cgroup is `memory`, or why there is none (v1:
    its cpuacct group, made now, named as `memory`'s)."""
    if memory.version == 2:
        return CpuCgroup(memory.path, 2, owned=False)
    folder = cpuacct_support()
    if isinstance(folder, str):
        return folder
    if folder == memory.path.parent:  # cpuacct mounted with memory: the memory cgroup counts it
        return CpuCgroup(memory.path, 1, owned=False)
    sweep(folder)
    path = folder / memory.path.name
    try:
        os.mkdir(path, 0o755)
    except OSError as error:
        return f"cannot make a cpuacct cgroup in {folder}: {error.strerror or error}"
    return CpuCgroup(path, 1, owned=True)
