"""What `strop nightly run` tells cron: a night that did nothing or had a job fail is not exit 0,
and a job the window left no time to start is not used up for the night.

Before, `--window 1s` recorded every due job `stopped` ("the window closed before this job
could start") and exited 0: the next nightly of the same night said "nothing is due". A job that
failed exited 0 as well. Real `strop nightly run` and `list` processes, real task runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.nightly.history import History
from tests.nightly.test_nights import finish, nightly
from tests.ui.conftest import make_live_task

NOW = ("--now", "2026-12-01T02:10")

TWO_JOBS = """
[jobs.first]
task = "live"
schedule = "0 2 * * *"
budget = { experiments = 1000 }

[jobs.second]
task = "live"
schedule = "0 2 * * *"
"""


def listed(jobs: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "nightly", "list", "--jobs", str(jobs), "--json", *NOW],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {line["name"]: line for line in json.loads(done.stdout)}


def test_a_window_too_short_for_any_job_is_refused_up_front_and_uses_up_nothing(
    tmp_path: Path, isolated_home: Path
) -> None:
    make_live_task(tmp_path / "live", experiments=2)
    (tmp_path / "jobs.toml").write_text(TWO_JOBS)
    for window in ("1s", "25s"):  # 25 s: 3 s to close and 2.5 s of stop grace leave under 20 s
        code, out, err = finish(
            nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--window", window, *NOW)
        )
        assert code == 2, (code, out, err)
        assert err.startswith(f"error: a window of {window} cannot fit a job: "), err
        assert "leave less than the 20s a job needs; give --window 30s or more" in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert History(isolated_home).nights() == []  # no night recorded: nothing used up
    assert {name: line["due"] for name, line in listed(tmp_path / "jobs.toml").items()} == {
        "first": "due",
        "second": "due",
    }


def test_a_job_the_window_leaves_no_time_to_start_stays_due(tmp_path: Path, isolated_home: Path) -> None:
    """The first job takes the whole window (1000 experiments of 1 s each); the second, one at a time,
    finds under 20 s left: it is not started, not recorded, and still due for a later nightly."""
    make_live_task(tmp_path / "live", experiments=1000, sleep=1.0)
    (tmp_path / "jobs.toml").write_text(TWO_JOBS)
    code, out, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--window", "30s", *NOW))
    assert code == 0, (out, err)  # the first job ran: the night did something
    assert "second: not started · the window closes too soon; still due" in out, out
    (first,) = History(isolated_home).nights()
    assert first.job == "first" and first.status in ("done", "stopped") and first.run, first
    lines = listed(tmp_path / "jobs.toml")
    assert (lines["first"]["due"], lines["second"]["due"]) == ("", "due")


FAILING = """
[jobs.m]
kind = "run"
task = "nope.toml"
schedule = "0 2 * * *"
"""


def test_a_failed_job_is_exit_1_and_the_listing_warns_of_its_missing_task(tmp_path: Path) -> None:
    (tmp_path / "jobs.toml").write_text(FAILING)
    code, out, err = finish(nightly("list", "--jobs", str(tmp_path / "jobs.toml"), *NOW))
    assert code == 0, err  # a warning: the file loads, the task may yet be written
    assert f"nightly: warning: m: no such task file {tmp_path / 'nope.toml'}" in err, err
    code, out, err = finish(nightly("run", "--jobs", str(tmp_path / "jobs.toml"), "--window", "60s", *NOW))
    assert code == 1, (code, out, err)
    assert out.startswith("m: failed") and "no such task file" in out, out
    shown = finish(nightly("run", "--help"))[1]
    assert "1 when a job failed" in " ".join(shown.split()), shown


def test_a_failed_job_is_said_by_its_error_line_not_a_warning_after_it() -> None:
    """Its last stderr line was the reason: a run job read "failed: warning: this task's evaluator
    runs in one stage…", a warning, while the error it died of was printed before it."""
    from agent.nightly.runner import _why_failed

    lines = [
        "warning: this task's evaluator runs in one stage\n",
        "error: task t: the workspace /x does not exist\n",
        "warning: something printed on the way out\n",
    ]
    assert _why_failed(lines, 2) == "task t: the workspace /x does not exist"
    assert _why_failed(["Traceback (most recent call last):\n", "ValueError: bad\n"], 1) == "ValueError: bad"
    assert _why_failed([], 3) == "exit status 3"
