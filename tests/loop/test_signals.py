"""SIGTERM and SIGHUP stop `strop run` the way Ctrl-C does, and the process still ends by the signal.

Before, a SIGTERM (`kill`, systemd, `docker stop`, a CI timeout) ended `strop run` like a
SIGKILL: status -15 with no word of the run or of `strop resume`, and the candidate being
evaluated (and any child of it) ran on. Now: the resume line on stderr, the run listed as
interrupted, the candidate's processes gone, the status still -15 (`agent.nightly.runner`
reads it), and `strop resume` finishes the run with nothing lost or done twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.loop.audit import audit_run
from agent.run_index import RunIndex

ROOT = Path(__file__).resolve().parents[2]

# experiment 0 (x = 0.1) takes `SLOW` seconds, the others `FAST`; each forks a child that
# ignores SIGHUP and SIGTERM, and leaves "<pid> <child pid>" in the marks folder
BENCH = """
import json, os, signal, subprocess, sys, time
p = json.load(open("params.json"))
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
with open(os.path.join(os.environ["MARKS"], str(os.getpid())), "w") as mark:
    mark.write(f"{os.getpid()} {child.pid}")
time.sleep(float(os.environ["SLOW" if p["x"] == 0.1 else "FAST"]))
print(json.dumps({"loss": (p["x"] - 0.7) ** 2}))
"""

TASK = """[task]
name = "signals"
goal = "minimise loss"
workspace = "ws"

[evaluator]
command = "python bench.py"
metric = "loss"
direction = "minimize"
timeout = "60s"
sandbox = "local"
env = {{ MARKS = "{marks}", SLOW = "{slow}", FAST = "{fast}" }}

[budget]
experiments = {experiments}

[search]
parallel = {parallel}
schedule = "{schedule}"

[space]
x = {{ type = "float", low = 0.0, high = 1.0 }}

[knowledge]
memory = false
"""


def _task(
    tmp_path: Path, slow: float, fast: float, experiments: int = 3, parallel: int = 1, schedule: str = "batch"
) -> Path:
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "bench.py").write_text(BENCH)
    (tmp_path / "ws" / "params.json").write_text('{"x": 0.1}')
    text = TASK.format(
        marks=marks, slow=slow, fast=fast, experiments=experiments, parallel=parallel, schedule=schedule
    )
    (tmp_path / "task.toml").write_text(text)
    return marks


def _strop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=environ, timeout=180
    )


def _candidates(marks: Path) -> list[int]:
    return [int(pid) for mark in marks.iterdir() for pid in mark.read_text().split()]


def _alive(pids: list[int], within: float = 3.0) -> list[int]:
    """Those of `pids` still running after up to `within` seconds (a zombie is not running)."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                alive.append(pid)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def _signalled(
    tmp_path: Path, home: Path, signum: int, marks: Path, evaluations: int, command: str = "run"
) -> tuple[int, str, float]:
    """Start `strop COMMAND` (run, eval), send `signum` once `evaluations` candidates have started;
    status, stderr, seconds to end."""
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", command, str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)},
            start_new_session=True,  # as under systemd or a CI runner: no terminal sends it anything
        )
        deadline = time.monotonic() + 120
        while len(list(marks.iterdir())) < evaluations and process.poll() is None:
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the evaluation
        sent = time.monotonic()
        process.send_signal(signum)
        code = process.wait(timeout=60)
    return code, stderr.read_text(), time.monotonic() - sent


