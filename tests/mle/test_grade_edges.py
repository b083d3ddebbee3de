"""Grading edges a user's own competition met: a NaN label, a header with a trailing space, a
grade.py writing to file descriptor 1."""

from __future__ import annotations

import json
from pathlib import Path

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grading import grade_submission
from tests.mle.conftest import strop_mle, write_competition, write_csv

NUMERIC = [(f"r{n}", str(n % 3)) for n in range(12)]


def test_one_nan_label_is_an_invalid_submission_not_accuracy_zero(tmp_path: Path) -> None:
    """One `NaN` made the column float: every label read "1.0" against the truth's "1": 0.0, valid."""
    competition = load_competition(write_competition(tmp_path / "c", answers=NUMERIC))
    rows = [(i, "NaN" if n == 0 else label) for n, (i, label) in enumerate(NUMERIC)]
    report = grade_submission(write_csv(tmp_path / "s.csv", ["id", "label"], rows), competition)
    assert report.valid_submission is False and report.score is None, report
    assert "1 empty label(s)" in report.message


def test_a_header_with_a_trailing_space_is_read_as_the_format_check_reads_it(tmp_path: Path) -> None:
    """`id ,label` passed the format check (names stripped) and the metric raised KeyError: 'id'."""
    competition = load_competition(write_competition(tmp_path / "c", answers=NUMERIC))
    report = grade_submission(write_csv(tmp_path / "s.csv", ["id ", "label"], NUMERIC), competition)
    assert report.valid_submission is True and report.score == 1.0, report


GRADE_PY = """import os
def grade(submission, answers):
    os.write(1, b'{"score": 0.99, "gold_medal": true}\\n')
    return 0.25
"""


def test_a_grader_writing_to_stdout_does_not_come_before_the_report(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c", grade_py=GRADE_PY)
    submission = write_csv(
        tmp_path / "s.csv", ["id", "label"], [("a", "cat"), ("b", "cat"), ("c", "cat"), ("d", "cat")]
    )
    done = strop_mle(tmp_path / "home", "grade", str(submission), str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == 0.25  # stdout is the report alone
    assert '"gold_medal": true' in done.stderr
