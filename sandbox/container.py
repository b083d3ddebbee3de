"""The `docker` backend: one throw-away container per command, through docker-py.

The container runs the command as a non-root user with every capability
dropped, no-new-privileges, a read-only root (the skeleton image of
`sandbox.image`), no network, memory = memory+swap, a pids limit, optional CPU
quota, size-capped tmpfs at /tmp and /dev/shm, and rlimits for file size and
core dumps. The runtime (interpreter, venv) is bound read-only at its host
path, the workspace read-write at its host path (so commands written for the
host work unchanged), `readonly_paths` read-only over it, and `binds` at their
host paths (read-only unless writable). The docker socket
is never mounted. Output is read from the attach stream as it comes (the
logging driver is `none`, so an endless writer fills nothing on the host) and
capped; on timeout, output overflow or disk growth the container is killed,
and it is always removed. Peak memory and CPU time come from the container's
cgroups (`sandbox.container_accounting`): whole from a parent of its own where the engine's
driver is cgroupfs and strop may clean its cgroups, else sampled while it runs.

Every container carries the labels `strop.sandbox=1` and `strop.pid=<our pid>`;
`coreutils timeout` wraps the command as a dead man's switch, so a container
whose strop died ends by itself and is removed by the next `DockerSandbox`.
A strop that is stopping (SIGTERM, Ctrl-C: `sandbox.stopping`) removes its containers
on the way out; one SIGKILLed cannot, and its container runs on until that switch
(the time limit plus `ORPHAN_GRACE`) or the next `DockerSandbox`, whichever comes first.

An engine that does not answer is told apart by its socket (`unreachable`): no dockerd, a socket
this user may not open (the docker group), or another failure, each with its own fix.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.container_accounting import Accounting, new_parent, parents_usable, sweep_parents
from sandbox.disk import DiskWatch, OwnWrites
from sandbox.environment import clean_environment, redact
from sandbox.execution import Bind, Execution, KilledBy, Limits, SandboxError
from sandbox.image import ensure_image
from sandbox.memory import descendants
from sandbox.process import TICK, CappedBuffer, classify, process_alive, signal_from_launcher
from sandbox.runtime import Runtime
from sandbox.stopping import Running, running
from sandbox.syscalls import FilterUnavailable, confined, filter_note
from sandbox.workspace import Workspace, lend_all, sandbox_user

DEFAULT_SOCKET = "/var/run/docker.sock"
"""Where docker-py looks for the engine when DOCKER_HOST is unset."""
LABEL = "strop.sandbox"
OWNER_LABEL = "strop.pid"
ORPHAN_GRACE = 60.0
"""Seconds past the timeout after which a container whose strop died kills itself."""


class _Stream(threading.Thread):
    """Reads the attach socket's multiplexed frames into two capped buffers."""

    def __init__(self, sock: Any, cap: int) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.out, self.err = CappedBuffer(cap), CappedBuffer(cap)
        self.overflowed = threading.Event()

    def run(self) -> None:
        from docker.utils.socket import STDERR, frames_iter

        with contextlib.suppress(Exception):
            for stream, data in frames_iter(self.sock, tty=False):
                buffer = self.err if stream == STDERR else self.out
                if buffer.add(data):
                    self.overflowed.set()


