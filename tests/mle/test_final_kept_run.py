"""`strop mle run` whose refit gives no verdict: the chosen experiment's selection submission is graded.

A real run (sandboxes, git lanes, the loop's final phase) on scikit-learn's wine data, whose
final phase's fit.csv was broken after the task was written (its target column removed), so
that the refit on every training row fails. The submission that the chosen experiment's
selection run wrote (its first fold's, sealed and kept by strop) is graded instead, and the
experiment's record and the report say so; the private answers are still opened once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.runner import RunRequest, run_competition
from agent.domains.mle.workfolder import prepare_task
from evaluators.staged import GRADED
from tests.mle.sklearn_competition import write_sklearn_competition
from tests.mle.test_run_end_to_end import InotifyOpens


@pytest.mark.slow
def test_a_refit_with_no_verdict_is_graded_from_the_selection_runs_submission(tmp_path: Path) -> None:
    root = write_sklearn_competition(tmp_path / "wine")
    competition = load_competition(root)
    out = tmp_path / "work"
    prepare_task(competition, out, seed=0, experiments=1)
    fit = out / "public-final" / "fit.csv"
    pd.read_csv(fit).drop(columns=["target"]).to_csv(fit, index=False)  # the refit cannot fit
    home = tmp_path / "home"
    with InotifyOpens(root / "prepared" / "private") as audit:
        outcome = run_competition(RunRequest(competition, out, experiments=1, reuse=True), home)
    assert outcome.report.score is not None and outcome.report.valid_submission
    assert outcome.graded.startswith(f"{GRADED}: the outputs of experiment 0's selection run")
    assert "fold 1 of 5" in outcome.graded and "not the refit" in outcome.graded
    assert "with its selection run's submission" in outcome.report.message
    assert audit.files == ["test.csv"]  # the one read of the answers
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["graded"] == outcome.graded

    from agent.run import Run
    from agent.run_index import RunIndex

    (best,) = [r for r in Run.reopen(outcome.run, home, RunIndex(home)).records() if r.id == 0]
    assert best.decisions[-1] == outcome.graded and best.final_metrics  # in the record, from git
    assert not (home / "runs" / outcome.run / "kept").exists()  # spent with the final verdict
