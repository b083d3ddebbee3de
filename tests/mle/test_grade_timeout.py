"""`strop mle grade --timeout`: a grade.py that hangs (in its grade call or its import) ends in one
line, exit status 2, instead of hanging the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grading import GraderError, grade_submission
from tests.mle.conftest import CLASSIFICATION_ANSWERS, write_competition, write_csv

HANGS = "import time\n\n\ndef grade(submission, answers):\n    time.sleep(600)\n"
HANGS_ON_IMPORT = "import time\n\ntime.sleep(600)\n\n\ndef grade(submission, answers):\n    return 1.0\n"
SWALLOWS = (
    "import time\n\n\ndef grade(submission, answers):\n    try:\n        time.sleep(600)\n"
    "    except Exception:\n        return 1.0\n"
)


def strop(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STROP_HOME": str(home)},
    )


def test_a_hanging_grader_is_stopped_at_the_timeout_in_one_line(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c", grade_py=HANGS)
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    started = time.monotonic()
    done = strop("mle", "grade", str(submission), str(root), "--timeout", "2s", home=tmp_path / "h")
    assert time.monotonic() - started < 60
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "the grader did not finish within 2s" in done.stderr, done.stderr
    assert "--timeout" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("grade_py", [HANGS_ON_IMPORT, SWALLOWS])
def test_the_timeout_holds_on_import_and_through_except_exception(tmp_path: Path, grade_py: str) -> None:
    root = write_competition(tmp_path / "c", grade_py=grade_py)
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    with pytest.raises(GraderError, match="did not finish within 1s"):
        grade_submission(submission, load_competition(root), timeout=1.0)


def test_a_quick_grader_passes_and_leaves_no_timer(tmp_path: Path) -> None:
    import signal

    root = write_competition(tmp_path / "c", grade_py="def grade(submission, answers):\n    return 0.5\n")
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    assert grade_submission(submission, load_competition(root), timeout=30.0).score == 0.5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_timeout_is_in_the_help_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    shown = strop("mle", "grade", "--help", home=tmp_path / "h")
    assert "--timeout" in shown.stdout and "10m" in shown.stdout
    root = write_competition(tmp_path / "c")
    done = strop("mle", "grade", "s.csv", str(root), "--timeout", "soon", home=tmp_path / "h")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--timeout" in done.stderr, done.stderr


def test_a_grader_that_swallows_the_limit_still_ends_in_one_line(tmp_path: Path) -> None:
    """`while True: try: … except: pass` caught the one exception the limit raised and never returned."""
    swallows_all = (
        "import time\n\n\ndef grade(submission, answers):\n    while True:\n        try:\n"
        "            time.sleep(0.5)\n        except:  # noqa: E722\n            pass\n"
    )
    root = write_competition(tmp_path / "c", grade_py=swallows_all)
    submission = write_csv(tmp_path / "submission.csv", ["id", "label"], CLASSIFICATION_ANSWERS)
    started = time.monotonic()
    done = strop("mle", "grade", str(submission), str(root), "--timeout", "1s", home=tmp_path / "h")
    assert time.monotonic() - started < 60
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "the grader did not finish within 1s" in done.stderr, done.stderr