class DockerSandbox:
    """A container per command. See the module docstring for the confinement."""

    name = "docker"

    def __init__(self, client: Any = None, runtime: Runtime | None = None, image: str | None = None) -> None:
        try:
            import docker  # noqa: F401
        except ImportError as error:  # pragma: no cover - docker is a declared dependency
            raise SandboxError("the docker Python SDK is not installed") from error
        if client is None:
            self.client = connect()
        else:
            try:
                client.ping()
            except Exception as error:
                raise SandboxError(unreachable(error)) from error
            self.client = client
        self.runtime = runtime or Runtime.detect()
        self.image = image or ensure_image(self.client, self.runtime)
        self.reap_orphans()
        # by its path: a task's `env = { PATH = … }` is the container's, and the engine looks the
        # first word up in it ("exec: timeout: not found" was an internal error, not a verdict)
        self.timeout_binary = shutil.which("timeout") or "timeout"
        self.parents = parents_usable(self.client)  # each container under a cgroup of its own
        if self.parents:
            sweep_parents()  # those of a strop killed outright (its containers reaped above)

    def reap_orphans(self) -> list[str]:
        """Remove labelled containers whose strop process is gone; the ids removed."""
        removed = []
        for info in self.client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
            owner = (info.get("Labels") or {}).get(OWNER_LABEL, "")
            if owner.isdigit() and process_alive(int(owner)):
                continue
            with contextlib.suppress(Exception):
                self.client.api.remove_container(info["Id"], force=True)
                removed.append(info["Id"])
        return removed

    def _host_config(self, space: Workspace, limits: Limits, parent: str | None) -> Any:
        from docker.types import LogConfig, Mount, Ulimit

        mounts = [Mount(str(p), str(p), type="bind", read_only=True) for p in self.runtime.binds]
        mounts.append(Mount(str(space.root), str(space.root), type="bind", read_only=False))
        mounts += [Mount(str(p), str(p), type="bind", read_only=True) for p in space.readonly]
        mounts += [
            Mount(str(b.path), str(b.path), type="bind", read_only=not b.writable) for b in space.binds
        ]
        file_size = max(limits.workspace_bytes, limits.scratch_bytes)
        files = limits.open_files
        ulimits = [
            Ulimit(name="fsize", soft=file_size, hard=file_size),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="nofile", soft=files, hard=files),
        ]
        if limits.cpu_time is not None:
            cpu = max(1, int(limits.cpu_time))
            ulimits.append(Ulimit(name="cpu", soft=cpu, hard=cpu + 1))
        return self.client.api.create_host_config(
            mounts=mounts,
            network_mode="bridge" if limits.network else "none",
            read_only=True,
            tmpfs={  # /dev/shm too (not shm_size, which caps only its bytes): an inode is memory
                "/tmp": f"rw,nosuid,nodev,exec,size={limits.scratch_bytes},nr_inodes={limits.files},mode=1777",
                "/dev/shm": f"rw,nosuid,nodev,noexec,size={limits.scratch_bytes},nr_inodes={limits.files},mode=1777",
            },
            mem_limit=limits.memory,
            memswap_limit=limits.memory,
            pids_limit=limits.pids,
            nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=ulimits,
            log_config=LogConfig(type="none"),
            cgroup_parent=f"/{parent}" if parent else None,
        )

    def run(
        self,
        command: Sequence[str],
        workdir: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly_paths: Sequence[Path] = (),
        binds: Sequence[Bind] = (),
    ) -> Execution:
        from docker.errors import APIError

        space = Workspace.of(workdir, readonly_paths, binds)
        uid, gid = sandbox_user(space.root)
        switch = str(math.ceil(limits.timeout + ORPHAN_GRACE))
        keep = [*space.readonly, *self.runtime.inside(space.root)]
        inner, filter_note = _filtered(command)
        accounting = Accounting(new_parent() if self.parents else None)
        with lend_all(space, uid, gid, keep=keep):
            started = time.monotonic()
            cid = self.client.api.create_container(
                self.image,
                command=[self.timeout_binary, "-s", "KILL", switch, *inner],
                user=f"{uid}:{gid}",
                working_dir=str(space.root),
                environment=clean_environment(env),
                labels={LABEL: "1", OWNER_LABEL: str(os.getpid())},
                hostname="sandbox",
                host_config=self._host_config(space, limits, accounting.parent),
            )["Id"]
            accounting.cid = cid
            try:
                with running() as entry:  # `stop_all` raises its flag; `_attend` kills, we remove
                    execution = self._attend(cid, space, limits, started, entry, accounting)
                entry.check()
                execution.notes.append(filter_note)
                return execution
            except APIError as error:  # the engine could not start it: one line, no traceback
                said = str(getattr(error, "explanation", "") or _short(error)).splitlines()[0][:300]
                raise SandboxError(f"docker could not start the command: {said}") from None
            finally:
                with contextlib.suppress(Exception):
                    self.client.api.remove_container(cid, force=True)
                accounting.remove()
                if accounting.parent_missing:
                    # not made where strop reads (an engine in another cgroup namespace, or on a
                    # host whose /sys this is not): no more parents, which would be left there
                    self.parents = False

    def _attend(
        self, cid: str, space: Workspace, limits: Limits, started: float, entry: Running, cgroup: Accounting
    ) -> Execution:
        sock = self.client.api.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1})
        stream = _Stream(sock, limits.output_bytes)
        stream.start()
        writable = list(space.writable)
        own = OwnWrites(writable, descendants(self._init_pid(cid)))
        watch = DiskWatch(writable, limits.workspace_bytes, limits.files, own)
        killed: KilledBy | None = None
        try:
            self.client.api.start(cid)
            deadline = started + limits.timeout
            while stream.is_alive():
                stream.join(TICK)
                cgroup.sample()
                if entry.stopped:
                    killed = KilledBy.SIGNAL
                elif stream.overflowed.is_set():
                    killed = KilledBy.OUTPUT
                elif time.monotonic() >= deadline:
                    killed = KilledBy.TIMEOUT
                else:
                    killed = watch()
                if killed is not None:
                    with contextlib.suppress(Exception):
                        self.client.api.kill(cid)
                    break
            status = self.client.api.wait(cid, timeout=30).get("StatusCode")
            oom = self.client.api.inspect_container(cid)["State"].get("OOMKilled", False)
        finally:
            with contextlib.suppress(Exception):
                sock.close()
        stream.join(timeout=2)
        cgroup.finish()
        if killed is None and oom:
            killed = KilledBy.MEMORY
        stderr = redact(stream.err.text())
        code, killed_by = classify(signal_from_launcher(status), killed, stderr)
        notes = [*([watch.note] if watch.note else []), cgroup.note()]
        return Execution(
            exit_code=code,
            stdout=redact(stream.out.text()),
            stderr=stderr,
            wall_time=time.monotonic() - started,
            cpu_time=cgroup.cpu,
            cpu_complete=cgroup.complete,  # read after its end from a parent: every process, whole
            peak_memory=cgroup.peak or None,
            killed_by=killed_by,
            backend=self.name,
            output_truncated=stream.out.overflowed or stream.err.overflowed,
            notes=notes,
        )

    def _init_pid(self, cid: str) -> Callable[[], int | None]:
        """The container's first process on the host, asked of the engine once it is needed
        (only when the disk watch counts what the container holds open)."""
        found: list[int] = []

        def init() -> int | None:
            if not found:  # 0 until the container runs
                with contextlib.suppress(Exception):
                    if host_pid := int(self.client.api.inspect_container(cid)["State"]["Pid"]):
                        found.append(host_pid)
            return found[0] if found else None

        return init


