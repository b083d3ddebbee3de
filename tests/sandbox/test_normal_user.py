"""strop's sandboxes as a normal user sees them: the self-test, and the causes it is told.

Run through the real entry point as a real non-root user made for the module (root
only: elsewhere these skip), not in the docker group; `nonroot.py` drops to it and, for
the bwrap cases, refuses it user namespaces the two ways a machine does.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.container import DEFAULT_SOCKET, DockerSandbox
from sandbox.execution import SandboxError

HELPER = Path(__file__).with_name("nonroot.py")
STROP = Path(sys.executable).parent / "strop"


@dataclass(frozen=True)
class Stranger:
    """A user of this machine that is not root and not in the docker group, with a folder of its own."""

    name: str
    folder: Path

    def strop(self, *args: str, mode: str = "plain") -> subprocess.CompletedProcess[str]:
        """`strop ARGS` as this user, in its workspace, with its own STROP_HOME."""
        return subprocess.run(
            [sys.executable, str(HELPER), self.name, mode, "--", str(STROP), *args],
            capture_output=True,
            text=True,
            cwd=self.folder / "workspace",
            env={"STROP_HOME": str(self.folder / "home"), "PATH": os.environ["PATH"]},
            timeout=120,
        )


@pytest.fixture(scope="module")
def stranger() -> Iterator[Stranger]:
    if os.getuid() != 0:
        pytest.skip("needs root: makes a user to run strop as (a normal user's run needs no test user)")
    name = f"strop-t{os.getpid()}"
    subprocess.run(["useradd", "--user-group", "--no-create-home", "--shell", "/bin/sh", name], check=True)
    folder = Path(tempfile.mkdtemp(prefix="strop-normal-user-"))
    try:
        for sub in ("workspace", "home"):
            (folder / sub).mkdir()
        shutil.chown(folder, name, name)
        for path in folder.iterdir():
            shutil.chown(path, name, name)
        yield Stranger(name, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["userdel", name], check=False)


def no_access_line(user: str) -> str | None:
    """What a user outside the docker socket's group is told; None where the socket is missing or open."""
    if not os.path.exists(DEFAULT_SOCKET) or os.stat(DEFAULT_SOCKET).st_mode & 0o006:
        return None
    group = grp.getgrgid(os.stat(DEFAULT_SOCKET).st_gid).gr_name
    return (
        f"no access to the docker socket {DEFAULT_SOCKET}: ask to be added to the {group} group "
        f'(`sudo usermod -aG {group} {user}`, then log in again), or use sandbox = "bwrap"'
    )


def test_check_finds_bwrap_working_for_a_normal_user(stranger: Stranger) -> None:
    """bwrap's /tmp is its own for a normal user, so a write next to the workspace succeeds inside
    and reaches nothing: the check judges by the host, not by what the write returned."""
    result = stranger.strop("sandbox", "check", "--json")
    reports = {item["name"]: item for item in json.loads(result.stdout)}
    bwrap = reports["bwrap"]
    assert bwrap["status"] == "working", bwrap
    assert bwrap["probes"]["outside_write_blocked"] is True
    assert "memory:" in bwrap["detail"]  # shown to normal users too
    assert reports["local"]["probes"]["outside_write_blocked"] is False  # the host judge still sees
    assert result.returncode == 0
    if expected := no_access_line(stranger.name):
        assert (reports["docker"]["status"], reports["docker"]["detail"]) == ("unavailable", expected)


def test_docker_permission_denied_says_join_the_group(stranger: Stranger) -> None:
    expected = no_access_line(stranger.name)
    if expected is None:
        pytest.skip(f"no docker socket at {DEFAULT_SOCKET}, or one open to every user")
    for args in (("sandbox", "run", "--backend", "docker", "--", "true"), ("sandbox", "image")):
        result = stranger.strop(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"error: {expected}"


def test_docker_socket_missing_or_dead_says_start_dockerd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{missing}")
    with pytest.raises(SandboxError) as raised:
        DockerSandbox()
    assert str(raised.value).startswith(f"the docker engine is not running (no socket at {missing}): start")
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(dead))  # a socket file nobody listens on: a dockerd that died
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    with pytest.raises(SandboxError, match=f"is not running \\(nothing listens on {dead}\\)"):
        DockerSandbox()


def test_bwrap_without_user_namespaces_names_the_sysctl(stranger: Stranger) -> None:
    """max_user_namespaces = 0: bwrap is refused with the cause and its fix, not run as if
    `true` had failed, and `auto`'s fall to local says why each stronger one did not open."""
    named = stranger.strop("sandbox", "run", "--backend", "bwrap", "--", "true", mode="off")
    assert named.returncode == 2, named.stderr
    assert named.stderr.strip().startswith(
        "error: bwrap needs a user namespace, and normal users may not make one here "
        "(user.max_user_namespaces = 0): an administrator can allow them "
        "(`sudo sysctl -w user.max_user_namespaces=15000`)"
    )
    auto = stranger.strop("sandbox", "run", "--", "true", mode="off")
    assert auto.returncode == 0, auto.stderr
    assert "Install docker.io or bubblewrap" not in auto.stderr
    assert "bwrap: bwrap needs a user namespace" in auto.stderr
    assert "[local] exit 0" in auto.stderr


def test_bwrap_refused_a_namespace_by_an_enclosing_limit_says_so(stranger: Stranger) -> None:
    """The sysctl says yes, an enclosing namespace's limit says no: bwrap fails before the
    sandbox exists, and the run says that, with bwrap's own line, rather than exit 1."""
    result = stranger.strop("sandbox", "run", "--backend", "bwrap", "--", "true", mode="nested")
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        "error: bwrap needs a user namespace, and normal users may not make one here "
        "(a limit of this machine or of a container it runs in): an administrator can lift it, "
        'or use sandbox = "docker"'
    )
    assert "[bwrap: Creating new namespace failed" in line
    assert "[bwrap] exit" not in result.stderr


NO_CGROUP_RUN = """
import json
from pathlib import Path
from sandbox.bubblewrap import BwrapSandbox
from sandbox.cputime import cpu_support
from sandbox.execution import Limits
from sandbox.memory import cgroup_support
ran = BwrapSandbox().run(["true"], Path.cwd(), Limits(timeout=20))
why = cpu_support(cgroup_support())
print(json.dumps({"ok": ran.ok, "cpu_complete": ran.cpu_complete, "notes": ran.notes,
                  "why": why if isinstance(why, str) else None}))
"""


def test_bwrap_for_a_normal_user_gives_no_cpu_time_without_a_cgroup(stranger: Stranger) -> None:
    """A normal user may make no cgroup (here, as on most machines): bwrap's CPU time is then
    rusage's, which misses a worker left running, so it is not given (`$STROP_RUN_STATS`: null),
    and the notes say why. Where one was delegated to them, it is the cgroup's, whole."""
    result = subprocess.run(
        [sys.executable, str(HELPER), stranger.name, "plain", "--", sys.executable, "-c", NO_CGROUP_RUN],
        capture_output=True,
        text=True,
        cwd=stranger.folder / "workspace",
        env={"STROP_HOME": str(stranger.folder / "home"), "PATH": os.environ["PATH"]},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    assert ran["ok"], ran
    if ran["why"] is None:
        assert ran["cpu_complete"] is True, ran
        return
    assert ran["cpu_complete"] is False, ran
    note = f"cpu time: the processes waited for only, not one left running (no cgroup: {ran['why']})"
    assert note in ran["notes"], ran["notes"]
