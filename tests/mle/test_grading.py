"""Validating and grading submissions: valid or not with the reason, scores, medals, grader failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grading import GraderError, grade_submission, validate_submission
from tests.mle.conftest import CLASSIFICATION_ANSWERS, write_competition, write_csv

MLE_BENCH_FIELDS = {
    "competition_id",
    "score",
    "gold_threshold",
    "silver_threshold",
    "bronze_threshold",
    "median_threshold",
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "submission_exists",
    "valid_submission",
    "is_lower_better",
}


def submit(folder: Path, rows: list[tuple[str, str]], header: tuple[str, ...] = ("id", "label")) -> Path:
    return write_csv(folder / "submission.csv", list(header), rows)


def test_a_perfect_submission_wins_gold(competition_dir: Path, tmp_path: Path) -> None:
    competition = load_competition(competition_dir)
    report = grade_submission(submit(tmp_path, CLASSIFICATION_ANSWERS), competition)
    assert report.valid_submission and report.submission_exists
    assert report.score == 1.0 and report.gold_medal and report.any_medal and report.above_median
    assert (report.gold_threshold, report.silver_threshold, report.bronze_threshold) == (1.0, 0.75, 0.5)
    assert report.median_threshold == 0.375 and report.leaderboard_teams == 10


def test_three_of_four_right_is_silver(competition_dir: Path, tmp_path: Path) -> None:
    rows = [("a", "cat"), ("b", "cat"), ("c", "cat"), ("d", "bird")]
    report = grade_submission(submit(tmp_path, rows), load_competition(competition_dir))
    assert report.score == 0.75 and report.silver_medal and not report.gold_medal and not report.bronze_medal


def test_the_report_has_mle_bench_field_names_and_is_json(competition_dir: Path, tmp_path: Path) -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    report = grade_submission(
        submit(tmp_path, CLASSIFICATION_ANSWERS), load_competition(competition_dir), when
    )
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) >= MLE_BENCH_FIELDS
    assert data["competition_id"] == "tiny-accuracy" and data["created_at"] == when.isoformat()
    assert data["metric"] == "accuracy" and data["is_lower_better"] is False


def wrong_format(folder: Path, how: str) -> Path:
    if how == "missing":
        return folder / "nothing.csv"
    if how == "not csv":
        return write_csv(folder / "submission.txt", ["id", "label"], CLASSIFICATION_ANSWERS)
    if how == "extra column":
        return submit(folder, [(i, v, 1) for i, v in CLASSIFICATION_ANSWERS], ("id", "label", "x"))
    if how == "missing row":
        return submit(folder, CLASSIFICATION_ANSWERS[:-1])
    if how == "duplicate id":
        return submit(folder, [*CLASSIFICATION_ANSWERS[:-1], ("a", "cat")])
    if how == "unknown id":
        return submit(folder, [*CLASSIFICATION_ANSWERS[:-1], ("zz", "cat")])
    if how == "empty value":
        return submit(folder, [*CLASSIFICATION_ANSWERS[:-1], ("d", "")])
    if how == "empty file":
        path = folder / "submission.csv"
        path.write_text("", encoding="utf-8")
        return path
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("missing", "does not exist"),
        ("not csv", "must be a CSV"),
        ("extra column", "columns are ['id', 'label', 'x']"),
        ("missing row", "3 rows, expected 4"),
        ("duplicate id", "id 'a' appears more than once"),
        ("unknown id", "id 'zz' is not in sample_submission"),
        ("empty value", "column 'label' has empty values"),
        ("empty file", "not a readable CSV"),
    ],
)
def test_a_wrong_format_is_an_invalid_submission_never_a_crash(
    competition_dir: Path, tmp_path: Path, how: str, says: str
) -> None:
    competition = load_competition(competition_dir)
    path = wrong_format(tmp_path, how)
    assert not validate_submission(path, competition).valid
    report = grade_submission(path, competition)
    assert not report.valid_submission and report.score is None
    assert not report.any_medal and not report.above_median
    assert says in report.message
    assert report.submission_exists == (how not in {"missing", "not csv"})


def test_validation_reads_public_data_only(competition_dir: Path, tmp_path: Path, audit_opens: type) -> None:
    competition = load_competition(competition_dir)
    with audit_opens(competition_dir / "prepared" / "private") as audit:
        assert validate_submission(submit(tmp_path, CLASSIFICATION_ANSWERS), competition).valid
    assert audit.opened == []


def test_grading_opens_the_private_answers_exactly_once(
    competition_dir: Path, tmp_path: Path, audit_opens: type
) -> None:
    with audit_opens(competition_dir / "prepared" / "private") as audit:
        competition = load_competition(competition_dir)
        grade_submission(submit(tmp_path, CLASSIFICATION_ANSWERS), competition)
    assert audit.opened == [str((competition_dir / "prepared" / "private" / "answers.csv").resolve())]


GRADE_BY_DISTANCE = """
import pandas as pd

def grade(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    merged = submission.merge(answers, on="id", suffixes=("_s", "_a"))
    return float((merged.label_s != merged.label_a).sum()) / 3
"""


def test_a_grade_py_grades_and_its_score_is_rounded_to_five_digits(tmp_path: Path) -> None:
    root = write_competition(
        tmp_path / "c", metric="mistakes", grade_py=GRADE_BY_DISTANCE, leaderboard=[0, 0.5, 1, 2, 3]
    )
    competition = load_competition(root)
    assert competition.lower_is_better and competition.metric is None
    rows = [("a", "cat"), ("b", "cat"), ("c", "cat"), ("d", "bird")]
    report = grade_submission(submit(tmp_path, rows), competition)
    assert report.score == 0.33333 and report.is_lower_better and report.above_median


MLE_BENCH_INVALID = """
class InvalidSubmissionError(Exception):
    pass

def grade(submission, answers):
    raise InvalidSubmissionError("labels must be animals")
"""


def test_a_grade_py_that_refuses_the_submission_makes_it_invalid(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c", grade_py=MLE_BENCH_INVALID)
    report = grade_submission(submit(tmp_path, CLASSIFICATION_ANSWERS), load_competition(root))
    assert not report.valid_submission and report.score is None
    assert "labels must be animals" in report.message


@pytest.mark.parametrize(
    ("grade_py", "says"),
    [
        (
            "def grade(s, a):\n    raise KeyError('Transported')\n",
            "the grader raised KeyError: 'Transported'",
        ),
        ("def grade(s, a):\n    return float('nan')\n", "returned nan, not a finite number"),
        ("def grade(s, a):\n    return 'high'\n", "returned 'high', not a finite number"),
        ("def grade(s, a:\n", "importing it raised SyntaxError"),
        ("def score(s, a):\n    return 1.0\n", "defines no grade(submission_df, answers_df) function"),
    ],
)
def test_a_failing_grader_is_one_clear_line(tmp_path: Path, grade_py: str, says: str) -> None:
    root = write_competition(tmp_path / "c", grade_py=grade_py)
    with pytest.raises(GraderError) as caught:
        grade_submission(submit(tmp_path, CLASSIFICATION_ANSWERS), load_competition(root))
    assert says in str(caught.value) and "grade.py" in str(caught.value)
    assert "\n" not in str(caught.value)