def _cleanup(marks: Path) -> None:
    for pid in _alive(_candidates(marks), within=0):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_mid_evaluation_stops_the_run_as_ctrl_c_does(tmp_path: Path, signum: int) -> None:
    home = tmp_path / "home"
    marks = _task(tmp_path, slow=4.0, fast=0.2)
    try:
        code, text, _ = _signalled(tmp_path, home, signum, marks, evaluations=1)
        left = _alive(_candidates(marks))
    finally:
        _cleanup(marks)
    run = json.loads(_strop(home, "runs", "--json").stdout)[0]
    assert code == -signum, text
    assert f"interrupted: run {run['id']} stops here; `strop resume {run['id']}` continues it" in text
    assert "Traceback" not in text
    assert left == [], f"the candidate outlived strop: {left}"
    assert run["status"] == "running" and run["interrupted"] is True

    resumed = _strop(home, "resume", run["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "done" and result["experiments"] == 3
    problems = audit_run(run["id"], home, RunIndex(home), evaluated=3)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("schedule", ["batch", "async"])
def test_sigterm_stops_the_lanes_evaluating_in_other_threads(tmp_path: Path, schedule: str) -> None:
    """With --parallel 2 the evaluations run in threads: they are stopped at once, not waited for."""
    home = tmp_path / "home"
    marks = _task(tmp_path, slow=0.2, fast=40.0, experiments=3, parallel=2, schedule=schedule)
    try:
        code, text, seconds = _signalled(tmp_path, home, signal.SIGTERM, marks, evaluations=3)
        left = _alive(_candidates(marks))
    finally:
        _cleanup(marks)
    assert code == -signal.SIGTERM, text
    assert "interrupted: run " in text and "Traceback" not in text
    assert seconds < 15, f"strop took {seconds:.1f}s to stop"
    assert left == [], f"candidates outlived strop: {left}"
    run = json.loads(_strop(home, "runs", "--json").stdout)[0]
    log = json.loads(_strop(home, "log", run["id"], "--json").stdout)
    assert [e["status"] for e in log["experiments"] if e["id"] > 0] in ([], ["pending", "pending"]), log


INNER = """
import os, signal, sys, time
from agent.loop.interrupts import noticed_interrupts
if sys.argv[1] == "ignored":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
try:
    with noticed_interrupts():
        os.kill(os.getpid(), signal.SIGHUP if sys.argv[1] == "ignored" else signal.SIGTERM)
        time.sleep(5)
        print("went on", flush=True)
except KeyboardInterrupt:
    print("caught", flush=True)
"""


def test_a_loop_without_a_command_handler_still_ends_by_sigterm() -> None:
    """`strop mle run` and a nightly job run the loop with SIGTERM at its default: it ends by it."""
    done = subprocess.run(
        [sys.executable, "-c", INNER, "default"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == -signal.SIGTERM and "caught" not in done.stdout, done


def test_an_ignored_sighup_stays_ignored() -> None:
    """`nohup strop run`: the SIGHUP of a closed terminal does not stop the run."""
    done = subprocess.run(
        [sys.executable, "-c", INNER, "ignored"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0 and "went on" in done.stdout, done


HELD = """
import os, signal, sys, time
from pathlib import Path
from agent.loop.interrupts import held_interrupts, stop_signals
path, signum = Path(sys.argv[1]), int(sys.argv[2])
try:
    with stop_signals():
        with held_interrupts():
            os.kill(os.getpid(), signum)
            time.sleep(0.3)  # the signal has arrived: a file written now must still be written whole
            path.write_text("whole")
        print("went on", flush=True)
except KeyboardInterrupt as interrupt:
    print(f"{type(interrupt).__name__} after the file was {path.read_text()}", flush=True)
"""


@pytest.mark.parametrize(
    ("signum", "raised"),
    [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_held_stop_signal_waits_for_the_write_then_stops(tmp_path: Path, signum: int, raised: str) -> None:
    """`held_interrupts`: an evolve command's output files are whole or absent, never half written."""
    done = subprocess.run(
        [sys.executable, "-c", HELD, str(tmp_path / "out.txt"), str(int(signum))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0 and done.stdout == f"{raised} after the file was whole\n", done


def test_sigterm_stops_strop_eval_and_its_evaluation(tmp_path: Path) -> None:
    """`strop eval` died at once on SIGTERM or SIGHUP, with no word, and the evaluation ran on
    (a docker container for seconds; on local the candidate and its child to their end)."""
    marks = _task(tmp_path, slow=30, fast=30)
    try:
        code, stderr, _ = _signalled(tmp_path, tmp_path / "home", signal.SIGTERM, marks, 1, command="eval")
        assert code == -signal.SIGTERM, stderr
        assert "interrupted: run " in stderr and "before experiment 0 was scored" in stderr, stderr
        assert _alive(_candidates(marks)) == [], "the candidate and its child outlived strop eval"
    finally:
        _cleanup(marks)
