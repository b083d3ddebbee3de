"""The run loop end to end on the tiny task: real git, real Z3, real sandbox, real LangGraph."""

from __future__ import annotations

import json
from pathlib import Path

from agent.home import run_dir, strop_home
from agent.loop import ExperimentFinished, Overrides, request_stop, start_run
from agent.loop.audit import audit_run
from agent.proposers.base import ProposalRequest
from agent.run import Candidate
from agent.run_index import RunIndex
from agent.space import Space
from agent.task import load_task
from evaluators.verdict import Status

from .conftest import make_task


class PointsProposer:
    """Proposes the given points in order (stands in for a model's answers)."""

    name = "scripted"

    def __init__(self, task_path: Path, points: list[dict], multi_turn: bool = False) -> None:
        self.task = load_task(task_path)
        self.space = Space.from_task(self.task)
        self.points = list(points)
        self.multi_turn = multi_turn
        self.requests: list[ProposalRequest] = []

    def propose(self, request: ProposalRequest) -> Candidate:
        self.requests.append(request)
        point = self.points.pop(0)
        files = self.space.materialise(point, request.parent_checkout, self.task.spec.proposer)
        return Candidate(idea=f"try {point}", files=files, proposer=self.name, params=point)


def run(task_path: Path, overrides: Overrides | None = None, **kwargs):  # type: ignore[no-untyped-def]
    index = RunIndex(strop_home())
    return start_run(load_task(task_path), strop_home(), index, overrides, **kwargs), index


def test_evolve_run_beats_the_baseline_and_leaves_a_whole_run(tmp_path: Path) -> None:
    events: list = []
    result, index = run(make_task(tmp_path / "t", experiments=7), sink=events.append)
    records = result.records
    assert [r.id for r in records] == list(range(7))
    assert all(r.status is Status.OK for r in records)  # constraint-aware: no odd n was evaluated
    assert result.best is not None and result.best.id != 0
    assert result.best.metrics["score"] > records[0].metrics["score"]
    assert result.best.final_metrics is not None  # the hidden phase ran once, on the best
    assert result.status == "done" and result.stop_reason == "experiment budget spent: 7 of 7"
    assert records[0].params == {
        "x": -4.0,
        "n": 2,
        "mode": "a",
    }  # the baseline's point, read from the workspace
    assert all(any(d.startswith("search: ") for d in r.decisions) for r in records[1:])
    assert audit_run(result.run_id, strop_home(), index, evaluated=7) == []
    finished = [e for e in events if isinstance(e, ExperimentFinished)]
    assert [e.exp for e in finished] == list(range(7)) and finished[-1].done == 7
    log = (run_dir(result.run_id) / "run.log").read_text()
    assert "knowledge: off for this task" in log


def test_parallel_lanes_evaluate_the_budget_exactly(tmp_path: Path) -> None:
    result, index = run(make_task(tmp_path / "t", experiments=6), Overrides(parallel=3))
    assert [r.id for r in result.records] == list(range(6))
    assert audit_run(result.run_id, strop_home(), index, evaluated=6) == []
    parents = {r.parent for r in result.records[1:]}
    assert parents <= {r.id for r in result.records}


def test_reject_mode_refuses_infeasible_points_with_feedback_and_they_cost_no_evaluation(
    tmp_path: Path,
) -> None:
    task = make_task(tmp_path / "t", experiments=3, on_violation="reject")
    points = [
        {"x": 1.0, "n": 3, "mode": "a"},
        {"x": 1.0, "n": 4, "mode": "b", "k": 8},
        {"x": 1.0, "n": 4, "mode": "a"},
        {"x": 1.2, "n": 10, "mode": "a"},
    ]
    proposer = PointsProposer(task, points)
    result, index = run(task, proposer=proposer)
    statuses = [r.status for r in result.records]
    assert statuses == [Status.OK, Status.REJECTED, Status.REJECTED, Status.OK, Status.OK]
    assert result.records[1].reason == "constraints: violates: n % 2 == 0"
    assert "violates: mode == 'b' -> k <= 5" in result.records[2].feedback
    assert not result.records[1].log_path  # never evaluated
    assert audit_run(result.run_id, strop_home(), index, evaluated=3) == []
    later = proposer.requests[-1]
    assert any(r.status is Status.REJECTED for r in later.history)  # the proposer sees the rejections


