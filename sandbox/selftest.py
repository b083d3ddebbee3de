"""The self-test behind `strop sandbox check`: does each backend run, and does it confine?

For every backend it opens it, times a trivial command, then runs one probe
script that imports numpy and scikit-learn (what evaluators need), looks for a
secret-named variable the parent passed, tries to write a file next to the
workspace, tries to reach a TCP listener this test opens on 127.0.0.1,
tries to make a user namespace (where it could mount file systems the disk watch
cannot see), and reports its uid. docker and bwrap are "working" only when every probe is
contained; local is "weak" by design when it runs at all.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.backends import BACKENDS, construct
from sandbox.execution import Limits, SandboxError

PROBE = """
import json, os, socket, sys
result = {}
try:
    import numpy, sklearn
    result["python"] = True
except Exception:
    result["python"] = False
result["secret_hidden"] = "STROP_SELFTEST_TOKEN" not in os.environ
try:
    with open(sys.argv[1], "w") as handle:
        handle.write("escaped")
    result["outside_write_blocked"] = False
except OSError:
    result["outside_write_blocked"] = True
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2).close()
    result["network_blocked"] = False
except OSError:
    result["network_blocked"] = True
result["non_root"] = os.getuid() != 0
import ctypes
result["user_namespace_blocked"] = ctypes.CDLL(None).unshare(0x10000000) != 0  # CLONE_NEWUSER
print(json.dumps(result))
"""

WEAK_BY_DESIGN = {"local"}


@dataclass
class BackendCheck:
    """What `strop sandbox check` reports for one backend."""

    name: str
    status: str  # "working", "weak", "broken" or "unavailable"
    detail: str = ""
    launch_seconds: float | None = None
    probes: dict[str, bool] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.status in ("working", "weak")


def check_backend(name: str) -> BackendCheck:
    try:
        sandbox = construct(name)
    except SandboxError as error:
        return BackendCheck(name, "unavailable", str(error))
    with tempfile.TemporaryDirectory(prefix="strop-sandbox-check-") as folder:
        workdir = Path(folder) / "workspace"
        workdir.mkdir()
        outside = Path(folder) / "outside.txt"
        limits = Limits(timeout=60, memory=2 << 30)
        started = time.monotonic()
        trivial = sandbox.run(["true"], workdir, limits)
        launch = time.monotonic() - started
        if not trivial.ok:
            return BackendCheck(name, "broken", f"`true` failed: {trivial.tail(300).strip()}", launch)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            probe = sandbox.run(
                ["python", "-c", PROBE, str(outside), str(port)],
                workdir,
                limits,
                env={"STROP_SELFTEST_TOKEN": "not-for-candidates"},
            )
    try:
        probes = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return BackendCheck(name, "broken", f"probe failed: {probe.tail(300).strip()}", launch)
    failed = sorted(key for key, value in probes.items() if not value)
    if name in WEAK_BY_DESIGN and probes.get("python") and probes.get("secret_hidden"):
        return BackendCheck(name, "weak", "runs, but not confined: " + ", ".join(failed), launch, probes)
    if failed:
        return BackendCheck(name, "broken", "failed probes: " + ", ".join(failed), launch, probes)
    memory = getattr(sandbox, "memory_enforcement", "")  # bwrap: its cgroup, or the watch and why
    return BackendCheck(
        name, "working", "all probes contained" + (f"; {memory}" if memory else ""), launch, probes
    )


def check_all(names: tuple[str, ...] = BACKENDS) -> list[BackendCheck]:
    return [check_backend(name) for name in names]
