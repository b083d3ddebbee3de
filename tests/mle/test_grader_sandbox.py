"""The grade.py pre-check runs the grader as every scoring does: the run's scorer, in its sandbox.

Before, `check_grader` imported grade.py into strop itself: a grader that printed 45 MB flooded
the terminal and passed, then every sandboxed scoring was killed for its output; one that read
/etc/passwd and wrote outside its folder passed, then failed in every scoring; one that hung held
`--time 20s` for 66 s (a fixed 60 s limit). And a grader that failed only on the hidden test was
blamed on the submission or on `--time` (exit 1), not on the competition (exit 2).
On a real bundled competition (strop-diabetes: 309 training rows, 133 test rows, rmse).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.final_failure import final_failure
from agent.domains.mle.grader_check import check_grader
from agent.domains.mle.grading import GraderError
from agent.domains.mle.workfolder import prepare_task
from tests.mle.test_run_refusals import diabetes, strop

RMSE = "    return float(((submission.target - answers.target) ** 2).mean() ** 0.5)\n"


def prepared(tmp_path: Path, grade_py: str) -> tuple[object, Path]:
    root = diabetes(tmp_path, grade_py=grade_py)
    folder = prepare_task(load_competition(root), tmp_path / "prepared", seed=0, experiments=1)
    return load_competition(root), folder.root


def test_a_grader_that_prints_too_much_is_refused_without_flooding_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    noisy = f"print('X' * 3_000_000)\ndef grade(submission, answers):\n    print('Y' * 3_000_000)\n{RMSE}"
    competition, folder = prepared(tmp_path, noisy)
    with pytest.raises(GraderError, match="printed more than 1 MiB") as refused:
        check_grader(competition, folder, timeout=60.0)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)
    printed = capfd.readouterr()
    assert len(printed.out) + len(printed.err) < 10_000  # not the grader's 6 MB
    assert not (folder / ".grader-check").exists()
    quiet = f"print('hello')\ndef grade(submission, answers):\n    print('scored')\n{RMSE}"
    competition, folder = prepared(tmp_path / "quiet", quiet)
    check_grader(competition, folder, timeout=60.0)  # type: ignore[arg-type]  # a little output is fine


def test_a_grader_that_needs_what_its_sandbox_lacks_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "wrote.txt"
    outside.parent.mkdir()
    grade_py = f"from pathlib import Path\ndef grade(submission, answers):\n    Path({str(outside)!r}).write_text('x')\n{RMSE}"
    competition, folder = prepared(tmp_path, grade_py)
    with pytest.raises(
        GraderError, match="placeholder submission of the holdout the grader raised"
    ) as refused:
        check_grader(competition, folder, timeout=60.0)  # type: ignore[arg-type]
    assert "sandbox" in str(refused.value) and "wrote.txt" in str(refused.value)
    assert not outside.exists()  # it never ran in strop's own process


def test_a_hanging_grader_is_bounded_by_the_time_given(tmp_path: Path) -> None:
    competition, folder = prepared(
        tmp_path, "import time\ndef grade(submission, answers):\n    time.sleep(600)\n"
    )
    began = time.monotonic()
    with pytest.raises(
        GraderError, match=r"did not finish on a placeholder submission .* within 3s \(what --time left it\)"
    ):
        check_grader(competition, folder, timeout=3.0)  # type: ignore[arg-type]
    assert time.monotonic() - began < 10.0  # was a fixed 60 s


def test_mle_run_with_a_hanging_grader_ends_within_its_time(tmp_path: Path) -> None:
    root = diabetes(tmp_path, grade_py="import time\ndef grade(submission, answers):\n    time.sleep(600)\n")
    began = time.monotonic()
    done = strop("mle", "run", str(root), "--time", "10s", "--out", str(tmp_path / "w"), home=tmp_path / "h")
    took = time.monotonic() - began
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "did not finish" in done.stderr and "what --time left it" in done.stderr
    assert took < 10.0 + 2.0, took  # took 66 s with --time 20s


def test_a_grader_that_is_nan_only_on_the_hidden_test_is_the_grader_error_exit_2(tmp_path: Path) -> None:
    """Fine on the 62 held-out rows (the pre-check, one holdout), NaN on the 133 hidden ones."""
    grade_py = (
        f"def grade(submission, answers):\n    if len(answers) == 133:\n        return float('nan')\n{RMSE}"
    )
    root = diabetes(tmp_path, grade_py=grade_py)
    out = tmp_path / "w"
    done = strop(
        "mle",
        "run",
        str(root),
        "--time",
        "60s",
        "-n",
        "1",
        "--folds",
        "1",
        "--out",
        str(out),
        home=tmp_path / "h",
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    last = done.stderr.strip().splitlines()[-1]
    assert "grade.py: on the hidden test the grader returned nan, not a finite number" in last
    assert "--time" not in last and (out / "report.json").is_file()  # the report is still written


SCORED = "$ python -I score.py   # stage score\n# backend=bwrap exit={code} killed_by={killed} wall={wall}s\n--- stdout ---\n\n--- stderr ---\n{said}\n"


def test_a_final_grading_that_hangs_far_past_its_selection_time_is_the_graders(tmp_path: Path) -> None:
    validate, final = tmp_path / "0-validate.log", tmp_path / "0-final.log"
    validate.write_text(SCORED.format(code=0, killed="None", wall="0.8", said=""), encoding="utf-8")
    hung = SCORED.format(code="None", killed="timeout", wall="6.1", said="")
    final.write_text(
        hung + "# final phase graded: no score (stopped by the run's time budget after 6.1s (scorer))\n"
    )
    failure = final_failure(final, validate, "c/grade.py", (300, 500))
    assert (
        failure.grader
        == "c/grade.py: the grader did not finish on the hidden test within 6.1s (it graded 300 held-out rows in 0.8s)"
    )
    assert "--time" not in failure.words
    # cut short, not hung: 2 s for a grader that took 0.8 s on 300 rows and has 500 now
    final.write_text(hung.replace("wall=6.1s", "wall=2.0s") + "stopped by the run's time budget\n")
    failure = final_failure(final, validate, "c/grade.py", (300, 500))
    assert failure.grader == "" and "a longer --time leaves it more" in failure.words
    # raised on the hidden test: the scorer's exit status 2 says the grader failed
    final.write_text(SCORED.format(code=2, killed="None", wall="1.0", said="the grader raised KeyError: 'x'"))
    assert final_failure(final, validate, "c/grade.py", (300, 500)).grader.endswith(
        "on the hidden test the grader raised KeyError: 'x'"
    )
    # the submission refused (exit status 1): not the grader's fault
    final.write_text(SCORED.format(code=1, killed="None", wall="1.0", said="rmsle needs values above -1"))
    assert final_failure(final, validate, "c/grade.py", (300, 500)).grader == ""
