"""A supervised host process: the engine under the `local` and `bwrap` backends.

One command is started as the leader of a new process group with rlimits, and
watched from a single loop that drains its stdout/stderr up to a cap, enforces
the wall-clock timeout, asks an optional watchdog (disk growth) on every tick,
and kills the whole group when any of them trips. The leader is reaped with
`wait4`, so CPU time and peak RSS are those of this command alone, even when
other commands run in other threads.

Written by hand because no library offers process-group kill, rlimits, capped
streaming output and per-child rusage together (`subprocess.run` reads all
output into memory and kills only the leader on timeout).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.environment import redact
from sandbox.execution import Execution, KilledBy, Limits
from sandbox.gate import CANCELLED_NOTE, OPEN_WORD, Gate
from sandbox.stopping import Running, running

Watchdog = Callable[[], KilledBy | None]

TICK = 0.05
"""Seconds between two watchdog checks while the command runs."""

DRAIN = 0.3
"""Seconds to keep reading output after the group is dead (a detached daemon may hold the pipes)."""

# Signals that mean the command was stopped by the system rather than by itself failing.
_CPU_SIGNALS = {signal.SIGXCPU}


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def parent_death_signal(signum: int) -> None:
    """Linux: this process gets `signum` when the thread that started it ends, even by SIGKILL.

    Called in the child itself (a pool worker, a nightly job). It holds across `exec` (not
    across a change of uid), so a launcher started with it (`sandbox.local`'s `timeout`, by
    `parent_death_switch`) can take its command down when strop dies in a way no code of
    strop sees.
    """
    prctl = _libc_prctl()
    if prctl is not None:
        prctl(1, signum)  # PR_SET_PDEATHSIG


def parent_death_switch(signum: int) -> Callable[[], None]:
    """`parent_death_signal(signum)` as a `preexec_fn` for a parent with threads.

    libc's prctl is looked up here, in the parent: the child then only calls it. Looking it
    up in the child is a `dlopen`, whose lock another thread of the parent may have held at
    the fork, and the child would wait on it for ever (and the parent on the child's exec).
    """
    prctl = _libc_prctl()

    def switch() -> None:
        if prctl is not None:
            prctl(1, signum)  # PR_SET_PDEATHSIG

    return switch


@functools.cache
def _libc_prctl() -> Callable[..., int] | None:
    """libc's `prctl`, or None where there is none (not Linux)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def rlimit_setter(limits: Limits, nproc: bool = False, address_space: bool = True) -> Callable[[], None]:
    """A `preexec_fn` that applies the limits an unprivileged process can hold to itself.

    `address_space=False` where a memory cgroup holds the sandbox's memory: RLIMIT_AS then only
    refuses what the cgroup would allow, since it counts what a process reserves, not what it
    uses (measured at memory = "1g": a pool of 100 threads with numpy, 50 MB resident, failed
    "can't start new thread", each thread's 8 MiB stack and malloc arena counted in full).
    Open files are capped (`Limits.open_files`, soft and hard; never above the hard limit strop
    itself has, which an unprivileged process cannot raise): nothing else bounds them, and one
    sandbox held 1.05M of the machine's 2.47M (60 processes of 20,000), a file table whose end
    makes every program of the host fail to open a file.
    """
    files = limits.open_files
    with contextlib.suppress(ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and os.getuid() != 0:
            files = min(files, hard)

    def apply() -> None:
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
        if limits.cpu_time is not None:
            cpu = max(1, int(limits.cpu_time))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        size = max(limits.workspace_bytes, limits.scratch_bytes)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))

    return apply


@dataclass
class CappedBuffer:
    """Keeps the first `cap` bytes of a stream and remembers whether more came."""

    cap: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    overflowed: bool = False

    def add(self, data: bytes) -> bool:
        """Store what fits; True when this chunk passed the cap for the first time."""
        room = self.cap - self.size
        if room > 0:
            kept = data[:room]
            self.chunks.append(kept)
            self.size += len(kept)
        if len(data) > room and not self.overflowed:
            self.overflowed = True
            return True
        return False

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


@dataclass
class Supervised:
    """What the loop saw: raw status of the leader, output, time and why it was stopped."""

    returncode: int | None
    stdout: CappedBuffer
    stderr: CappedBuffer
    wall_time: float
    cpu_time: float
    peak_rss: int | None
    killed_by: KilledBy | None
    cancelled: bool = False


