"""`strop stop` of a run nobody runs, and a `stop` file its next resume must not obey.

A killed run still reads "running" in the index. `strop stop` used to answer "asked run … to
stop" (exit 0) and leave a `stop` file, and the next `strop resume` then stopped at once,
running only the final phase. A stop file written before a resume took the run's lock was
meant for a process that is gone; one written after is a real request, and is obeyed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.home import strop_home
from agent.loop import ExperimentFinished, request_stop
from agent.loop.audit import audit_run
from agent.loop.graph import resume_run
from agent.run_index import RunIndex

from .conftest import make_task
from .test_crash_points import ROOT, _strop


def _killed_run(tmp_path: Path, experiments: int = 4) -> str:
    """A run SIGKILLed after its second experiment's note: the index still says it runs."""
    task = make_task(tmp_path / "t", experiments=experiments)
    assert _strop(["run", str(task)], tmp_path, kill=("notes --ref=strop add", 3, "after")) == -signal.SIGKILL
    run = RunIndex(strop_home()).runs()[0]
    assert run.status == "running"
    return run.id


def test_stop_of_a_run_whose_process_is_gone_says_so_and_writes_nothing(tmp_path: Path) -> None:
    run_id = _killed_run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", "stop", run_id],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: run {run_id} is not running (its process is gone): nothing to stop; "
        f"`strop resume {run_id}` continues it"
    ]
    assert not (strop_home() / "runs" / run_id / "stop").exists()


def test_a_stop_file_older_than_the_resume_does_not_stop_it(tmp_path: Path) -> None:
    """Left by an older strop, or asked of a driver killed before it read it: the resume goes on."""
    run_id = _killed_run(tmp_path)
    stop = strop_home() / "runs" / run_id / "stop"
    stop.write_text("stop requested\n")
    os.utime(stop, (time.time() - 5, time.time() - 5))
    assert _strop(["resume", run_id], tmp_path) == 0
    run = RunIndex(strop_home()).find_run(run_id)
    assert run.status == "done" and "on request" not in run.stop_reason, run.stop_reason
    assert audit_run(run_id, strop_home(), RunIndex(strop_home()), evaluated=4) == []


def test_a_stop_asked_of_a_resumed_run_still_stops_it(tmp_path: Path) -> None:
    run_id = _killed_run(tmp_path, experiments=30)
    index = RunIndex(strop_home())

    def stop_at_the_first(event: object) -> None:
        if isinstance(event, ExperimentFinished):
            request_stop(run_id, index)

    result = resume_run(run_id, strop_home(), index, sink=stop_at_the_first)
    assert result.status == "stopped" and result.stop_reason == "stopped on request (strop stop)"
    assert len(result.records) < 30
