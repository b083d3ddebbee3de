"""`strop mle run` refuses what cannot give a submission before any experiment, in one line (exit 2),
and exits 1 when a run ends with no valid submission.

On a real bundled competition (strop-diabetes: 309 training rows, rmse) copied into tmp_path and
spoiled one way per test: targets missing or text, a grade.py that returns no score, a --time too
short for experiment 0, a grader that refuses every real prediction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from agent.domains.mle.grader_check import check_grader
from agent.domains.mle.grading import GraderError
from agent.domains.mle.workfolder import prepare_task

DIABETES = Path(__file__).resolve().parents[2] / "benchmarks" / "competitions" / "strop-diabetes"


def diabetes(tmp_path: Path, grade_py: str | None = None) -> Path:
    """A copy of strop-diabetes, with `grade_py` as its grade.py when given."""
    root = tmp_path / "strop-diabetes"
    shutil.copytree(DIABETES, root)
    if grade_py is not None:
        (root / "grade.py").write_text(grade_py, encoding="utf-8")
    return root


def edit_train(root: Path, change: object) -> None:
    path = root / "prepared" / "public" / "train.csv"
    train = pd.read_csv(path, dtype={"id": str})
    change(train)  # type: ignore[operator]
    train.to_csv(path, index=False)


def strop(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def refused_in_one_line(done: subprocess.CompletedProcess[str], said: str, out: Path) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert not out.exists()  # no half-made working folder


# 1. fewer than 20 training rows with a target: sklearn's "n_splits=5 greater than n_samples" before
def test_too_few_rows_with_a_target_are_refused_before_any_split(tmp_path: Path) -> None:
    root = diabetes(tmp_path)

    def keep_three(train: pd.DataFrame) -> None:
        train.loc[3:, "target"] = None

    edit_train(root, keep_three)
    with pytest.raises(
        CompetitionError, match=r"train\.csv: 3 rows with a target \(306 without\); at least 20"
    ):
        prepare_task(load_competition(root), tmp_path / "w", seed=0, experiments=1)

    def blank_all(train: pd.DataFrame) -> None:
        train["target"] = None

    edit_train(root, blank_all)
    out = tmp_path / "w3"
    done = strop("mle", "run", str(root), "--time", "25s", "-n", "1", "--out", str(out), home=tmp_path / "h")
    refused_in_one_line(done, "0 rows with a target (309 without); at least 20 are needed", out)


# 2. a text target for a metric of numbers; a --time that cannot run experiment 0; no submission
def test_a_text_target_for_rmse_is_refused_before_any_experiment(tmp_path: Path) -> None:
    root = diabetes(tmp_path)

    def letters(train: pd.DataFrame) -> None:
        train["target"] = ["a", "b"] * (len(train) // 2) + ["a"] * (len(train) % 2)

    edit_train(root, letters)
    out = tmp_path / "w"
    done = strop("mle", "run", str(root), "--time", "25s", "-n", "1", "--out", str(out), home=tmp_path / "h")
    refused_in_one_line(done, "target 'target' holds 'a', not a number; metric rmse needs numbers", out)


def test_a_time_too_short_for_experiment_0_is_refused_with_the_least_that_runs(tmp_path: Path) -> None:
    out = tmp_path / "w"
    done = strop(
        "mle", "run", str(diabetes(tmp_path)), "--time", "5s", "--out", str(out), home=tmp_path / "h"
    )
    refused_in_one_line(done, "--time 5s is too short to run experiment 0", out)
    assert "give at least 10s" in done.stderr


REFUSES_REAL_PREDICTIONS = """
class InvalidSubmissionError(Exception):
    pass


def grade(submission, answers):
    if (submission["target"] != 0).any():
        raise InvalidSubmissionError("this grader takes nothing but zeros")
    return 1.0