def test_repair_mode_moves_a_point_to_the_nearest_feasible_one(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t", experiments=2, on_violation="repair")
    result, _ = run(task, proposer=PointsProposer(task, [{"x": 1.0, "n": 11, "mode": "b", "k": 8}]))
    repaired = result.records[1]
    assert repaired.status is Status.OK
    assert repaired.params is not None and repaired.params["n"] in (10, 12) and repaired.params["k"] == 5
    assert any(d.startswith("constraints: repaired") for d in repaired.decisions)
    assert (
        json.loads(result.records[1].feedback.strip().splitlines()[-1])["score"] == repaired.metrics["score"]
    )


def test_stop_request_ends_the_run_gracefully(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t", experiments=30)
    index = RunIndex(strop_home())

    def stop_after_two(event: object) -> None:
        if isinstance(event, ExperimentFinished) and event.exp == 2:
            request_stop(None, index)

    result = start_run(load_task(task), strop_home(), index, sink=stop_after_two)
    assert result.status == "stopped" and result.stop_reason == "stopped on request (strop stop)"
    assert len(result.records) == 3 and result.best is not None and result.best.final_metrics is not None
    assert audit_run(result.run_id, strop_home(), index) == []


def test_a_failed_turn_gets_another_turn_on_the_same_branch(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t", experiments=2, rules=[])
    points = [{"x": 1.0, "n": 5, "mode": "a"}, {"x": 1.0, "n": 6, "mode": "a"}]
    proposer = PointsProposer(task, points, multi_turn=True)
    result, index = run(task, proposer=proposer)
    attempt = result.records[1]
    assert attempt.status is Status.OK and attempt.turns == 2
    assert [r.turn for r in proposer.requests] == [1, 2]
    assert proposer.requests[1].attempt is not None and proposer.requests[1].attempt.status is Status.BUGGY
    assert "turns left in this attempt" in proposer.requests[0].budget_note
    turn_lines = [d for d in attempt.decisions if d.startswith("turn ")]
    assert len(turn_lines) == 2 and "failed" in turn_lines[0] and "succeeded" in turn_lines[1]
    repo_log = index.find_run(result.run_id)
    from agent.experiments import ExperimentRepo

    repo = ExperimentRepo.open(Path(repo_log.repo), strop_home())
    assert repo.git.rev_list("--count", f"{result.records[0].commit}..{attempt.commit}") == "2"
    assert audit_run(result.run_id, strop_home(), index, evaluated=2) == []


def test_memory_learns_from_a_run_and_feeds_the_next_one(tmp_path: Path) -> None:
    from agent.home import knowledge_dir
    from knowledge import Memory

    task = make_task(
        tmp_path / "t", experiments=8, rules=[], memory=True, params={"x": -4.0, "n": 3, "mode": "a"}
    )
    first, _ = run(task)
    assert first.records[0].status is Status.BUGGY  # odd n: the workspace as it is crashes
    traces = Memory.open(knowledge_dir() / "memory").traces("tiny")
    assert sorted(int(t.experiment_id) for t in traces) == [r.id for r in first.records]
    log = (run_dir(first.run_id) / "run.log").read_text()
    assert "knowledge: lessons from memory" in log
    second, _ = run(task)
    contexts = sorted((run_dir(second.run_id) / "context").glob("*.txt"))
    assert contexts, "the second run's proposer got no lessons"
    assert "Lessons from earlier experiments" in contexts[0].read_text()
