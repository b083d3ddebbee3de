"""A task's `env` reaches the sandboxed command and no process of the launcher's.

`env = { LD_PRELOAD = "./evil.so" }` once became the host bwrap's own environment: bwrap
loaded the task's library as root, outside any sandbox. The glibc loader writes one log per
process that carries `LD_DEBUG` to `LD_DEBUG_OUTPUT.PID`; with that path in the workspace
(bound at its host path), a log shows every process that got the task's variables: bwrap's
own on the host, and inside the sandbox `timeout`, `setpriv` or `prlimit` (as root, `timeout`
holds capabilities: a library loaded into it could skip the drop to the sandbox user).
"""

from __future__ import annotations

import re
from pathlib import Path

from evaluators.held import HeldRun
from sandbox.execution import Limits
from tests.sandbox.support import require_backend

LAUNCHER = re.compile(r"needed by (?:\S*/)?(bwrap|timeout|setpriv|prlimit|env) \[")
"""A loader line of a launcher's process (`env` sets the command's variables, so it must not hold them)."""


def _loader_env(workdir: Path) -> dict[str, str]:
    logs = workdir / "loader"
    logs.mkdir()
    return {"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(logs / "log"), "STROP_PROBE": "seen"}


def _programs_logged(workdir: Path) -> str:
    """What the loader logged, every process's together (empty where no process had LD_DEBUG)."""
    return "".join(log.read_text(errors="replace") for log in sorted((workdir / "loader").glob("log.*")))


def _launchers_reached(logged: str) -> list[str]:
    return sorted(set(LAUNCHER.findall(logged)))


def test_the_task_env_reaches_the_command_and_no_launcher(workdir: Path) -> None:
    box = require_backend("bwrap")
    command = ["/bin/sh", "-c", 'printf "%s %s" "$STROP_PROBE" "$LD_DEBUG"; /bin/true']
    result = box.run(command, workdir, Limits(timeout=20), env=_loader_env(workdir))
    logged = _programs_logged(workdir)
    assert _launchers_reached(logged) == [], "the task's environment reached a process of the launcher's"
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == "seen files", "the command must still see the task's variables"
    assert "needed by /bin/true" in logged, "the command's own processes load with the task's variables"


def test_a_held_command_sees_the_task_env_and_no_launcher_does(workdir: Path) -> None:
    """Held (`sandbox.gate`): the door and the libraries it loads before opening see the task's env."""
    box = require_backend("bwrap")
    (workdir / "probe.py").write_text("import os\nprint(os.environ['STROP_PROBE'])\n")
    env = _loader_env(workdir)
    held = HeldRun(box, ["python", "probe.py"], workdir, Limits(timeout=20), env, [], max_wait=30)
    result = held.open(20)
    logged = _programs_logged(workdir)
    assert _launchers_reached(logged) == [], "the task's environment reached a process of the launcher's"
    assert result is not None and result.exit_code == 0, result
    assert result.stdout.strip() == "seen"
