"""`strop audit` holds each record to its history in the notes ref and to its commit, and tells a
pending experiment the time budget left (by design) from one an evaluation lost.

Before, only the hidden-test score was held to its history: a note edited by hand (its params,
idea, proposer, seconds, backend, end time, or a scored experiment's status turned to `buggy`
with its metrics dropped, which hides a result) left a run "whole". And a run that ended on its
time budget with an experiment committed but not evaluated, as designed, failed the audit.
Each test below is a real run of the tiny task, edited as a user with the repo could.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.loop import Overrides, resume_run, start_run
from agent.loop.audit import audit, audit_run
from agent.proposers.base import ProposalRequest
from agent.run import Candidate
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status

from .conftest import make_task
from .test_audit_cli import Made, has, problems
from .test_audit_cli import audit as audit_cli
from .test_audit_cli import made as made  # noqa: F401  (the fixture: a finished run of the tiny task)


def edited_and_restored(made: Made, exp: int, change: dict) -> None:
    """The note edited (as `note_edits.sh` did), then put back as it was: the history keeps both."""
    kept = made.record(exp)
    made.edit_note(exp, lambda note: note.update(change))
    made.edit_note(exp, lambda note: (note.clear(), note.update(kept)))
    assert made.record(exp) == kept


def test_fields_fixed_when_committed_or_evaluated_are_held_to_the_notes_history(made: Made) -> None:
    exp = made.other()
    note = made.record(exp)
    changes = {
        "params": {**note["params"], "x": note["params"]["x"] + 0.5},
        "idea": "hand-written idea",
        "proposer": "llm",
        "eval_seconds": 0.01,
        "finished": "2020-01-01T00:00:00+00:00",
        "backend": "docker",
    }
    for key, value in changes.items():
        edited_and_restored(made, exp, {key: value})
    lines = problems(audit_cli(made.id))
    for key in ("params", "idea", "proposer"):
        assert has(lines, f"{made.id}/{exp}'s {key} changed after it was committed (notes history)"), key
    for key in ("eval_seconds", "finished", "backend"):
        assert has(lines, f"{made.id}/{exp}'s {key} changed after it was evaluated (notes history)"), key
    assert has(
        lines,
        f"eval_seconds changed after it was evaluated (notes history): {note['eval_seconds']} then 0.01 (set back since)",
    )
    assert len(lines) == len(changes), lines  # one line a field, nothing else


@pytest.mark.parametrize("status", ["buggy", "timeout", "rejected", "tampered"])
def test_a_scored_experiments_result_hidden_by_its_status(made: Made, status: str) -> None:
    """The score's log is still on disk; the audit used to check one log fewer and say whole."""
    exp = made.other()
    made.edit_note(exp, lambda note: note.update(status=status, metrics={}))
    lines = problems(audit_cli(made.id))
    assert has(lines, f"{made.id}/{exp}'s status changed after it was evaluated", f"'ok' then '{status}'")
    assert has(lines, f"{made.id}/{exp}'s metrics changed after it was evaluated", "score ", "then (absent)")


def test_with_the_notes_history_rewritten_the_commit_still_holds_the_params_and_idea(made: Made) -> None:
    exp = made.other()
    params = made.record(exp)["params"]
    made.edit_note(
        exp, lambda note: note.update(params={**params, "n": params["n"] + 2}, idea="another idea")
    )
    made.forget_history()
    lines = problems(audit_cli(made.id))
    assert has(
        lines, f"{made.id}/{exp}'s params n = {params['n'] + 2}, but its commit", f"writes {params['n']}"
    )
    assert has(lines, f"{made.id}/{exp}'s idea is not its commit's message", "'another idea'")
    assert not has(lines, "notes history")


def test_with_the_notes_history_rewritten_a_hidden_results_log_is_still_found(made: Made) -> None:
    exp = made.other()
    made.edit_note(exp, lambda note: note.update(status="rejected", metrics={}, log_path="", log_digest=""))
    made.forget_history()
    lines = problems(audit_cli(made.id))
    assert has(lines, f"{made.id}/{exp}'s evaluation log {exp}-validate.log is in the run's folder",
               "its record is 'rejected'")  # fmt: skip


def test_a_run_as_strop_leaves_it_after_a_resume_is_whole(made: Made) -> None:
    """Every version a real run and its resume wrote is one the history allows (pending, then
    evaluated, decisions added, a new best's hidden test scored once)."""
    resumed = json.loads(audit_cli(made.id, "--json").stdout)
    assert resumed["whole"], resumed


# ------------------------------------------------------------------ pending, cut by the time budget
class LateProposer:
    """Proposes experiment 1 so late that the time left is less than an evaluation takes: the
    loop commits it and leaves it pending (`agent.loop.nodes._job`), as a slow model reply would."""

    name = "late"

    def __init__(self) -> None:
        self.limits = None  # the loop sets it: the search deadline, for the next call

    def propose(self, request: ProposalRequest) -> Candidate:
        deadline = self.limits().deadline  # type: ignore[misc]
        while deadline.left() > 1.0:
            time.sleep(0.05)
        point = {"x": 1.5, "n": 12, "mode": "b", "k": 3}
        return Candidate(
            idea="the peak", files={"params.json": json.dumps(point)}, proposer=self.name, params=point
        )


def test_a_pending_experiment_the_time_budget_left_is_a_note_and_a_resume_evaluates_it(
    tmp_path: Path,
) -> None:
    home, index = strop_home(), RunIndex(strop_home())
    path = make_task(tmp_path / "t", experiments=2, sleep=2.0)  # each evaluation 2 s
    path.write_text(path.read_text().replace('final = "python evaluate.py"\n', "", 1))
    first = start_run(load_task(path), home, index, Overrides(time=12.0), proposer=LateProposer())
    assert [(r.id, r.status) for r in first.records] == [(0, Status.OK), (1, Status.PENDING)], first.records
    assert first.stop_reason.startswith("time budget spent"), first.stop_reason
    assert audit_run(first.run_id, home, index) == []
    report = audit(first.run_id, home, index)
    assert report.whole, report.problems
    assert any("experiments left pending: [1]" in note and "time budget" in note for note in report.unchecked)

    more = resume_run(first.run_id, home, index, more_time=30.0)
    assert [(r.id, r.status) for r in more.records] == [(0, Status.OK), (1, Status.OK)], more.records
    after = audit(first.run_id, home, index)  # pending, then evaluated: a transition the loop makes
    assert after.whole and not any("pending" in note for note in after.unchecked), after.problems

    repo = ExperimentRepo.open(Path(index.find_run(first.run_id).repo), home)
    record = repo.read_run(first.run_id)  # the same run, had it ended for another reason
    record.stop_reason = "experiment budget spent: 2 of 2"
    repo.write_run(record)
    index.put_run(record)
    made_pending = next(r for r in repo.read_records(first.run_id) if r.id == 1)
    made_pending.status, made_pending.metrics = Status.PENDING, {}
    repo.write_record(made_pending)
    index.put_experiment(made_pending)
    lost = audit_run(first.run_id, home, index)
    assert "experiments left pending: [1]" in lost, lost
