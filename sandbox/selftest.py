"""The self-test behind `strop sandbox check`: does each backend run, and does it confine?

For every backend it opens it, times a trivial command, then runs one probe
script that imports numpy and scikit-learn (what evaluators need), looks for a
secret-named variable the parent passed, tries to overwrite a file next to the
workspace and to create another there, tries to reach a TCP listener this test opens
on 127.0.0.1, tries to make a user namespace (where it could mount file systems the disk
watch cannot see), and reports its uid. docker and bwrap are "working" only when every probe
is contained; local is "weak" by design when it runs at all.

The writes are judged on the host, after the run: inside the sandbox the path may well be
writable (a normal user's bwrap has a /tmp of its own, on which the workspace's parent
folders are made), and a write that lands there reaches nothing.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.backends import BACKENDS, construct
from sandbox.execution import Execution, Limits, Sandbox, SandboxError

PROBE = """
import json, os, socket, sys
result = {}
try:
    import numpy, sklearn
    result["python"] = True
except Exception:
    result["python"] = False
result["secret_hidden"] = "STROP_SELFTEST_TOKEN" not in os.environ
for path in sys.argv[1:3]:  # judged on the host: see `outside_untouched`
    try:
        with open(path, "w") as handle:
            handle.write("escaped")
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=2).close()
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


OUTSIDE_TEXT = "the host's own file\n"


def outside_untouched(existing: Path, new: Path) -> bool:
    """Whether the host still holds `existing` as it was and no `new`: the sandbox wrote neither."""
    return not new.exists() and existing.read_text() == OUTSIDE_TEXT


def check_backend(name: str) -> BackendCheck:
    try:
        sandbox = construct(name)
        return _self_test(name, sandbox)
    except SandboxError as error:  # cannot start, or cannot make a sandbox (bwrap without user namespaces)
        return BackendCheck(name, "unavailable", str(error))


def _self_test(name: str, sandbox: Sandbox) -> BackendCheck:
    with tempfile.TemporaryDirectory(prefix="strop-sandbox-check-") as folder:
        workdir = Path(folder) / "workspace"
        workdir.mkdir()
        existing, new = Path(folder) / "outside.txt", Path(folder) / "outside-new.txt"
        existing.write_text(OUTSIDE_TEXT)
        # As root the sandbox runs as a uid of its own: were the host's folder visible inside
        # (it must not be), that uid could reach the file and overwrite it.
        Path(folder).chmod(0o711)
        existing.chmod(0o666)
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
                ["python", "-c", PROBE, str(existing), str(new), str(port)],
                workdir,
                limits,
                env={"STROP_SELFTEST_TOKEN": "not-for-candidates"},
            )
        untouched = outside_untouched(existing, new)
    try:
        probes = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return BackendCheck(name, "broken", f"probe failed: {probe.tail(300).strip()}", launch)
    probes["outside_write_blocked"] = untouched
    failed = sorted(key for key, value in probes.items() if not value)
    if name in WEAK_BY_DESIGN and probes.get("python") and probes.get("secret_hidden"):
        return BackendCheck(name, "weak", "runs, but not confined: " + ", ".join(failed), launch, probes)
    if failed:
        return BackendCheck(name, "broken", "failed probes: " + ", ".join(failed), launch, probes)
    memory = getattr(sandbox, "memory_enforcement", "")  # bwrap: its cgroup, or the watch and why
    said = "; ".join(part for part in ("all probes contained", memory, _cpu_counting(trivial)) if part)
    return BackendCheck(name, "working", said, launch, probes)


def _cpu_counting(execution: Execution) -> str:
    """How the backend counts CPU time (`$STROP_RUN_STATS` gives it only when whole), in words."""
    return next((note for note in execution.notes if note.startswith("cpu time:")), "")


def check_all(names: tuple[str, ...] = BACKENDS) -> list[BackendCheck]:
    return [check_backend(name) for name in names]
