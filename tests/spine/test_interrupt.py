"""Ctrl-C during `strop run`: one line naming the run and `strop resume`, the run listed as
interrupted (not "running"), and the resume finishing it with nothing lost.

Typer turned a KeyboardInterrupt into a silent exit 130, and `strop runs` and `strop log`
kept calling the dead run "running", so a user had no word of what to do next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SLOW = (
    "import json, time\n"
    "p = json.load(open('params.json'))\n"
    "time.sleep(1.5)\n"
    "print(json.dumps({'loss': (p['x'] - 0.7) ** 2}))\n"
)

TASK = """[task]
name = "ctrl-c"
goal = "minimise loss"
workspace = "ws"

[evaluator]
command = "python bench.py"
metric = "loss"
direction = "minimize"
timeout = "30s"
sandbox = "local"

[budget]
experiments = 4

[space]
x = { type = "float", low = 0.0, high = 1.0 }

[knowledge]
memory = false
"""


def strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=environ, timeout=180
    )


def _interrupted_run(tmp_path: Path, home: Path) -> tuple[int, str]:
    """Start `strop run`, press Ctrl-C (SIGINT) once experiment 0 is done; its exit status and stderr."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "bench.py").write_text(SLOW)
    (tmp_path / "ws" / "params.json").write_text('{"x": 0.1}')
    (tmp_path / "task.toml").write_text(TASK)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "STROP_HOME": str(home)},
        )
        deadline = time.monotonic() + 120
        while "  0 " not in stderr.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    return code, stderr.read_text()


def test_ctrl_c_names_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, text = _interrupted_run(tmp_path, home)
    run = json.loads(strop(home, "runs", "--json").stdout)[0]
    assert code == 130, text
    assert f"interrupted: run {run['id']} stops here; `strop resume {run['id']}` continues it" in text
    assert "Traceback" not in text
    assert run["status"] == "running" and run["interrupted"] is True
    assert "interrupted" in strop(home, "runs").stdout
    log = strop(home, "log", run["id"]).stdout
    assert f"`strop resume {run['id']}` continues it" in log and " · interrupted" in log

    resumed = strop(home, "resume", run["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "done" and result["experiments"] == 4
    after = json.loads(strop(home, "log", run["id"], "--json").stdout)
    assert after["interrupted"] is False and [e["id"] for e in after["experiments"]] == [0, 1, 2, 3]
    assert all(e["status"] == "ok" for e in after["experiments"])


INTERRUPTED_IMPORT = """
import builtins, sys
real = builtins.__import__
def interrupted(name, *args, **kwargs):
    if name == "typer":  # what `agent.cli` imports first: a Ctrl-C lands there in a real start
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = interrupted
sys.argv = ["strop", "--help"]
from agent.launcher import main
main()
"""


def test_a_ctrl_c_while_the_command_line_loads_is_one_line() -> None:
    """The console script's first fraction of a second imports typer, rich and every command group;
    a Ctrl-C there printed a page of import-machinery traceback."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "interrupted\n" and done.stdout == ""
    from importlib.metadata import entry_points

    assert entry_points(group="console_scripts")["strop"].value == "agent.launcher:main"


CTRL_C_AS_THE_RUN_IS_SET_UP = """
import sys
import agent.loop.graph as graph

def interrupted(*args, **kwargs):  # the Ctrl-C lands while the loop is set up (model, evaluator snapshot)
    raise KeyboardInterrupt

graph._drive = interrupted
sys.argv = ["strop", "run", sys.argv[1]]
from agent.cli import main
main()
"""


def test_a_ctrl_c_as_the_run_is_set_up_names_the_run(tmp_path: Path) -> None:
    """The run's record exists before the loop is set up (a second or more: the model, the evaluator's
    snapshot); a Ctrl-C then said "no run was started" of a run that `strop resume` continues."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "bench.py").write_text(SLOW)
    (tmp_path / "ws" / "params.json").write_text('{"x": 0.1}')
    (tmp_path / "task.toml").write_text(TASK)
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AS_THE_RUN_IS_SET_UP, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "STROP_HOME": str(home)},
        timeout=120,
    )
    assert done.returncode == 130, done.stderr
    [run] = json.loads(strop(home, "runs", "--json").stdout)
    assert f"interrupted: run {run['id']} stops here; `strop resume {run['id']}` continues it" in done.stderr
