"""The sandbox contract: run a command in a workdir under limits, get an `Execution`.

Every backend (docker, bwrap, local) implements `Sandbox.run`; nothing above this
layer knows which one ran. The sandbox knows nothing of what runs in it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


class KilledBy(enum.StrEnum):
    """Why the sandbox ended a command before it ended by itself."""

    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT = "output"
    SIGNAL = "signal"
    DISK = "disk"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one command. Sizes in bytes, times in seconds.

    `scratch_bytes` caps the private /tmp and /dev/shm (each); `workspace_bytes` caps
    how much the workspace's filesystem may grow during the run (and any one file);
    `cpus` is a CPU quota (docker only; the others ignore it). `files` caps how many files and
    folders the command may add to the workspace's filesystem and to its private /tmp and
    /dev/shm (each): empty files take no bytes, but an inode table has an end, and a tmpfs
    inode is kernel memory no rlimit counts. `open_files` caps the descriptors of each process
    (RLIMIT_NOFILE, docker's `nofile`): with `pids` processes, at most 128 × 4096 = 524,288 open
    files a sandbox, where the host's whole table (fs.file-max) is a few million.
    """

    timeout: float = 60.0
    cpu_time: float | None = None
    memory: int = 1 << 30
    pids: int = 128
    output_bytes: int = 1 << 20
    scratch_bytes: int = 256 << 20
    network: bool = False
    workspace_bytes: int = 1 << 30
    cpus: float | None = None
    files: int = 250_000
    open_files: int = 4096


@dataclass
class Execution:
    """What a sandboxed command did. Output is capped at `Limits.output_bytes` per stream."""

    exit_code: int | None
    stdout: str
    stderr: str
    wall_time: float
    cpu_time: float = 0.0
    # `cpu_time` holds every process the command started, those killed at its end too (a cgroup:
    # docker's container, bwrap's own where strop may make one); else it is the waited-for
    # processes' own (rusage), which a process left running when the command ends escapes:
    # `$STROP_RUN_STATS` then gives none (`evaluators.run_stats`)
    cpu_complete: bool = False
    peak_memory: int | None = None
    killed_by: KilledBy | None = None
    backend: str = ""
    output_truncated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_by is None

    def tail(self, chars: int = 4000) -> str:
        """The last `chars` characters of stdout and stderr together, for logs and feedback."""
        text = self.stdout
        if self.stderr:
            text = f"{text}\n--- stderr ---\n{self.stderr}" if text else self.stderr
        return text[-chars:]


@dataclass(frozen=True)
class Bind:
    """A host folder outside the workdir, bound at the same path: read-only unless `writable`.

    How a trusted stage reaches data that must not live in the candidate's workspace
    (a scorer's private answers, the sealed outputs of the stage before, public data).
    """

    path: Path
    writable: bool = False


class SandboxError(Exception):
    """A backend could not start or is unusable here (not: the command failed)."""


@runtime_checkable
class Sandbox(Protocol):
    """One narrow seam for untrusted execution."""

    name: str

    def run(
        self,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly_paths: Sequence[Path] = (),
        binds: Sequence[Bind] = (),
    ) -> Execution:
        """Run `command` with `workdir` as its writable current directory.

        `env` is added to a minimal clean environment after secret-looking names are
        dropped. `readonly_paths` (inside `workdir`) must not be writable by the command.
        `binds` (outside `workdir`) are visible at their host paths, read-only unless
        marked writable; nothing else of the host's files is (on docker and bwrap).
        A command ended by `sandbox.stopping.stop_all` (strop is stopping: SIGTERM, Ctrl-C)
        raises `sandbox.stopping.Stopped` instead of returning: strop cut it, it has no verdict.
        """
        ...
