"""`strop mle grade` through the real command line, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.mle.conftest import CLASSIFICATION_ANSWERS, write_competition, write_csv


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_grade_json_prints_the_report(competition_dir: Path, tmp_path: Path) -> None:
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    done = strop("mle", "grade", str(submission), str(competition_dir), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["score"] == 1.0 and report["gold_medal"] is True and report["valid_submission"] is True
    assert report["competition_id"] == "tiny-accuracy"


def test_grade_in_words_and_an_invalid_submission(competition_dir: Path, tmp_path: Path) -> None:
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS[:2])
    done = strop("mle", "grade", str(submission), str(competition_dir))
    assert done.returncode == 0, done.stderr
    assert "invalid submission: 2 rows, expected 4" in done.stdout
    assert "thresholds over 10 teams: gold 1" in done.stdout


def test_a_broken_competition_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    (root / "leaderboard.csv").unlink()
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    done = strop("mle", "grade", str(submission), str(root))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "leaderboard.csv: missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_grader_that_raises_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c", grade_py="def grade(s, a):\n    return 1 / 0\n")
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    done = strop("mle", "grade", str(submission), str(root), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "the grader raised ZeroDivisionError" in done.stderr and "Traceback" not in done.stderr


def test_each_run_gets_a_working_folder_of_its_own(tmp_path: Path) -> None:
    from agent.home import fresh_folder as _fresh_folder

    assert _fresh_folder(tmp_path, "c-s0") == tmp_path / "c-s0"
    (tmp_path / "c-s0").mkdir()
    (tmp_path / "c-s0-2").mkdir()
    assert _fresh_folder(tmp_path, "c-s0") == tmp_path / "c-s0-3"
