"""A relative `--out` (or working folder) still gets the grader's pre-check.

The scorer runs with its own folder as cwd, so a relative folder handed down to it named nothing
there: the scorer refused the "missing" placeholder, the pre-check read that refusal as "the
grader ran", and a `return 1/0` grader went through to fail every experiment (exit 1, not 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grader_check import _judge, check_grader
from agent.domains.mle.grading import GraderError
from agent.domains.mle.scorer import REFUSED
from agent.domains.mle.workfolder import prepare_task
from sandbox.execution import Execution
from tests.mle.conftest import strop_mle
from tests.mle.test_run_refusals import DIABETES, diabetes

CRASHES = "def grade(submission, answers):\n    return 1 / 0\n"


def test_the_pre_check_refuses_a_crashing_grader_in_a_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = diabetes(tmp_path, grade_py=CRASHES)
    monkeypatch.chdir(tmp_path)
    folder = prepare_task(load_competition(root), Path("w"), seed=0, experiments=1)
    assert not folder.root.is_absolute()
    with pytest.raises(GraderError, match="ZeroDivisionError"):
        check_grader(load_competition(root), folder.root, timeout=30.0)


def test_mle_run_with_a_relative_out_refuses_a_crashing_grader_in_one_line(tmp_path: Path) -> None:
    root = diabetes(tmp_path, grade_py=CRASHES)
    done = strop_mle(tmp_path / "h", "run", str(root), "--time", "25s", "-n", "1", "--out", "w", cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "ZeroDivisionError" in done.stderr, done.stderr
    assert not (tmp_path / "w").exists()  # no half-made working folder


def test_a_refusal_for_a_missing_submission_is_the_checks_fault_not_a_pass() -> None:
    """Were the check's files not where the scorer looks, its refusal must not pass the grader."""
    competition = load_competition(DIABETES)
    said = "invalid submission.csv: submission file outputs/submission.csv does not exist\n"
    missing = Execution(exit_code=REFUSED, stdout="", stderr=said, wall_time=0.1)
    with pytest.raises(RuntimeError, match="gave the scorer no submission"):
        _judge(competition, "a placeholder", missing, 30.0, clamped=False)
    refused = Execution(exit_code=REFUSED, stdout="", stderr="predictions must be positive\n", wall_time=0.1)
    _judge(competition, "a placeholder", refused, 30.0, clamped=False)  # the grader ran: fine
