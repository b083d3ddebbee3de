"""A resume too short for what it must do says so, with the `--time` to give, and costs nothing.

`strop resume RUN --time 45s` after experiment 0 was cut stopped after 0.9 s with "time budget
spent: 29.3s of 73.4s": no word of what did not fit or of how much to give, a third of the run's
total (not of the resume's own 45 s) kept for the final phase, and each such try added its
start-up to the run's time. The real loop on the tiny task (with its final phase), experiment 0
slower than the first stretch's whole budget.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.home import strop_home
from agent.loop import Overrides, resume_run, start_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status

from .conftest import make_task

SLEEP = 8.0  # seconds an evaluation takes: more than the first stretch's whole budget
BUDGET = 7.0  # the first stretch's: experiment 0 is cut after a few seconds
SHORT = 3.0  # a resume's own time: less than closing and any evaluation, on any machine
LONG = 60.0  # room for experiment 0 and the final phase, on a loaded machine too


def used(report: str) -> tuple[float, float]:
    """(seconds used, time budget) from a run's budget line (`time: 23.3s of 68.3s (…)`)."""
    found = re.match(r"time: ([\d.]+)s of ([\d.]+)s", report)
    assert found, report
    return float(found[1]), float(found[2])


def test_a_resume_too_short_says_what_to_give_and_adds_no_time(tmp_path: Path) -> None:
    home, index = strop_home(), RunIndex(strop_home())
    task = load_task(make_task(tmp_path / "t", experiments=1, sleep=SLEEP))
    assert task.evaluator.has_final
    first = start_run(task, home, index, overrides=Overrides(time=BUDGET))
    assert [(r.id, r.status) for r in first.records] == [(0, Status.STOPPED)], first.records
    cut = first.records[0].eval_seconds
    assert cut > 0

    tries = []
    for _ in range(2):  # the same short resume twice: the second is judged as the first
        short = resume_run(first.run_id, home, index, more_time=SHORT)
        assert [(r.id, r.status) for r in short.records] == [(0, Status.STOPPED)]  # not started
        reason = short.stop_reason
        assert reason.startswith("time budget spent: "), reason
        assert "(this resume: " in reason and f"s of {SHORT:g}s)" in reason, reason
        said = re.search(
            r"experiment 0 \(cut after \d+s before: ~(\d+)s\) and the final phase \(~(\d+)s kept\)", reason
        )
        assert said, reason
        assert int(said[1]) >= round(cut)  # it needs more than it ran before it was cut
        assert int(said[2]) <= SHORT / 3 + 0.5  # the reserve is judged by this resume's own time
        give = re.search(r"do not fit in \d+s: give --time (\d+)s$", reason)
        assert give and int(give[1]) > SHORT, reason
        tries.append((used(index.find_run(first.run_id).budget_report), int(give[1])))
    (spent_once, total_once), give_once = tries[0]
    (spent_twice, total_twice), give_twice = tries[1]
    assert spent_twice == spent_once  # a resume that did nothing adds no time to the run
    assert abs(total_twice - (spent_once + SHORT)) <= 0.15
    assert give_twice == give_once

    more = resume_run(first.run_id, home, index, more_time=max(LONG, give_once))
    assert [(r.id, r.status) for r in more.records] == [(0, Status.OK)], more.records
    report = index.find_run(first.run_id).budget_report
    own = re.search(r"this resume: ([\d.]+)s of ([\d.]+)s", report)
    assert own and float(own[2]) == max(LONG, give_once), report
    assert float(own[1]) >= SLEEP  # it evaluated experiment 0 again, in this resume's time
    spent, total = used(report)
    assert abs(spent - (spent_once + float(own[1]))) <= 0.2, report
