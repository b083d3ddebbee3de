"""Crash safety: SIGKILL the runner at random moments, resume, and find the run whole.

Each test starts `strop run` as a real process, kills it with SIGKILL at a random
moment (seeded), resumes with `strop resume` (killed again, a few times), lets the
last resume finish, and audits: ids 0..N-1 with none pending, exactly the budget
evaluated, index equal to git, `git fsck` clean, no worktree, lock file or held lock.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.home import strop_home
from agent.loop.audit import audit_run
from agent.run_index import RunIndex

from .conftest import make_task

STROP = [sys.executable, "-c", "from agent.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [*STROP, *args, "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _run_id(home: Path) -> str | None:
    runs = home / "runs"
    found = [p.name for p in runs.iterdir() if (p / "run.log").exists()] if runs.exists() else []
    return found[0] if found else None


def _starts(folder: Path) -> int:
    log = folder / "run.log"
    return log.read_text().count('"RunStarted"') if log.exists() else 0


def _kill_inside_loop(process: subprocess.Popen[bytes], folder: Path, before: int, delay: float) -> bool:
    """SIGKILL `process` `delay` seconds after its loop started (the run log's start #`before + 1`)."""
    while _starts(folder) == before and process.poll() is None:
        time.sleep(0.01)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


@pytest.mark.parametrize(
    ("seed", "parallel", "schedule"), [(11, 1, "batch"), (23, 2, "batch"), (31, 2, "async")]
)
def test_sigkill_at_random_points_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, seed: int, parallel: int, schedule: str
) -> None:
    rng = random.Random(seed)
    # Slow enough that three kills at most 0.6 s into a start always land before the run ends.
    task = make_task(
        tmp_path / "t", experiments=10, parallel=parallel, sleep=0.5, seed=seed, schedule=schedule
    )
    home = strop_home()
    process = _spawn(["run", str(task)])
    while _run_id(home) is None and process.poll() is None:  # wait for the run to exist
        time.sleep(0.02)
    run_id = _run_id(home)
    assert run_id, process.communicate()[1].decode()[-2000:]
    folder = home / "runs" / run_id
    kills = 0
    for attempt in range(3):
        if _kill_inside_loop(process, folder, attempt, rng.uniform(0.0, 0.6)):
            kills += 1
        process = _spawn(["resume", run_id])
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode()[-2000:]
    assert kills == 3  # each kill landed inside the loop, before the run ended
    problems = audit_run(run_id, home, RunIndex(home), evaluated=10)
    assert problems == [], "\n".join([*problems, out.decode()[-3000:], err.decode()[-3000:]])
