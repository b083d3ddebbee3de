"""What a stopped or killed strop leaves on the host: no candidate process, no container.

A candidate that sleeps and forks a child ignoring SIGHUP and SIGTERM, run by a driver
process through each backend; the driver is then sent SIGTERM (strop's handler stops its
sandboxes on the way out) or SIGKILL (no code of strop runs: each backend's own switch).
Measured before the fix: after either signal, the candidate and its child ran on under
local and bwrap (as root: bwrap could not signal a pid 1 of the sandbox user), and under
docker the container ran on until its time limit plus a minute.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandbox.execution import Limits, Sandbox
from sandbox.stopping import Stopped, stop_all
from tests.sandbox.support import ALL, require_backend

ROOT = Path(__file__).resolve().parents[2]

CANDIDATE = """
import signal, subprocess, sys, time
child = "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)  # {token}"
subprocess.Popen([sys.executable, "-c", child])
open("started", "w").write("yes")
time.sleep(120)  # {token}
"""

DRIVER = """
import sys
from pathlib import Path
from agent.loop.interrupts import noticed_interrupts
from sandbox.backends import construct
from sandbox.execution import Limits

backend, workdir, code = sys.argv[1:4]
box = construct(backend)
with noticed_interrupts():
    box.run(["python", "-c", code], Path(workdir), Limits(timeout=100))
"""


def _with_token(token: str) -> list[int]:
    """The host's processes whose command line holds `token` (containers' included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _gone(token: str, within: float) -> list[int]:
    """Wait up to `within` seconds for no process to hold `token`; those left."""
    deadline = time.monotonic() + within
    while (left := _with_token(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _containers(owner: int) -> list[str]:
    import docker

    client = docker.from_env()
    return [c.id for c in client.containers.list(all=True, filters={"label": f"strop.pid={owner}"})]


def _start(backend: str, workdir: Path, token: str) -> subprocess.Popen[bytes]:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, backend, str(workdir), CANDIDATE.format(token=token)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while not (workdir / "started").exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (workdir / "started").exists(), driver.communicate(timeout=30)[1].decode()[-2000:]
    time.sleep(0.5)  # the child is forked and sleeping
    assert len(_with_token(token)) >= 2
    return driver


@pytest.mark.parametrize("backend", ALL)
def test_sigterm_stops_the_candidate_and_its_child(backend: str, workdir: Path) -> None:
    require_backend(backend)
    token = f"strop-leftover-{uuid.uuid4().hex}"
    driver = _start(backend, workdir, token)
    try:
        driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=30)
        left = _gone(token, within=3)
        assert code == -signal.SIGTERM, driver.communicate()[1].decode()[-2000:]
        assert left == [], f"candidate processes left after SIGTERM: {left}"
        if backend == "docker":
            assert _containers(driver.pid) == [], "the container outlived strop's SIGTERM"
    finally:
        _kill_all(_with_token(token))


@pytest.mark.parametrize("backend", ALL)
def test_sigkill_leaves_no_candidate_running(backend: str, workdir: Path) -> None:
    """Under local and bwrap the candidate dies with strop; under docker (no code runs, no
    parent-death signal reaches a container) the next `DockerSandbox` removes it."""
    require_backend(backend)
    token = f"strop-leftover-{uuid.uuid4().hex}"
    driver = _start(backend, workdir, token)
    try:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        if backend == "docker":
            from sandbox.container import DockerSandbox

            assert _containers(driver.pid), "expected the killed strop's container to be there until reaped"
            DockerSandbox()  # what the next strop start does
            assert _containers(driver.pid) == []
        left = _gone(token, within=5)
        assert left == [], f"candidate processes left after SIGKILL: {left}"
    finally:
        _kill_all(_with_token(token))


@pytest.mark.parametrize("backend", ALL)
def test_stop_all_ends_a_command_run_by_another_thread(backend: str, workdir: Path) -> None:
    """A lane's evaluation in a thread: `stop_all` ends it within a tick, and it raises `Stopped`
    (a command strop cut is no verdict) instead of returning an Execution."""
    box: Sandbox = require_backend(backend)
    token = f"strop-leftover-{uuid.uuid4().hex}"
    outcome: list[object] = []

    def lane() -> None:
        try:
            outcome.append(
                box.run(["python", "-c", CANDIDATE.format(token=token)], workdir, Limits(timeout=100))
            )
        except BaseException as error:  # noqa: BLE001 - the test reads it
            outcome.append(error)

    thread = threading.Thread(target=lane, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while not (workdir / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        started = time.monotonic()
        assert stop_all() >= 1
        thread.join(timeout=20)
        assert not thread.is_alive() and time.monotonic() - started < 10
        assert len(outcome) == 1 and isinstance(outcome[0], Stopped), outcome
        assert _gone(token, within=3) == []
    finally:
        _kill_all(_with_token(token))
