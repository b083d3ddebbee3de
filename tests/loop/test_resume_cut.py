"""An experiment the run's time budget cut is evaluated again by `strop resume` with more time.

A demanding user gives a run more time to finish what the budget cut: nothing is lost. The real
loop on the tiny task, its evaluation slower than the first stretch's whole budget.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.home import strop_home
from agent.loop import Overrides, resume_run, start_run
from agent.loop.audit import audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status

from .conftest import make_task

SLEEP = 8.0  # seconds an evaluation takes: more than the first stretch's whole budget
BUDGET = 7.0  # the first stretch's: ~5 s to search, slack for a loaded machine's start-up


def slow_task(root: Path) -> Path:
    """The tiny task, one experiment, each evaluation `SLEEP` seconds, no `final` phase (its
    reserve and its run would double what the test waits for, and prove nothing here)."""
    path = make_task(root, experiments=1, sleep=SLEEP)
    text = path.read_text()
    path.write_text(text.replace('final = "python evaluate.py"\n', "", 1))
    return path


def test_resume_with_more_time_evaluates_again_the_experiment_the_budget_cut(tmp_path: Path) -> None:
    """Experiment 0 was cut (`stopped`) and never evaluated again: the resumed run had no baseline.

    One experiment in the budget: the cut one filled it, so the resume also checks that a cut
    experiment waiting to be evaluated again does not count as done.
    """
    home, index = strop_home(), RunIndex(strop_home())
    task = load_task(slow_task(tmp_path / "t"))
    assert not task.evaluator.has_final
    first = start_run(task, home, index, overrides=Overrides(time=BUDGET))
    assert [(r.id, r.status) for r in first.records] == [(0, Status.STOPPED)], first.records

    started = time.monotonic()
    short = resume_run(first.run_id, home, index, more_time=1.0)  # too little time: no loop, no cut
    assert time.monotonic() - started < SLEEP
    assert [(r.id, r.status) for r in short.records] == [(0, Status.STOPPED)]

    # `-n 1`: the cut experiment is not one done, so a total of 1 is still above what is done
    more = resume_run(first.run_id, home, index, more_time=30.0, experiments=1)
    assert [(r.id, r.status) for r in more.records] == [(0, Status.OK)], more.records
    again = more.records[0]
    assert again.commit == first.records[0].commit  # the same commit, a fresh evaluation
    assert again.metrics["score"] == -36.5
    assert [d for d in again.decisions if d.startswith("re-evaluated on resume")], again.decisions
    assert more.best is not None and more.best.id == 0
    assert audit_run(first.run_id, home, index, evaluated=1) == []
