"""From a finished run to the report: the final phase's score on the medal table, and the run's facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.runner import _outcome
from agent.domains.mle.workfolder import WorkFolder
from agent.loop import LoopResult
from agent.records import Cost, ExperimentRecord
from evaluators.verdict import Status


@pytest.fixture
def folder(tmp_path: Path) -> WorkFolder:
    return WorkFolder(
        root=tmp_path / "work",
        task_file=tmp_path / "work" / "task.toml",
        metric_key="accuracy",
        lower_is_better=False,
    )


def record(n: int, holdout: float, final: dict[str, float] | None, tokens: int = 0) -> ExperimentRecord:
    return ExperimentRecord(
        run="r1",
        id=n,
        parent=None,
        branch=f"strop/r1/{n}",
        commit="0" * 40,
        status=Status.OK,
        metrics={"accuracy": holdout},
        final_metrics=final,
        cost=Cost(prompt_tokens=tokens, usd=0.5 * tokens / 1000),
    )


def test_the_final_score_is_placed_on_the_leaderboard(competition_dir: Path, folder: WorkFolder) -> None:
    best = record(1, 0.9, {"accuracy": 0.75}, tokens=1000)
    result = LoopResult("r1", "done", "budget", best, [record(0, 0.8, None, tokens=500), best])
    (folder.root / "public").mkdir(parents=True)
    (folder.root / "public" / "holdout.csv").write_text('id,text\n1,"two\nlines"\n2,b\n3,c\n')
    outcome = _outcome(load_competition(competition_dir), folder, result, 12.34)
    data = outcome.to_json()
    assert data["score"] == 0.75 and data["silver_medal"] and data["valid_submission"]
    assert data["run"] == "r1" and data["experiments"] == 2 and data["best_branch"] == "strop/r1/1"
    assert data["holdout_score"] == 0.9 and data["tokens"] == 1500 and data["cost_usd"] == 0.75
    assert data["holdout_rows"] == 3
    assert data["wall_seconds"] == 12.3 and data["submission_path"] == "strop/r1/1:submission.csv"


def test_the_holdout_score_is_rounded_as_the_score_is(competition_dir: Path, folder: WorkFolder) -> None:
    """A mean over folds has more digits than the scorer's five: report.json rounds both the same."""
    best = record(1, 0.9146366666666667, {"accuracy": 0.75123})
    result = LoopResult("r1", "done", "budget", best, [best])
    data = _outcome(load_competition(competition_dir), folder, result, 1.0).to_json()
    assert data["holdout_score"] == 0.91464 and data["score"] == 0.75123


def test_a_submission_the_final_grading_refused_is_invalid(competition_dir: Path, folder: WorkFolder) -> None:
    best = record(0, 0.9, {})
    outcome = _outcome(
        load_competition(competition_dir), folder, LoopResult("r1", "done", "", best, [best]), 1.0
    )
    assert not outcome.report.valid_submission and outcome.report.score is None
    assert outcome.report.submission_exists and not outcome.report.any_medal
    assert "not accepted by the final grading" in outcome.report.message


def test_a_run_without_a_working_experiment_has_no_submission(
    competition_dir: Path, folder: WorkFolder
) -> None:
    outcome = _outcome(load_competition(competition_dir), folder, LoopResult("r1", "done", "", None, []), 1.0)
    assert not outcome.report.submission_exists and not outcome.report.valid_submission
    assert outcome.best_branch is None and outcome.holdout_score is None and outcome.holdout_rows is None