"""


def test_a_run_with_no_valid_submission_exits_1_and_says_so(tmp_path: Path) -> None:
    """The grader passes the pre-check (the placeholder is all zeros) and refuses every real
    prediction: each experiment is invalid, the report is printed, and the exit status is 1."""
    root = diabetes(tmp_path, grade_py=REFUSES_REAL_PREDICTIONS)
    out = tmp_path / "w"
    done = strop("mle", "run", str(root), "-n", "1", "--folds", "1", "--out", str(out), home=tmp_path / "h")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "invalid submission: no experiment produced a valid submission" in done.stdout
    assert "no holdout score" in done.stdout and "holdout None" not in done.stdout
    assert "strop: no valid submission (see `strop show" in done.stderr and "Traceback" not in done.stderr
    assert (out / "report.json").is_file()  # the report is still written


def test_a_run_out_of_time_says_to_give_more_and_how_much(tmp_path: Path) -> None:
    """The report's message names the cut experiment and a --time to try; not for a run whose
    experiments failed on their own."""
    from agent.domains.mle.runner import _outcome
    from agent.domains.mle.workfolder import WorkFolder
    from agent.loop.graph import LoopResult
    from agent.records import ExperimentRecord
    from evaluators.verdict import Status

    competition = load_competition(diabetes(tmp_path))
    folder = WorkFolder(tmp_path / "w", tmp_path / "w" / "task.toml", "rmse", True)
    reason = "fold 1 of 5: stopped by the run's time budget after 2.6s (candidate's run stage)"
    cut = ExperimentRecord("r1", 0, None, "strop/r1/0", "c0", status=Status.STOPPED, reason=reason)
    spent = "time budget spent: 8.4s of 12s (the rest is kept for the final phase and closing)"

    def message(reason: str, records: list[ExperimentRecord]) -> str:
        outcome = _outcome(competition, folder, LoopResult("r1", "done", reason, None, records), 8.0)
        assert not outcome.report.valid_submission
        return outcome.report.message

    said = message(spent, [cut])
    assert said.startswith("no experiment produced a valid submission: experiment 0 did not finish in time")
    assert "after 2.6s" in said and said.endswith("give more --time (try --time 40s)")
    assert "before experiment 0 could start" in message("time budget spent: 2.9s of 50s", [])
    assert message(spent, []).endswith("(try --time 40s)")
    declined = (  # solution.py's own time check: the recipe cannot finish in the time left
        "the candidate's run stage exited with status 1: solution.py: the hgb recipe needs about 30 s "
        "of CPU on 247 rows x 10 columns, and 3 s are left: not started (a cheaper recipe, or more time, fits)"
    )
    slow = ExperimentRecord("r1", 0, None, "strop/r1/0", "c0", status=Status.BUGGY, reason=declined)
    assert "did not finish in time (the candidate's run stage" in message(spent, [slow])
    broken = ExperimentRecord("r1", 0, None, "strop/r1/0", "c0", status=Status.BUGGY, reason="boom")
    assert message(spent, [broken]) == "no experiment produced a valid submission"
    assert message("experiment budget spent: 1 of 1", [cut]) == "no experiment produced a valid submission"


# 3. a grade.py that returns no score
@pytest.mark.parametrize(
    ("returns", "said"),
    [
        ('float("nan")', "on the holdout's own answers as a submission the grader returned nan"),
        ('"oops"', "the grader returned 'oops', not a finite number"),
        ("True", "the grader returned True, not a finite number"),
        ('float("inf") if (submission["target"] == 0).all() else None', "returned None"),
    ],
)
def test_a_grader_that_returns_no_score_is_refused_before_any_experiment(
    tmp_path: Path, returns: str, said: str
) -> None:
    root = diabetes(tmp_path, grade_py=f"def grade(submission, answers):\n    return {returns}\n")
    folder = prepare_task(load_competition(root), tmp_path / "prepared", seed=0, experiments=1)
    with pytest.raises(GraderError, match="not a finite number") as refused:
        check_grader(load_competition(root), folder.root, timeout=30.0)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_mle_run_refuses_a_nan_grader_in_one_line(tmp_path: Path) -> None:
    root = diabetes(tmp_path, grade_py='def grade(submission, answers):\n    return float("nan")\n')
    out = tmp_path / "w"
    done = strop("mle", "run", str(root), "--time", "25s", "-n", "1", "--out", str(out), home=tmp_path / "h")
    refused_in_one_line(done, "the grader returned nan, not a finite number", out)


PEARSON = """
import numpy as np


def grade(submission, answers):
    merged = submission.merge(answers, on="id", suffixes=("_p", "_a"))
    with np.errstate(invalid="ignore"):  # nan on constant predictions
        return np.corrcoef(merged["target_p"], merged["target_a"])[0, 1]
"""


def test_a_grader_that_is_nan_only_on_the_constant_placeholder_passes(tmp_path: Path) -> None:
    """A correlation of the all-zero placeholder is honestly NaN; on the answers themselves it is 1."""
    root = diabetes(tmp_path, grade_py=PEARSON)
    folder = prepare_task(load_competition(root), tmp_path / "prepared", seed=0, experiments=1)
    check_grader(load_competition(root), folder.root, timeout=30.0)


@pytest.mark.parametrize("returned", ["True", "'0.5'", "b'1'"])
def test_the_run_scorer_refuses_a_grader_answer_that_is_no_number(tmp_path: Path, returned: str) -> None:
    """float() took True as 1.0 and "0.5" as 0.5 in the run's scorer, while the pre-check refuses them."""
    import importlib.util
    import shutil

    import agent.domains.mle.scorer as shipped

    for name in ("scorer.py", "metrics.py"):  # the scorer folder a run lays out (`sibling` imports)
        shutil.copy(Path(shipped.__file__).with_name(name), tmp_path / name)
    (tmp_path / "grade.py").write_text(f"def grade(submission, answers):\n    return {returned}\n")
    spec = importlib.util.spec_from_file_location("copied_mle_scorer", tmp_path / "scorer.py")
    assert spec is not None and spec.loader is not None
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    with pytest.raises(scorer.GraderFailed, match="not a finite number"):
        scorer.grade({"grade_file": "grade.py"}, None, None)
    (tmp_path / "grade.py").write_text("def grade(submission, answers):\n    return 0.75\n")
    assert scorer.grade({"grade_file": "grade.py"}, None, None) == 0.75


def test_a_scorer_that_cannot_read_the_answers_fails_the_pre_check(tmp_path: Path) -> None:
    """Python's status for an uncaught exception is 1, the scorer's "refused": the pre-check took
    answers it could not read for a grader that ran, and every experiment's scoring then failed."""
    root = diabetes(tmp_path, grade_py="def grade(submission, answers):\n    return 0.5\n")
    folder = prepare_task(load_competition(root), tmp_path / "w", seed=0, experiments=1)
    for answers in (folder.root / "private" / "validate").rglob("holdout_answers.csv"):
        answers.unlink()
    with pytest.raises(GraderError, match=r"the scorer failed in its sandbox \(exit status 4\)"):
        check_grader(load_competition(root), folder.root, timeout=30.0)
