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


def test_a_count_out_of_range_is_one_line_and_exit_2(competition_dir: Path, tmp_path: Path) -> None:
    """Typer's own range check printed a boxed, multi-line error."""
    for flag, value in (("--parallel", "0"), ("-n", "0"), ("--folds", "0"), ("--folds", "21")):
        done = strop("mle", "run", str(competition_dir), flag, value, "--out", str(tmp_path / "w"))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "─" not in done.stderr and "must be at" in done.stderr or "at most 20" in done.stderr
        assert not (tmp_path / "w").exists()


def test_mle_report_shows_a_long_competition_id_whole(tmp_path: Path) -> None:
    """Ids were cut at 22 characters: two competitions could read the same."""
    names = ["denoising-dirty-documents-2024", "denoising-dirty-documents-2025", "short"]
    for name in names:
        report = {
            "competition_id": name,
            "submission_exists": True,
            "valid_submission": True,
            "gold_medal": False,
            "silver_medal": True,
            "bronze_medal": False,
            "score": 0.5,
        }
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(report), encoding="utf-8")
    done = strop("mle", "report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in names:
        assert any(line.startswith(name + " ") for line in lines), done.stdout
    short = next(line for line in lines if line.startswith("short"))
    assert lines[0].index("runs") + 3 == short.index("    1") + 4  # the counts under their heading