def connect(timeout: int = 60) -> Any:
    """A docker-py client whose engine answered a ping; SandboxError saying why not, in one line."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as error:
        raise SandboxError(unreachable(error)) from error
    return client


def unreachable(error: BaseException) -> str:
    """Why the docker engine did not answer, and the fix, judged by the socket itself.

    docker-py says "Connection aborted" for three causes with three fixes: no dockerd (start
    it), a socket this user may not open (the docker group), anything else (its message).
    A normal user told "is dockerd running?" about a running dockerd goes the wrong way.
    """
    host = os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    if not host.startswith("unix://"):
        return f"the docker engine at {host} does not answer ({_short(error)})"
    path = host.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(5)
            probe.connect(path)
    except (FileNotFoundError, ConnectionRefusedError) as refused:
        missing = "no socket at" if isinstance(refused, FileNotFoundError) else "nothing listens on"
        return (
            f"the docker engine is not running ({missing} {path}): start dockerd "
            '(`sudo systemctl start docker`), or use sandbox = "bwrap"'
        )
    except PermissionError:
        return _no_access(path)
    except OSError as failed:
        return f"cannot reach the docker engine at {path} ({failed.strerror or failed})"
    return f"the docker engine at {path} does not answer ({_short(error)})"


def _no_access(path: str) -> str:
    """The line for a docker socket this user may not open: the group that may, and how to join it."""
    import grp
    import pwd

    head, other = f"no access to the docker socket {path}", 'or use sandbox = "bwrap"'
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
        gid = os.stat(path).st_gid
        group = grp.getgrgid(gid).gr_name
        members = grp.getgrgid(gid).gr_mem
    except (OSError, KeyError):
        return f"{head}: ask an administrator for access, {other}"
    if gid == 0:
        return f"{head} (only root may use it here): ask an administrator for access, {other}"
    if user in members and gid not in os.getgroups():
        return f"{head}: you joined the {group} group after this session began; log in again, {other}"
    return (
        f"{head}: ask to be added to the {group} group (`sudo usermod -aG {group} {user}`, "
        f"then log in again), {other}"
    )


def _filtered(command: Sequence[str]) -> tuple[list[str], str]:
    """`command` under strop's syscall filter (on top of Docker's), and the note that says so."""
    try:
        return confined(command, sys.executable), filter_note(True) + " (on top of Docker's own filter)"
    except FilterUnavailable as error:
        return list(command), filter_note(False, error) + " (Docker's own filter holds the rest)"


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
