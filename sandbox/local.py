"""The `local` backend: a process group with rlimits and a timeout.

The weakest backend: no namespaces, so the command sees the host's files and
network. It still kills the whole process tree on timeout, caps output, limits
memory and CPU with rlimits, and gives the command a clean environment. Choose
it only where docker and bwrap cannot run; strop says so loudly when it does.
Written by hand because no library offers process-group kill + rlimits + capped
streaming output together.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from sandbox.environment import clean_environment
from sandbox.execution import Execution, KilledBy, Limits


class _CappedReader(threading.Thread):
    """Drains one stream, keeping at most `cap` bytes; reports when the cap is passed."""

    def __init__(self, stream: IO[bytes], cap: int, on_overflow: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.on_overflow = on_overflow
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False

    def run(self) -> None:
        while True:
            try:
                chunk = self.stream.read1(65536)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                break
            if not chunk:
                break
            room = self.cap - self.size
            if room > 0:
                self.chunks.append(chunk[:room])
                self.size += min(room, len(chunk))
            if len(chunk) > room and not self.overflowed:
                self.overflowed = True
                self.on_overflow()

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def _limit_child(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        if limits.cpu_time is not None:
            cpu = max(1, int(limits.cpu_time))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.scratch_bytes, limits.scratch_bytes))

    return apply


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class LocalSandbox:
    """Process group + rlimits + timeout. See the module docstring for what it does not do."""

    name = "local"

    def run(
        self,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly_paths: Sequence[Path] = (),
    ) -> Execution:
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(
            list(command),
            cwd=workdir,
            env=clean_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_limit_child(limits),
        )
        killed: list[KilledBy] = []

        def overflow() -> None:
            if not killed:
                killed.append(KilledBy.OUTPUT)
            kill_group(proc.pid)

        readers = [_CappedReader(s, limits.output_bytes, overflow) for s in (proc.stdout, proc.stderr)]
        for reader in readers:
            reader.start()
        try:
            proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            if not killed:
                killed.append(KilledBy.TIMEOUT)
        # The leader may have exited while children live on: the group dies either way.
        kill_group(proc.pid)
        proc.wait()
        for reader in readers:
            reader.join(timeout=5)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        code = proc.returncode
        killed_by = killed[0] if killed else None
        if killed_by is None and code is not None and code < 0:
            killed_by = KilledBy.MEMORY if code == -signal.SIGKILL else KilledBy.SIGNAL
        stderr = readers[1].text()
        if killed_by is None and "MemoryError" in stderr[-2000:]:
            killed_by = KilledBy.MEMORY
        return Execution(
            exit_code=None if killed_by in (KilledBy.TIMEOUT, KilledBy.OUTPUT) else code,
            stdout=readers[0].text(),
            stderr=stderr,
            wall_time=time.monotonic() - started,
            cpu_time=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            peak_memory=after.ru_maxrss * 1024 if after.ru_maxrss else None,
            killed_by=killed_by,
            backend=self.name,
            output_truncated=any(r.overflowed for r in readers),
        )
