"""Async lanes: a lane goes on as soon as its evaluation ends, and nothing is lost or run twice.

One experiment's evaluation (x > 4) waits at a barrier that the test opens only when a later
experiment has finished. Under `async` the other lane keeps proposing, committing and
evaluating meanwhile, so experiments finish out of order; under `batch` the same run could not
get past its first batch until the barrier's own timeout, so finishing order is the proof.
"""

from __future__ import annotations

from pathlib import Path

from agent.home import strop_home
from agent.loop import ExperimentFinished, Overrides, request_stop, start_run
from agent.loop.audit import audit_run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status

from .conftest import make_task
from .test_loop import PointsProposer

BARRIER_EVALUATOR = """
import json, os, time
p = json.load(open("params.json"))
if p["x"] > 4:  # the slow one: wait for the test to open the barrier (or give up after 20 s)
    end = time.time() + 20
    while not os.path.exists(os.environ["BARRIER"]) and time.time() < end:
        time.sleep(0.05)
    print("barrier " + ("opened" if os.path.exists(os.environ["BARRIER"]) else "timed out"))
print(json.dumps({"score": -(p["x"] - 1.5) ** 2}))
"""

SLOW = {"x": 4.5, "n": 4, "mode": "a"}


def _task(root: Path, barrier: Path, experiments: int, rules: list[str] | None = None) -> Path:
    task = make_task(
        root, experiments=experiments, parallel=2, schedule="async", rules=rules or [], on_violation="reject"
    )
    (root / "evaluate.py").write_text(BARRIER_EVALUATOR)
    text = task.read_text().replace('EVAL_SLEEP = "0.0"', f'BARRIER = "{barrier}"')
    task.write_text(text)
    return task


def _points(count: int) -> list[dict]:
    return [SLOW] + [{"x": 0.5 + i / 10, "n": 4, "mode": "a"} for i in range(count)]


def test_async_lanes_go_on_while_a_slow_evaluation_runs(tmp_path: Path) -> None:
    barrier = tmp_path / "open"
    task = _task(tmp_path / "t", barrier, experiments=6)
    finished: list[int] = []

    def sink(event: object) -> None:
        if isinstance(event, ExperimentFinished):
            finished.append(event.exp)
            if event.exp == 5:
                barrier.touch()

    index = RunIndex(strop_home())
    proposer = PointsProposer(task, _points(4))
    result = start_run(load_task(task), strop_home(), index, Overrides(), sink=sink, proposer=proposer)
    assert finished == [0, 2, 3, 4, 5, 1]  # the fast lane went on four times while 1 waited
    records = result.records
    assert [r.id for r in records] == list(range(6)) and all(r.status is Status.OK for r in records)
    assert [r.params for r in records[1:]] == _points(4)  # each proposal became exactly one experiment
    assert "barrier opened" in Path(records[1].log_path).read_text()
    assert result.status == "done" and result.stop_reason == "experiment budget spent: 6 of 6"
    assert audit_run(result.run_id, strop_home(), index, evaluated=6) == []


def test_a_stop_with_a_lane_still_evaluating_waits_for_it(tmp_path: Path) -> None:
    barrier = tmp_path / "open"
    task = _task(tmp_path / "t", barrier, experiments=30)
    index = RunIndex(strop_home())

    def sink(event: object) -> None:
        if isinstance(event, ExperimentFinished) and event.exp == 3:
            request_stop(None, index)  # experiment 1 is still at its barrier
            barrier.touch()

    proposer = PointsProposer(task, _points(10))
    result = start_run(load_task(task), strop_home(), index, Overrides(), sink=sink, proposer=proposer)
    assert result.status == "stopped"
    assert [r.id for r in result.records] == [0, 1, 2, 3]  # nothing new started after the stop
    assert all(r.status is Status.OK for r in result.records)  # 1 was waited for, not dropped
    assert audit_run(result.run_id, strop_home(), index, evaluated=len(result.records)) == []


def test_a_rejected_candidate_does_not_wait_for_the_other_lane(tmp_path: Path) -> None:
    """Rejected before evaluation, its lane is recorded and refilled at once, not after the slow one."""
    barrier = tmp_path / "open"
    task = _task(tmp_path / "t", barrier, experiments=5, rules=["n % 2 == 0"])
    finished: list[tuple[int, str]] = []

    def sink(event: object) -> None:
        if isinstance(event, ExperimentFinished):
            finished.append((event.exp, event.status))
            if event.exp == 5:
                barrier.touch()

    index = RunIndex(strop_home())
    points = [SLOW, {"x": 0.5, "n": 3, "mode": "a"}, *_points(3)[1:]]  # 2 breaks `n % 2 == 0`
    proposer = PointsProposer(task, points)
    result = start_run(load_task(task), strop_home(), index, Overrides(), sink=sink, proposer=proposer)
    assert finished == [(0, "ok"), (2, "rejected"), (3, "ok"), (4, "ok"), (5, "ok"), (1, "ok")]
    assert "barrier opened" in Path(result.records[1].log_path).read_text()
    assert audit_run(result.run_id, strop_home(), index, evaluated=5) == []
