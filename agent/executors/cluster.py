"""Connecting to a Ray cluster, noticing that it went away, and a real one on loopback.

`connect` is the only place strop calls `ray.init`: it refuses to start a private
in-process cluster (an address is always given, `auto` finds a running one), keeps
Ray's own logging quiet, never forwards the driver's environment (no
`runtime_env`: API keys stay on the driver), and turns every way of failing into
one line. `head_reachable` is a plain TCP probe of the head's GCS port: when a
cluster dies, Ray's driver-side client keeps retrying for a minute before it
aborts the process; the probe lets the executor stop first, with one line, while
the run is still resumable.

`LocalCluster` starts a real multi-node cluster on 127.0.0.1 (`ray start --head`
plus `ray start --address …` worker nodes, each its own process group, on free
ports and a private temp dir), for tests, benchmarks and trying the executor out.
Tearing it down kills exactly those process groups, never another user's Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError

NAMESPACE = "strop"
PROBE_SECONDS = 2.0


class ClusterGone(UserError):
    """The Ray cluster stopped answering during a run; the run can be resumed (locally too)."""


def lost_under(ray: Any, error: object) -> bool:
    """A task's worker or node was lost (Ray's system failures), as against an error raised in it.

    strop retries such tasks itself, submitted with `max_retries=0`: Ray's own retry and its
    lineage reconstruction of a lost result run inside the driver's core worker, and when the
    whole cluster dies under them they can end the driver with a silent exit 1 (seen once in CI,
    after "Attempting to recover 1 lost objects…") instead of strop's one-line stop.
    """
    errors = ray.exceptions
    return isinstance(error, BaseException) and not isinstance(
        error, (errors.RayTaskError, errors.TaskCancelledError)
    )


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("the ray executor needs Ray on this machine: pip install 'strop[ray]'") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    plain = address.removeprefix("ray://")
    host, _, port = plain.rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def head_reachable(address: str, timeout: float = PROBE_SECONDS) -> bool:
    """Whether something accepts TCP connections at `address` (HOST:PORT)."""
    target = _host_port(address)
    if target is None:
        return True
    try:
        with socket.create_connection(target, timeout=timeout):
            return True
    except OSError:
        return False


def connect(address: str) -> Any:
    """Connect this process to the cluster at `address` (auto or HOST:PORT); returns the `ray` module."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if address != "auto" and not head_reachable(address):
        raise UserError(
            f"cannot reach the Ray cluster at {address}: nothing answers there "
            "(start one with `ray start --head`, or run with --executor local)"
        )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        with _quiet_stderr(), _signal_handlers_kept():
            ray.init(
                address=address,
                namespace=NAMESPACE,
                logging_level=logging.ERROR,
                log_to_driver=False,
                include_dashboard=False,
            )
    except Exception as error:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError…
        text = " ".join(str(error).split())[:200]
        raise UserError(
            f"cannot connect to the Ray cluster at {address}: {text} (or run with --executor local)"
        ) from None
    _silence_driver_prints()
    return ray


@contextlib.contextmanager
def _signal_handlers_kept() -> Any:
    """`ray.init` puts its own SIGTERM handler (`sys.exit`) in place of strop's: a SIGTERM to
    `strop run --executor ray` then ended it with status 1 and no word, where it says which run
    stopped and ends by the signal (the nightly runner reads that status). Put strop's back."""
    kept = {}
    if threading.current_thread() is threading.main_thread():
        kept = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            if handler is not None:
                signal.signal(signum, handler)


