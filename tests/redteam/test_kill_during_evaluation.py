"""SIGKILL in the middle of a sandboxed evaluation, then `strop resume`: nothing lost, nothing doubled.

The reported failure: the lane had been handed to the sandbox user for the evaluation
and was never given back, so host git refused it ("dubious ownership") on resume.
Candidates now run on a throwaway export; this kills strop's whole process group while
an export is being evaluated (on docker, bwrap and local), resumes, and audits the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.home import strop_home
from agent.loop.audit import audit_run
from agent.run_index import RunIndex
from tests.redteam.conftest import HostileTask

ROOT = Path(__file__).resolve().parents[2]
SLOW_TRAIN = """
import json, os, time
from pathlib import Path
data = json.loads((Path(os.environ["STROP_PUBLIC"]) / "data.json").read_text())
majority = int(sum(y for _, y in data["train"]) * 2 > len(data["train"]))
time.sleep(1.5)
(Path(os.environ["STROP_OUTPUTS"]) / "predictions.json").write_text(
    json.dumps({s: [majority] * len(data[s]) for s in ("validation", "test")}))
"""


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", *args, "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _evaluating(home: Path) -> str | None:
    """The run id once one of its evaluations is in progress (an export exists), else None."""
    for work in home.glob("runs/*/scratch/*/work"):
        return work.parents[2].name
    return None


def test_sigkill_during_an_evaluation_then_resume(any_backend_task: HostileTask) -> None:
    hostile = any_backend_task
    hostile.attack(SLOW_TRAIN)
    home = strop_home()
    process = _spawn("run", str(hostile.task), "-n", "4")
    deadline = time.monotonic() + 120
    run_id = None
    while run_id is None and process.poll() is None and time.monotonic() < deadline:
        run_id = _evaluating(home)
        time.sleep(0.02)
    assert run_id, process.communicate()[1].decode()[-2000:]
    time.sleep(0.5)  # well inside stage run (it sleeps 1.5 s)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    resumed = _spawn("resume", run_id)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-3000:]
    problems = audit_run(run_id, home, RunIndex(home), evaluated=4)
    assert problems == [], "\n".join([*problems, out.decode()[-2000:], err.decode()[-2000:]])
    assert not list(home.glob("runs/*/scratch/*")), "an evaluation folder was left behind"
    assert not hostile.marker.exists()