def supervise(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    preexec: Callable[[], None] | None = None,
    watchdog: Watchdog | None = None,
    pass_fds: Sequence[int] = (),
    on_stop: Callable[[], None] | None = None,
    gate: Gate | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Supervised:
    """Run `argv` as a new process group under `limits`; never leaves a group member alive.

    `pass_fds` are handed to the child and closed here once it started. `on_stop` runs
    when we end the command ourselves (timeout, cap, watchdog, error), right after the
    group is killed: a launcher whose payload left the group (bwrap's) kills it there.
    With a `gate` (whose shim `argv` already contains: see `sandbox.gate`), the command
    is held until the gate is decided; the time limit then counts from the opening.
    `on_start` is told the leader's pid (its process group's id) once it exists.
    A command ended by `sandbox.stopping.stop_all` (strop is stopping) raises `Stopped`.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if gate is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,
            pass_fds=tuple(pass_fds),
        )
    except OSError as error:  # the command itself cannot be started: its failure, not ours
        err = CappedBuffer(limits.output_bytes)
        err.add(f"cannot run {argv[0]!r}: {error.strerror or error}\n".encode())
        return Supervised(127, CappedBuffer(0), err, time.monotonic() - started, 0.0, None, None)
    finally:
        for fd in pass_fds:
            os.close(fd)
    if on_start is not None:
        on_start(proc.pid)
    with running(lambda: kill_group(proc.pid)) as entry:
        seen = _watch(proc, limits, started, watchdog, on_stop, gate, entry)
    if entry.stopped:  # `stop_all`: strop is stopping; what the command did is no verdict
        if on_stop is not None:
            on_stop()
        entry.check()
    return seen


def _watch(
    proc: subprocess.Popen[bytes],
    limits: Limits,
    started: float,
    watchdog: Watchdog | None,
    on_stop: Callable[[], None] | None,
    gate: Gate | None,
    entry: Running,
) -> Supervised:
    """`supervise`'s loop over a started command, until it ends, trips a limit or is stopped."""
    assert proc.stdout is not None and proc.stderr is not None
    timeout = limits.timeout
    if gate is not None:
        opened = _pass_gate(proc, gate)
        if opened is None:
            return _cancelled(proc, on_stop, started)
        timeout, started = opened, time.monotonic()
    out, err = CappedBuffer(limits.output_bytes), CappedBuffer(limits.output_bytes)
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    selector = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        os.set_blocking(stream.fileno(), False)
        selector.register(stream.fileno(), selectors.EVENT_READ)
    killed: KilledBy | None = None
    status: int | None = None
    usage: resource.struct_rusage | None = None
    deadline = started + timeout
    drain_until: float | None = None
    try:
        while selector.get_map():
            now = time.monotonic()
            if drain_until is not None and now >= drain_until:
                break
            if drain_until is None and now >= deadline:
                killed = KilledBy.TIMEOUT
                break
            if entry.stopped and drain_until is None:
                killed = KilledBy.SIGNAL
                break
            horizon = drain_until if drain_until is not None else deadline
            for key, _ in selector.select(timeout=min(TICK, max(0.0, horizon - now))):
                if _read_into(key.fd, buffers[key.fd], selector) and killed is None:
                    killed = KilledBy.OUTPUT
            if killed is not None:
                break
            if status is None:
                status, usage = _reap(proc.pid, block=False)
                if status is not None:
                    kill_group(proc.pid)
                    drain_until = time.monotonic() + DRAIN
            if watchdog is not None and drain_until is None and (reason := watchdog()) is not None:
                killed = reason
                break
        if status is None and killed is None:  # its output closed first: let the leader end by itself
            status, usage = _reap_within(proc.pid, DRAIN)
        kill_group(proc.pid)
        if status is None:
            if on_stop is not None:
                on_stop()
            status, usage = _reap(proc.pid, block=True)
    finally:
        if status is None:
            kill_group(proc.pid)
            if on_stop is not None:
                on_stop()
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else None
    return Supervised(
        returncode=proc.returncode,
        stdout=out,
        stderr=err,
        wall_time=time.monotonic() - started,
        cpu_time=(usage.ru_utime + usage.ru_stime) if usage else 0.0,
        peak_rss=usage.ru_maxrss * 1024 if usage and usage.ru_maxrss else None,
        killed_by=killed,
    )


def _pass_gate(proc: subprocess.Popen[bytes], gate: Gate) -> float | None:
    """Wait for the gate's decision and tell the held shim; the timeout to run with, or None."""
    assert proc.stdin is not None
    timeout = gate.wait()
    with contextlib.suppress(OSError):  # a shim that died already: its output says why
        proc.stdin.write(f"{OPEN_WORD if timeout is not None else 'no'}\n".encode())
    with contextlib.suppress(OSError):
        proc.stdin.close()
    return timeout


def _cancelled(
    proc: subprocess.Popen[bytes], on_stop: Callable[[], None] | None, started: float
) -> Supervised:
    """End a held command that was never opened; what it printed is of no interest."""
    kill_group(proc.pid)
    if on_stop is not None:
        on_stop()
    _reap(proc.pid, block=True)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    empty = CappedBuffer(0)
    return Supervised(None, empty, empty, time.monotonic() - started, 0.0, None, None, cancelled=True)


def _read_into(fd: int, buffer: CappedBuffer, selector: selectors.BaseSelector) -> bool:
    """Read what is ready; True when the cap was just passed."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    except OSError:
        data = b""
    if not data:
        selector.unregister(fd)
        return False
    return buffer.add(data)


def _reap_within(pid: int, seconds: float) -> tuple[int | None, resource.struct_rusage | None]:
    """The leader's status if it ends within `seconds` (a launcher such as `timeout` closes its
    output at exit, a moment before it is gone: killed then, it would read as a SIGKILL)."""
    deadline = time.monotonic() + seconds
    while (found := _reap(pid, block=False))[0] is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return found


def _reap(pid: int, block: bool) -> tuple[int | None, resource.struct_rusage | None]:
    try:
        got, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return 0, None
    if got == 0:
        return None, None
    return status, usage


def classify(
    returncode: int | None, killed_by: KilledBy | None, stderr: str
) -> tuple[int | None, KilledBy | None]:
    """The exit code and reason to report, from what the supervisor saw.

    Signals come back negative (`-9`) from a direct child, or as `128 + n` through a
    launcher (bwrap, `timeout`); both are reported as `-n`. A kill by SIGKILL that we did
    not send is the kernel's OOM killer; SIGXCPU is the CPU-time limit; a Python
    `MemoryError` under an address-space limit is a memory kill too.
    """
    if killed_by in (KilledBy.TIMEOUT, KilledBy.OUTPUT, KilledBy.DISK):
        return None, killed_by
    if killed_by is not None:
        return returncode, killed_by
    code = returncode
    if code is not None and code < 0:
        signum = -code
        if signum in _CPU_SIGNALS:
            return code, KilledBy.TIMEOUT
        return code, KilledBy.MEMORY if signum == signal.SIGKILL else KilledBy.SIGNAL
    if code and _died_of_memory_error(stderr):
        return code, KilledBy.MEMORY
    return code, None


def _died_of_memory_error(stderr: str) -> bool:
    """The process ended on an uncaught `MemoryError`: its traceback's last line names it.

    Only the last line: a program that mentions, catches or logs a MemoryError and goes on
    (or exits 0) was not killed for memory.
    """
    lines = [line for line in stderr[-2000:].splitlines() if line.strip()]
    return bool(lines) and lines[-1].strip().split(":")[0].endswith("MemoryError")


def signal_from_launcher(code: int | None) -> int | None:
    """Map a launcher's `128 + n` exit status for a fatal signal to `-n`; other codes pass."""
    fatal = {signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGXCPU, signal.SIGXFSZ}
    if code is not None and code > 128 and (code - 128) in fatal:
        return -(code - 128)
    return code