def _silence_driver_prints() -> None:
    """Ray prints raylet notices ("a worker died…") on the driver's *stdout*, even without
    `log_to_driver`; that would corrupt `--json` output. strop records those events itself
    (a lost evaluation's reason), so the prints are switched off (a private flag: best effort)."""
    with contextlib.suppress(Exception):
        import ray._private.worker as ray_worker

        ray_worker._worker_logs_enabled = False


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """Ray prints connection banners on stderr from C++; keep them out of strop's output."""
    saved = os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def gcs_address(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001
        return ""


def check_capacity(ray: Any, cpus: float, memory: int) -> None:
    """Refuse at once when no alive node could ever run one evaluation (Ray would wait for ever)."""
    for node in ray.nodes():
        resources = node.get("Resources", {})
        if node.get("Alive") and resources.get("CPU", 0) >= cpus and resources.get("memory", 0) >= memory:
            return
    raise UserError(
        f"no node of the Ray cluster offers {cpus:g} CPU and {memory / 2**30:.2g} GiB of memory "
        "for one evaluation (the task's evaluator memory limit); lower it or add bigger nodes"
    )


def disconnect() -> None:
    """Leave the cluster if connected, without waiting on a head that is gone."""
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():
            ray.shutdown()


# --------------------------------------------------------------------------- LocalCluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalCluster:
    """A real Ray cluster on 127.0.0.1: one head and `nodes - 1` worker nodes, `cpus` CPUs each."""

    nodes: int = 2
    cpus: int = 1
    object_store: int = 100 << 20
    temp_dir: Path | None = None
    address: str = ""
    groups: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _owned_temp: bool = False

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ray(self) -> str:
        return str(Path(sys.executable).with_name("ray"))

    def _node_args(self) -> list[str]:
        ports = [free_port() for _ in range(6)]
        return [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus}",
            f"--object-store-memory={self.object_store}",
            f"--node-manager-port={ports[0]}",
            f"--object-manager-port={ports[1]}",
            f"--dashboard-agent-listen-port={ports[2]}",
            f"--dashboard-agent-grpc-port={ports[3]}",
            f"--metrics-export-port={ports[4]}",
            f"--runtime-env-agent-port={ports[5]}",
            "--disable-usage-stats",
            "--include-log-monitor=false",  # logs stay in the temp dir; one process fewer per node
        ]

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        # Ray adds 15 to its workers' niceness by default: on a busy machine evaluations then
        # starve (measured: 3x slower than the same evaluation run locally). Workers here keep
        # the niceness of whoever started the cluster, as local evaluations do.
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}
        log = open(self.temp_dir / f"node-{len(self.groups)}.log", "wb")  # noqa: SIM115 - lives with the node
        process = subprocess.Popen(
            [self._ray(), "start", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.groups.append(process)
        return process

    def start(self, timeout: float = 180.0, attempts: int = 3) -> None:
        """Start the nodes; on a loaded machine Ray's 30 s start-up limit can trip, so try again."""
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise

    def _start_once(self, timeout: float) -> None:
        if self.temp_dir is None or self._owned_temp:
            self.temp_dir = Path(tempfile.mkdtemp(prefix="strop-ray-"))
            self._owned_temp = True
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        head = [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-port={free_port()}",
            f"--temp-dir={self.temp_dir}",
        ]
        self._spawn(head + self._node_args())
        self._wait(lambda: self._started(0), timeout, "the head node")
        for _ in range(self.nodes - 1):
            self.add_node(timeout)
        self.wait_ready(timeout)

    def add_node(self, timeout: float = 180.0) -> None:
        """Start one more worker node and wait until `ray start` says it is up."""
        self._spawn([f"--address={self.address}", *self._node_args()])
        self._wait(lambda: self._started(len(self.groups) - 1), timeout, "a worker node")

    def _started(self, index: int) -> bool:
        assert self.temp_dir is not None
        log = self.temp_dir / f"node-{index}.log"
        return log.is_file() and "Ray runtime started" in log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Connect this process and wait until the cluster counts every node's CPUs; then leave."""
        ray = connect(self.address)
        try:
            wanted = self.nodes * self.cpus
            self._wait(lambda: ray.cluster_resources().get("CPU", 0) >= wanted, timeout, "the cluster")
        finally:
            disconnect()

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(process.poll() is not None for process in self.groups):
                tail = self._log_tail()
                self.stop()
                raise RuntimeError(
                    f"{what} of the local Ray cluster exited at start: {tail} (see {self.temp_dir})"
                )
            if ready():
                return
            time.sleep(0.5)
        tail = self._log_tail()
        self.stop()
        raise RuntimeError(f"{what} of the local Ray cluster did not start within {timeout:g}s: {tail}")

    def _members(self) -> list[int]:
        """Pids of every process in this cluster's sessions (raylets start workers in new groups)."""
        sessions = {process.pid for process in self.groups}
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(entry.name)) in sessions:
                        pids.append(int(entry.name))
        return pids

    def _log_tail(self) -> str:
        assert self.temp_dir is not None
        logs = sorted(self.temp_dir.glob("node-*.log"), key=lambda path: path.stat().st_mtime)
        lines = logs[-1].read_text(errors="replace").strip().splitlines() if logs else []
        return " | ".join(lines[-3:])[-400:]

    def worker_pids(self) -> list[int]:
        """Pids of this cluster's Ray worker processes (`ray::…` titles, agents left out)."""
        pids = []
        for pid in self._members():
            with contextlib.suppress(OSError):
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                if title.startswith(b"ray::") and b"Agent" not in title:
                    pids.append(pid)
        return sorted(pids)

    def stop(self) -> None:
        """Kill this cluster's processes (its sessions only); remove its temp dir if it made one."""
        for process in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        end = time.monotonic() + 10
        for process in self.groups:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, end - time.monotonic()))
        for pid in self._members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.groups:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.groups = []
        if self._owned_temp and self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
