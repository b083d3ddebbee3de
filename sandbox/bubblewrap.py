"""The `bwrap` backend: Linux namespaces through bubblewrap, plus rlimits.

The command gets its own network (loopback only), pid, ipc, uts and cgroup
namespaces; its root is an empty tmpfs holding read-only binds of the runtime
(see `sandbox.runtime`), the workspace bound read-write at its host path, the
protected `readonly_paths` bound read-only over it, `binds` at their host paths
(read-only unless writable), and a fresh /proc, /dev and
size-capped tmpfs at /tmp and /dev/shm. `--die-with-parent` and the pid
namespace mean no process outlives the run: when the command ends or we kill
bwrap, the kernel kills everything left in the namespace; when strop dies (even by
SIGKILL), bwrap and the sandbox's pid 1 get their parent-death signals, and the same.

It never runs the command as root. As root, bwrap itself runs privileged (no
user namespace) and `setpriv` drops the command to a uid of its own (see
`sandbox_user`) with no capabilities and no-new-privileges; RLIMIT_NPROC then
bounds the process count (root is exempt from it; it counts every process of a
uid, so no two sandboxes share one). As a normal user, bwrap makes a user
namespace and `prlimit` sets RLIMIT_NPROC inside it, where it counts only the
sandbox's processes. Memory is held, for all the sandbox's processes together, where
strop may make one (root, a writable cgroup file system), by a memory cgroup of the
sandbox's own that bwrap enters before it starts (`sandbox.memory.MemoryCgroup`: the
kernel counts every page, tmpfs and pipe buffers included, and an OOM kill in it is the
MEMORY verdict); elsewhere by `sandbox.memory`'s watch, which sums the pid namespace's
memory a few times a second, with an address-space rlimit per process (only there: it
counts what a process reserves, and refused threads the cgroup allowed). Each `Execution` says which
in its notes (`memory_enforcement`). Peak memory is the cgroup's peak; with the watch, the
larger of the launcher's peak RSS (which starts from strop's own RSS at fork) and the largest
sum the watch saw. CPU time is the cgroup's count where there is one (`sandbox.cputime`: every
process, a worker left running included, so it is whole), else the launcher's rusage, which misses
such a worker (not complete: `$STROP_RUN_STATS` gives none); the notes say which. A seccomp filter
(`sandbox.syscalls`, bwrap's `--seccomp`) refuses new user namespaces, `fallocate` and a few
kernel interfaces; where libseccomp is missing the sandbox runs without it and its notes say so.

Run by a normal user, bwrap needs a user namespace: where the kernel allows none (a sysctl, a
container's limit) the backend does not open, or its run raises `SandboxError` with the cause and
the fix, rather than passing bwrap's own line off as the command's failure.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sandbox.cputime import CpuCgroup, cpu_cgroup, uncounted
from sandbox.disk import DiskWatch, OwnWrites, host_devices, scratch_files_used
from sandbox.environment import clean_environment
from sandbox.execution import Bind, Execution, KilledBy, Limits, SandboxError
from sandbox.gate import Gate
from sandbox.memory import (
    MemoryCgroup,
    MemoryWatch,
    cgroup_support,
    credible_peak,
    descendants,
    memory_cgroup,
    own_peak_rss,
)
from sandbox.process import (
    address_space_note,
    rlimit_setter,
    signal_from_launcher,
    supervise,
    to_execution,
)
from sandbox.runtime import Runtime
from sandbox.syscalls import FilterUnavailable, filter_note, program_fd
from sandbox.workspace import Workspace, lend_all, sandbox_user

ORPHAN_GRACE = 60.0
"""Seconds past the timeout after which a sandbox whose strop died ends itself."""

USERNS_SYSCTLS = (
    ("user.max_user_namespaces", "0", "15000"),
    ("kernel.unprivileged_userns_clone", "0", "1"),  # Debian's and Ubuntu's older kernels
)
"""(sysctl, value that turns user namespaces off for normal users, a value that turns them on)."""

# Order of mount operations at equal depth: folders, system mounts, runtime, workspace, protected.
_DIR, _SYSTEM, _RUNTIME, _WORK, _PROTECTED = range(5)


def _ops_for_layout(space: Workspace, limits: Limits, runtime: Runtime) -> list[tuple[Path, int, list[str]]]:
    scratch = str(limits.scratch_bytes)
    ops: list[tuple[Path, int, list[str]]] = [
        (Path("/proc"), _SYSTEM, ["--proc", "/proc"]),
        (Path("/dev"), _SYSTEM, ["--dev", "/dev"]),
        (Path("/tmp"), _SYSTEM, ["--perms", "1777", "--size", scratch, "--tmpfs", "/tmp"]),
        (Path("/dev/shm"), _SYSTEM, ["--perms", "1777", "--size", scratch, "--tmpfs", "/dev/shm"]),
    ]
    ops += [(Path(name), _SYSTEM, ["--symlink", target, name]) for name, target in runtime.links]
    ops += [(path, _RUNTIME, ["--ro-bind", str(path), str(path)]) for path in runtime.binds]
    ops.append((space.root, _WORK, ["--bind", str(space.root), str(space.root)]))
    ops += [(path, _PROTECTED, ["--ro-bind", str(path), str(path)]) for path in space.readonly]
    for bind in space.binds:
        flag = "--bind" if bind.writable else "--ro-bind"
        ops.append((bind.path, _WORK, [flag, str(bind.path), str(bind.path)]))
    return ops


def _folders(ops: list[tuple[Path, int, list[str]]], runtime: Runtime, space: Workspace) -> list[Path]:
    """Parent folders bwrap must create (mode 0755) so the sandbox user can reach each mount.

    Compared as strings: this runs on every launch, and pathlib's `in parents` made it
    cost more than bwrap itself.
    """
    targets = {str(path) for path, _, _ in ops}
    filled = [str(path) for path in (*runtime.binds, space.root, *(bind.path for bind in space.binds))]
    folders: set[str] = set()
    for target in targets:
        parent = os.path.dirname(target)
        while parent not in ("/", ""):
            inside = any(parent == mount or parent.startswith(mount + "/") for mount in filled)
            if parent not in targets and not inside:
                folders.add(parent)
            parent = os.path.dirname(parent)
    return sorted(Path(folder) for folder in folders)


def bwrap_argv(
    binary: str,
    command: Sequence[str],
    space: Workspace,
    limits: Limits,
    runtime: Runtime,
    user: tuple[int, int],
    as_root: bool,
    info_fd: int | None = None,
    hold: float = 0.0,
    seccomp_fd: int | None = None,
) -> list[str]:
    """The full bwrap command line; pure, so the layout can be read and tested.

    `hold`: the most seconds the command may wait behind a gate before its time starts.
    `seccomp_fd`: a descriptor holding `sandbox.syscalls.program()`.
    """
    argv = [binary, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    if not limits.network:
        argv.append("--unshare-net")
    if not as_root:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox"]
    ops = _ops_for_layout(space, limits, runtime)
    ops += [
        (folder, _DIR, ["--perms", "0755", "--dir", str(folder)]) for folder in _folders(ops, runtime, space)
    ]
    for _, _, args in sorted(ops, key=lambda op: (len(op[0].parts), op[1], str(op[0]))):
        argv += args
    argv += ["--chdir", str(space.root), "--"]
    switch = str(math.ceil(limits.timeout + hold + ORPHAN_GRACE))
    if as_root:
        # pid 1 is `timeout`, as root with only the capabilities it and setpriv need: bwrap's die-with-parent
        # signal reaches it (bwrap has no CAP_KILL to signal another uid, so a pid 1 of the sandbox
        # user outlived a SIGKILLed strop: measured, a candidate ran on to its switch), and with it
        # the namespace dies. The candidate's uid cannot signal or trace it.
        uid, gid = user
        keep = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH")
        caps = ["--cap-drop", "ALL", *(arg for cap in keep for arg in ("--cap-add", cap))]
        argv[argv.index("--chdir") : argv.index("--chdir")] = caps  # its chdir: the lent workspace
        argv += ["timeout", "-s", "KILL", switch]
        argv += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--pdeathsig=KILL"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return argv + list(command)
    argv += ["prlimit", f"--nproc={limits.pids}:{limits.pids}", "--"]
    return argv + ["timeout", "-s", "KILL", switch, *command]


def in_environment(env: Mapping[str, str], command: Sequence[str]) -> list[str]:
    """`command` run with exactly `env`, set by `env -i` as the last step before it.

    The task's variables reach no process but the command (and its gate): given to bwrap as its
    own environment, `LD_PRELOAD = "./evil.so"` had the host's bwrap load a library of the task,
    as root, outside any sandbox; set there with bwrap's `--setenv`, they would still reach the
    launcher's own steps inside it (`timeout` as root with capabilities, `setpriv`, `prlimit`),
    which a preloaded library could make skip the drop to the sandbox user or the process limit.
    `env` runs after them, as the sandbox user, with strop's own environment. Names hold no '='
    (`evaluators.spec` refuses one), so each `NAME=VALUE` reads back as it was given.
    """
    return ["env", "-i", "--", *(f"{name}={value}" for name, value in env.items()), *command]


class _SandboxInit:
    """The sandbox's pid 1, as bwrap names it on its --info-fd once the sandbox exists.

    Killed with SIGKILL when we stop the command (so its whole pid namespace dies, whether
    or not bwrap's die-with-parent signal reaches it): the command runs as pid 1
    (`--as-pid-1`, so its CPU time and peak memory reach us through `wait4`), and bwrap,
    which keeps no CAP_KILL, cannot signal a pid 1 of another uid (why, as root, pid 1 is
    a root `timeout` and the sandbox user's command its child). Its /tmp and /dev/shm are watched
    through /proc/PID/root: bwrap's `--size` caps their bytes, but nothing caps their
    inodes, each of which is kernel memory that no rlimit counts. Only once they are the sandbox's:
    bwrap names the pid before it mounts them (`sandbox.disk.scratch_files_used`). `note` says why
    it stopped a command.
    """

    def __init__(self, info_read: int, files: int) -> None:
        self.info_read, self.files = info_read, files
        self.pid: int | None = None
        self.note: str | None = None
        self._data = b""
        self._host = host_devices()

    def _take(self, block: bool) -> int | None:
        while self.pid is None:
            if not block and not select.select([self.info_read], [], [], 0)[0]:
                return None
            try:
                chunk = os.read(self.info_read, 65536)
            except OSError:
                return None
            self._data += chunk
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.pid = int(json.loads(self._data)["child-pid"])
            if not chunk:
                return None
        return self.pid

    def take(self) -> int | None:
        """The sandbox's pid 1 on the host, once bwrap has named it."""
        return self._take(block=False)

    def kill(self) -> None:
        pid = self._take(block=True)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def __call__(self) -> KilledBy | None:
        """Watchdog: DISK once the sandbox's /tmp or /dev/shm holds more than `files` inodes."""
        pid = self._take(block=False)
        for folder in ("tmp", "dev/shm") if pid is not None else ():
            with contextlib.suppress(OSError):
                used = scratch_files_used(Path(f"/proc/{pid}/root/{folder}"), self._host)
                if used is not None and used > self.files:
                    self.note = (
                        f"disk: the sandbox's /{folder} holds {used} files, past the limit of {self.files}"
                    )
                    return KilledBy.DISK
        return None


class BwrapSandbox:
    """Namespaces + read-only binds + rlimits. See the module docstring."""

    name = "bwrap"
    holds = True
    """`run` accepts a `gate` (see `sandbox.gate`)."""

    def __init__(
        self, binary: str | None = None, runtime: Runtime | None = None, memory_cgroups: bool = True
    ) -> None:
        """`memory_cgroups=False`: hold memory with the watch even where a cgroup could be made."""
        found = binary or shutil.which("bwrap")
        if not found:
            raise SandboxError("bubblewrap is not installed (apt-get install -y bubblewrap)")
        helper = "setpriv" if os.getuid() == 0 else "prlimit"
        if not shutil.which(helper):
            raise SandboxError(f"{helper} is missing (apt-get install -y util-linux)")
        if os.getuid() != 0 and (off := user_namespaces_off()):
            raise SandboxError(no_user_namespaces(off))
        self.binary = found
        self.runtime = runtime or Runtime.detect()
        self.memory_cgroups = memory_cgroups

    @property
    def memory_enforcement(self) -> str:
        """How this backend holds the memory limit on this machine, in words."""
        place = cgroup_support() if self.memory_cgroups else "turned off"
        if isinstance(place, str):
            return f"memory: a watchdog on the sandbox's processes, a few times a second (no cgroup: {place})"
        return MemoryCgroup.describe_version(place.version)

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
        space = Workspace.of(workdir, readonly_paths, binds)
        as_root = os.getuid() == 0
        user = sandbox_user(space.root, own=as_root)  # as root, RLIMIT_NPROC is the process limit
        info_read, info_write = os.pipe()
        filter_fd, filter_note = _syscall_filter()
        inner, hold = (
            (gate.wrap(command, space.root), gate.max_wait) if gate is not None else (list(command), 0.0)
        )
        inner = in_environment(clean_environment(env), inner)
        argv = bwrap_argv(
            self.binary, inner, space, limits, self.runtime, user, as_root, info_write, hold, filter_fd
        )
        keep = [*space.readonly, *self.runtime.inside(space.root)]
        init = _SandboxInit(info_read, limits.files)
        members = descendants(init.take)
        writable = list(space.writable)
        disk = DiskWatch(writable, limits.workspace_bytes, limits.files, OwnWrites(writable, members))
        if gate is not None:  # a held command is charged for what it writes once opened, not before
            gate.before_open(disk.begin)
        cgroup = memory_cgroup(limits.memory) if self.memory_cgroups else "turned off"
        cpu = cpu_cgroup(cgroup) if isinstance(cgroup, MemoryCgroup) else cgroup
        if isinstance(cgroup, MemoryCgroup):
            memory: MemoryCgroup | MemoryWatch = cgroup
            rlimits = rlimit_setter(limits, nproc=as_root, address_space=False)
            into = [cgroup, cpu] if isinstance(cpu, CpuCgroup) else [cgroup]
            note, preexec = cgroup.describe(), _entering(into, rlimits)
        else:
            memory = MemoryWatch(members, limits.memory, own_ipc=init.take)
            note = (
                f"memory: a watchdog on the sandbox's processes, a few times a second (no cgroup: {cgroup})"
            )
            preexec = rlimit_setter(limits, nproc=as_root)
        inherited = own_peak_rss()
        try:
            with lend_all(space, *user, keep=keep):
                seen = supervise(
                    argv,
                    cwd=space.root,
                    env=clean_environment(),  # strop's own: never a variable of the task (`in_environment`)
                    limits=limits,
                    preexec=preexec,
                    watchdog=lambda: disk() or init() or memory(),
                    pass_fds=[info_write] if filter_fd is None else [info_write, filter_fd],
                    on_stop=init.kill,
                    gate=gate,
                )
            made = init.take() is not None  # bwrap names the sandbox's pid 1 once it made it
        finally:
            os.close(info_read)
            if isinstance(cpu, CpuCgroup):
                cpu.close()  # first: on v2 it reads the memory cgroup, which `memory.close` removes
            if isinstance(memory, MemoryCgroup):
                memory.close()
        if not made and seen.returncode != 0 and seen.killed_by is None and not seen.cancelled:
            raise SandboxError(_setup_failure(seen.stderr.text(), as_root))
        notes = [note, filter_note, *(stop for stop in (disk.note, init.note) if stop)]
        execution = to_execution(seen, self.name, signal_from_launcher(seen.returncode), notes)
        _count_cpu(execution, cpu)
        if isinstance(memory, MemoryCgroup):
            # The kernel's own count, and only it: the launcher's ru_maxrss starts from strop's RSS at
            # fork (kept across exec), so a 1.3 GB strop reported a candidate held under 256 MiB as 1.3 GB.
            execution.peak_memory = memory.peak or None
        else:
            execution.peak_memory = credible_peak(execution.peak_memory, memory.peak, inherited)
        if (
            isinstance(memory, MemoryCgroup)
            and memory.oom_kills
            and execution.killed_by in (None, KilledBy.SIGNAL)
        ):
            execution.killed_by = KilledBy.MEMORY  # a child the OOM killer took, the command went on
        if not isinstance(memory, MemoryCgroup) and (hint := address_space_note(execution, limits.memory)):
            execution.notes.append(hint)
        return execution


def user_namespaces_off() -> tuple[str, str, str] | None:
    """The entry of `USERNS_SYSCTLS` that keeps normal users from making user namespaces here, or None.

    bwrap run by a normal user needs one; without it bwrap fails on its first line, and what it
    prints (ENOSPC, "nesting depth") names neither the cause nor the fix. Read before any run so
    that `auto` moves on, and a backend named by the task is refused before the first experiment.
    """
    for sysctl in USERNS_SYSCTLS:
        with contextlib.suppress(OSError):
            if Path("/proc/sys", *sysctl[0].split(".")).read_text().strip() == sysctl[1]:
                return sysctl
    return None


def no_user_namespaces(sysctl: tuple[str, str, str] | None) -> str:
    """The one line that says why bwrap cannot run for this user here, and what fixes it.

    `sysctl`: the setting that refuses them, or None for a limit no sysctl here shows (an
    enclosing container's own, a seccomp or AppArmor rule).
    """
    if sysctl is None:
        cause, fix = "a limit of this machine or of a container it runs in", "an administrator can lift it"
    else:
        name, off, on = sysctl
        cause, fix = f"{name} = {off}", f"an administrator can allow them (`sudo sysctl -w {name}={on}`)"
    return (
        f"bwrap needs a user namespace, and normal users may not make one here ({cause}): {fix}, "
        'or use sandbox = "docker" (which needs access to the docker socket)'
    )


def _setup_failure(stderr: str, as_root: bool) -> str:
    """Why bwrap failed before it made the sandbox (no child pid on its info fd), in one line.

    Not the command's failure: nothing of it ran.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = next((line for line in lines if line.startswith("bwrap:")), lines[-1] if lines else "no message")
    if not as_root and "namespace" in said.lower():
        return f"{no_user_namespaces(user_namespaces_off())} [{said}]"
    return f"bwrap could not make the sandbox: {said}"


def _syscall_filter() -> tuple[int | None, str]:
    """A descriptor for bwrap's `--seccomp` and the note that says what it refuses.

    Without libseccomp the sandbox still runs, with a note that says what is then open:
    falling back to the `local` backend over it would be far weaker.
    """
    try:
        return program_fd(), filter_note(True)
    except FilterUnavailable as error:
        return None, filter_note(False, error)


def _entering(cgroups: Sequence[MemoryCgroup | CpuCgroup], then: Callable[[], None]) -> Callable[[], None]:
    """A `preexec_fn`: into `cgroups` first (bwrap and all it starts are then in them), then `then`."""

    def apply() -> None:
        for cgroup in cgroups:
            cgroup.enter()
        then()

    return apply


def _count_cpu(execution: Execution, cpu: CpuCgroup | str) -> None:
    """The cgroup's CPU time, whole, where it was read; else rusage's stays, not complete; and the note."""
    if isinstance(cpu, CpuCgroup) and cpu.seconds is not None:
        execution.cpu_time, execution.cpu_complete = cpu.seconds, True
        execution.notes.append(cpu.describe())
    else:
        why = cpu if isinstance(cpu, str) else f"a process stayed in {cpu.path} past its end"
        execution.notes.append(uncounted(why))
