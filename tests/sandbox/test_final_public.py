"""`final_public`: the final phase's own public data (a refit on every training row), in a real sandbox.

The candidate reads `rows.txt` from $STROP_PUBLIC and writes how many rows it saw; the
scorer prints that number. So the score says which public folder stage `run` was given.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evaluators.spec import EvaluatorSpec
from evaluators.staged import StagedEvaluator
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator

RUN = """
import os, sys
from pathlib import Path
rows = (Path(os.environ["STROP_PUBLIC"]) / "rows.txt").read_text().split()
if "crash" in rows:
    sys.exit("the refit does not fit")
if "slow" in rows:
    import time
    time.sleep(60)
(Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").write_text(str(len(rows)))
"""

SCORE = """
import json, os, sys
from pathlib import Path
seen = (Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").read_text()
answers = (Path(os.environ["STROP_PRIVATE"]) / "answers.txt").read_text()
if seen == "0":
    sys.exit("refused: no rows")
print(json.dumps({"rows": int(seen), "answers": len(answers)}))
"""


def evaluator(tmp_path: Path, final_rows: str) -> StagedEvaluator:
    files = {
        "work/run.py": RUN,
        "scorer/score.py": SCORE,
        "public/rows.txt": "a b c",
        "final_public/rows.txt": final_rows,
        "private/answers.txt": "v",
        "final_private/answers.txt": "final",
    }
    return final_phase_evaluator(tmp_path, files)


def test_the_final_phase_reads_its_own_public_data(tmp_path: Path) -> None:
    judge = evaluator(tmp_path, "a b c d e")
    validate = judge.evaluate(tmp_path / "work", "0")
    assert validate.status is Status.OK and validate.metrics == {"rows": 3.0, "answers": 1.0}
    final = judge.evaluate(tmp_path / "work", "0", phase="final")
    assert final.status is Status.OK and final.metrics == {"rows": 5.0, "answers": 5.0}


def test_a_refit_that_fails_is_graded_as_it_was_selected(tmp_path: Path) -> None:
    """The refit's run stage fails before the answers are copied in: one more run, on `public`."""
    final = evaluator(tmp_path, "a crash").evaluate(tmp_path / "work", "0", phase="final")
    assert final.status is Status.OK and final.metrics == {"rows": 3.0, "answers": 5.0}
    log = Path(final.log_path).read_text()
    assert "the refit does not fit" in log and "running it again on the public data it was selected" in log


def test_a_slow_refit_leaves_time_for_the_run_as_selected(tmp_path: Path) -> None:
    """The refit may take 60% of what is left before the deadline; the second run has the rest."""
    judge = evaluator(tmp_path, "a slow")
    started = time.time()
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=started + 20)
    assert final.status is Status.OK and final.metrics == {"rows": 3.0, "answers": 5.0}
    assert 12 <= time.time() - started < 20  # the refit was stopped at 60% of the 20 s


def test_a_refit_the_scorer_refused_is_not_run_again(tmp_path: Path) -> None:
    """Once the scorer has read the final answers, their one read is spent: no second try."""
    final = evaluator(tmp_path, "").evaluate(tmp_path / "work", "0", phase="final")
    assert final.status is not Status.OK and "no rows" in final.reason
    assert "running it again" not in Path(final.log_path).read_text()


@pytest.mark.parametrize("bad", [{"final_private": None}, {"run": None, "score": None, "scorer": None}])
def test_final_public_belongs_to_a_two_stage_task_with_a_final_phase(bad: dict[str, None]) -> None:
    given = {
        "run": "python run.py",
        "score": "python score.py",
        "scorer": "scorer",
        "final_private": "p",
        "final_public": "fp",
        "metric": "m",
        "direction": "maximize",
    }
    extra = {"command": "python evaluate.py"} if "run" in bad else {}
    with pytest.raises(ValueError, match="final_public"):
        EvaluatorSpec(**{**given, **bad, **extra})
