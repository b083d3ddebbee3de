"""The `local` backend: a process group with rlimits and a timeout. The weak one.

What it does: a clean environment without secrets, a wall-clock timeout that
kills the whole process group, capped output, an address-space and CPU-time
rlimit, a per-file size limit, a watchdog on the memory of the process group
together (see `sandbox.memory`), and a watchdog on disk growth (bytes and files) of
the workspace's and TMPDIR's filesystems, and on the files in /dev/shm. That watch
counts the file systems' growth, whoever wrote it (another evaluation, a parallel lane,
any program): the command may write anywhere its user may, so no account of its own
folders would say what it wrote (see `sandbox.disk`).

What it does NOT do (each one is asserted by the attack suite as documented):
- no namespaces: the command sees the host's files, processes and network, so it
  can read files outside the workspace, write anywhere its user may, read other
  processes' environments in /proc, and reach listeners on 127.0.0.1;
- it runs as the caller, root included, so setuid tricks are moot and the
  process-count limit is not enforced (RLIMIT_NPROC is per user, and root is exempt);
- `readonly_paths` are not protected (the evaluator's fingerprint catches edits), and
  read-only `binds` are the host's own folders: the command can read any of them,
  and everything else its user can (a scorer's private data included);
- a daemon that calls `setsid()` leaves the process group and outlives the run, and
  its memory is no longer counted against the limit; System V shared memory segments
  are the host's, and not counted either;
- /dev/shm is the host's and its bytes are not capped (only its file count is watched).
Choose it only where docker and bwrap cannot run; `open_sandbox` warns when it does.

The command runs under coreutils `timeout -s KILL` (the group's leader), whose parent-death
signal is SIGALRM, its own timer's: when the strop thread that started it ends, even by
SIGKILL, `timeout` acts as if the time were up and SIGKILLs the whole group. Measured before:
a candidate and its child that ignores SIGHUP and SIGTERM ran on (300 s) after strop's
SIGTERM or SIGKILL. Its timer itself is a second switch, `ORPHAN_GRACE` past the time limit.
"""

from __future__ import annotations

import math
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sandbox.disk import DiskWatch
from sandbox.environment import clean_environment
from sandbox.execution import Bind, Execution, Limits
from sandbox.gate import Gate
from sandbox.memory import MemoryWatch, credible_peak, in_process_group, own_peak_rss
from sandbox.process import (
    address_space_note,
    parent_death_switch,
    rlimit_setter,
    supervise,
    to_execution,
)
from sandbox.workspace import Workspace

ORPHAN_GRACE = 60.0
"""Seconds past the timeout after which the command's `timeout` launcher ends it by itself."""


class LocalSandbox:
    """Process group + rlimits + timeout. See the module docstring for what it does not do."""

    name = "local"
    holds = True
    """`run` accepts a `gate` (see `sandbox.gate`)."""

    def run(
        self,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly_paths: Sequence[Path] = (),
        binds: Sequence[Bind] = (),
        gate: Gate | None = None,
    ) -> Execution:
        space = Workspace.of(workdir, readonly_paths, binds)  # binds: the host's paths, nothing to do
        disk = DiskWatch([space.root, Path(tempfile.gettempdir())], limits.workspace_bytes, limits.files)
        # the host's /dev/shm: its files only (other programs' shared memory, Ray's object store
        # among them, grows its bytes legitimately)
        shm = DiskWatch([Path("/dev/shm")], sys.maxsize, limits.files)
        if gate is not None:  # a held command is charged for what it writes once opened, not before
            gate.before_open(disk.begin)
            gate.before_open(shm.begin)
        leader: list[int] = []
        group = in_process_group(lambda: leader[0] if leader else None)
        memory = MemoryWatch(group, limits.memory, every=0.25)
        environment = clean_environment(env)
        environment["TMPDIR"] = tempfile.gettempdir()
        inner, hold = (
            (gate.wrap(command, space.root), gate.max_wait) if gate is not None else (list(command), 0.0)
        )
        inherited = own_peak_rss()
        seen = supervise(
            _dying_with_strop(inner, limits.timeout + hold),
            cwd=space.root,
            env=environment,
            limits=limits,
            preexec=_preexec(limits),
            watchdog=lambda: disk() or shm() or memory(),
            gate=gate,
            on_start=leader.append,
        )
        notes = ["local backend: no isolation of files, network or processes"]
        notes += [watch.note for watch in (disk, shm) if watch.note]
        execution = to_execution(seen, self.name, seen.returncode, notes)
        execution.peak_memory = credible_peak(execution.peak_memory, memory.peak, inherited)
        if hint := address_space_note(execution, limits.memory):
            execution.notes.append(hint)
        return execution


def _dying_with_strop(command: list[str], seconds: float) -> list[str]:
    """`command` under coreutils `timeout` (see the module docstring); as it is where there is none."""
    launcher = shutil.which("timeout")
    if launcher is None:
        return command
    switch = str(math.ceil(seconds + ORPHAN_GRACE))
    return [launcher, "-s", "KILL", switch, *command]


def _preexec(limits: Limits) -> Callable[[], None]:
    limit = rlimit_setter(limits)
    orphaned = parent_death_switch(signal.SIGALRM)  # `timeout`'s time is up: SIGKILL to the group

    def apply() -> None:
        limit()
        orphaned()

    return apply
