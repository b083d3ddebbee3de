"""`strop run`, `strop log`, `strop resume`, `strop stop` as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_run_prints_progress_and_a_summary_then_log_shows_the_decisions(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t", experiments=4, on_violation="reject")
    done = strop("run", str(task))
    assert done.returncode == 0, done.stderr
    assert "started · task tiny · proposer evolve · search tournament" in done.stderr
    assert "0 ok score = -36.5" in done.stderr  # one progress line per experiment
    assert "stopped: experiment budget spent: 4 of 4" in done.stderr
    for row in ("experiment 0", "score = -36.5", "best", "final (hidden)", "branch", "strop adopt"):
        assert row in done.stdout
    run_id = done.stdout.split("run ", 1)[1].split()[0]
    log = strop("log", run_id)
    assert log.returncode == 0
    assert "· search: sample (initial sample 2 of 4)" in log.stdout
    assert "stopped: experiment budget spent: 4 of 4" in log.stdout
    again = strop("resume", run_id)
    assert again.returncode == 2 and "has already ended" in again.stderr
    fewer = strop("resume", run_id, "--experiments", "3")
    assert fewer.returncode == 2 and "already has 4 experiments" in fewer.stderr
    assert "4 of 4" in strop("log", run_id).stdout  # the refused total was not kept
    timed = strop("resume", run_id, "--time", "30s")  # ran nothing and said "done", exit 0
    assert timed.returncode == 2 and "spent its experiment budget (4 of 4)" in timed.stderr
    assert "--experiments 8" in timed.stderr
    stop = strop("stop", run_id)
    assert stop.returncode == 2 and "is not running" in stop.stderr


def test_run_json_and_user_errors(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t", experiments=2)
    done = strop("run", str(task), "--json", "--experiments", "3", "--parallel", "2")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "done" and result["experiments"] == 3
    assert result["best"]["metrics"]["score"] >= result["baseline"]["metrics"]["score"]
    bad = make_task(tmp_path / "bad", rules=["depth < 3"])
    refused = strop("run", str(bad))
    assert refused.returncode == 2 and "unknown parameter(s): depth" in refused.stderr
    assert "Traceback" not in refused.stderr
    late = strop("run", str(task), "--time", "soon")
    assert late.returncode == 2 and "--time" in late.stderr


def test_log_counts_add_up_beside_many_rejected_attempts(tmp_path: Path) -> None:
    """Rejected attempts of the offline proposer cost no evaluation: the budget line says it doesn't count them."""
    task = make_task(tmp_path / "t", experiments=3, rules=["x == -4", "n == 2", "mode == 'a'"])
    (tmp_path / "t" / "params.json").write_text(json.dumps({"x": -4.0, "n": 2, "mode": "a"}, indent=2) + "\n")
    task.write_text(
        task.read_text().replace('on_violation = "repair"', 'on_violation = "repair"\nmax_rejections = 6')
    )
    done = strop("run", str(task))  # every point is repaired to the workspace's own: identical, rejected
    assert done.returncode == 0, done.stderr
    assert "6 candidates in a row were rejected" in done.stderr
    run_id = done.stdout.split("run ", 1)[1].split()[0]
    log = strop("log", run_id)
    assert log.returncode == 0, log.stderr
    assert "experiments: 1 ok, 6 rejected (7 attempts)" in log.stdout
    assert (
        "budget: experiments: 1 of 3 (2 under, -66.7%), 6 rejected before evaluation not counted"
        in log.stdout
    )
    assert "1 ok, 6 rejected (7 attempts)" in done.stdout and "6 rejected before evaluation" in done.stdout