_RESERVATION_FAILURES = (
    "can't start new thread",
    "Cannot allocate memory",
    "std::bad_alloc",
    "pthread_create",
    "MemoryError",
    "failed to map segment",
    "mmap failed",
)


def address_space_note(execution: Execution, memory: int) -> str | None:
    """Where RLIMIT_AS held: a note when the command's failure reads like a reservation it refused
    (a thread, a mapping), which the memory in use may not explain; None otherwise."""
    if execution.ok or execution.killed_by not in (None, KilledBy.MEMORY):
        return None
    tail = execution.stderr[-4000:]
    if not any(marker in tail for marker in _RESERVATION_FAILURES):
        return None
    return (
        f"memory: each process may reserve at most {memory} bytes of address space here (RLIMIT_AS: "
        "no memory cgroup); thread stacks and allocator arenas count in full, so this failure may be "
        "that limit rather than the memory in use"
    )


def to_execution(seen: Supervised, backend: str, returncode: int | None, notes: list[str]) -> Execution:
    """The `Execution` a backend returns for what `supervise` saw."""
    stderr = redact(seen.stderr.text())
    code, killed_by = classify(returncode, seen.killed_by, stderr)
    if seen.cancelled:
        notes = [*notes, CANCELLED_NOTE]
    return Execution(
        exit_code=code,
        stdout=redact(seen.stdout.text()),
        stderr=stderr,
        wall_time=seen.wall_time,
        cpu_time=seen.cpu_time,
        peak_memory=seen.peak_rss,
        killed_by=killed_by,
        backend=backend,
        output_truncated=seen.stdout.overflowed or seen.stderr.overflowed,
        notes=notes,
    )
