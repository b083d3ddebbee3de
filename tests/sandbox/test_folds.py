"""`folds`: the validate phase as a cross-validation no candidate can forge, in a real sandbox.

Each fold's run stage gets its own fresh copy and only its fold's public folder; its scorer
alone reads the fold's private folder. The candidate reports what it could see (rows of its
fold, the folders beside its public one, a mark an earlier fold may have left) and the
scorer passes that on with the fold's private answer, so the metrics say what each stage saw.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.task import TaskSpecError, load_task
from evaluators.spec import EvaluatorSpec
from evaluators.staged import StagedEvaluator, fold_means
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator

RUN = """
import json, os, sys
from pathlib import Path
public = Path(os.environ["STROP_PUBLIC"])
rows = (public / "rows.txt").read_text().split()
if "crash" in rows:
    sys.exit("this fold does not fit")
mark = Path("/tmp/strop-fold-mark")
carried = mark.exists() or Path("mark").exists()
mark.write_text("x")
Path("mark").write_text("x")
beside = sorted(p.name for p in public.parent.iterdir())
seen = {"rows": len(rows), "beside": len(beside), "carried": int(carried)}
(Path(os.environ["STROP_OUTPUTS"]) / "seen.json").write_text(json.dumps(seen))
"""

SCORE = """
import json, os
from pathlib import Path
seen = json.loads((Path(os.environ["STROP_OUTPUTS"]) / "seen.json").read_text())
seen["fold"] = int((Path(os.environ["STROP_PRIVATE"]) / "answer.txt").read_text())
print(json.dumps(seen))
"""


def evaluator(
    tmp_path: Path, rows: list[str], backend: str = "bwrap", final_rows: str = "all"
) -> StagedEvaluator:
    files = {"work/run.py": RUN, "scorer/score.py": SCORE, "final_public/rows.txt": final_rows}
    for k, text in enumerate(rows):
        files[f"public/fold-{k}/rows.txt"] = text
        files[f"private/fold-{k}/answer.txt"] = str(k)
    files["final_private/answer.txt"] = "9"
    return final_phase_evaluator(tmp_path, files, backend, folds=len(rows))


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_each_fold_sees_its_own_data_alone_and_the_metrics_are_the_means(
    tmp_path: Path, backend: str
) -> None:
    judge = evaluator(tmp_path, ["a", "a b", "a b c"], backend)
    verdict = judge.evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.OK, verdict.reason
    # rows 1, 2, 3 and private answers 0, 1, 2: each fold read its own folders
    assert verdict.metrics == {"rows": 2.0, "fold": 1.0, "beside": 1.0, "carried": 0.0}
    log = Path(verdict.log_path).read_text()
    assert "# fold 3 of 3" in log and "rows by fold: 1, 2, 3; mean 2.0" in log
    final = judge.evaluate(tmp_path / "work", "0", phase="final")  # once, on the final phase's data
    assert final.status is Status.OK and final.metrics["rows"] == 1.0 and final.metrics["fold"] == 9.0


def test_a_refit_that_fails_is_graded_on_the_first_fold(tmp_path: Path) -> None:
    """The fallback after a failed refit needs whole public data: the folds' root is none."""
    judge = evaluator(tmp_path, ["a", "a b", "a b c"], final_rows="crash")
    final = judge.evaluate(tmp_path / "work", "0", phase="final")
    assert final.status is Status.OK, final.reason
    assert final.metrics["rows"] == 1.0 and final.metrics["fold"] == 9.0  # fold-0's rows, final answers
    assert "running it again on the public data it was selected" in Path(final.log_path).read_text()


def test_a_fold_that_fails_fails_the_experiment_and_says_which(tmp_path: Path) -> None:
    verdict = evaluator(tmp_path, ["a", "crash", "a b c"]).evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.BUGGY
    assert (
        verdict.reason.startswith("fold 2 of 3:")
        and "# fold 3 of 3" not in Path(verdict.log_path).read_text()
    )


def test_fold_means_keep_only_what_every_fold_reported() -> None:
    assert fold_means([{"a": 1.0, "b": 4.0}, {"a": 3.0}]) == {"a": 2.0}
    assert fold_means([]) == {}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"public": None}, "needs the two-stage form"),
        ({"final_public": None}, "give `final_public`"),
    ],
)
def test_folds_need_per_fold_folders_and_a_final_phase_of_its_own(given: dict, message: str) -> None:
    spec = {
        "run": "python run.py",
        "score": "python score.py",
        "scorer": "scorer",
        "public": "public",
        "private": "private",
        "final_private": "final_private",
        "final_public": "final_public",
        "folds": 3,
        "metric": "m",
        "direction": "maximize",
    }
    with pytest.raises(ValidationError, match=message):
        EvaluatorSpec(**{**spec, **given})


def test_a_missing_fold_folder_is_named_when_the_task_loads(tmp_path: Path) -> None:
    for folder in ("ws", "scorer", "public/fold-0", "public/fold-1", "private/fold-0"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "task.toml").write_text(
        '[task]\nname = "t"\ngoal = "g"\nworkspace = "ws"\n'
        '[evaluator]\nrun = "python run.py"\nscore = "python score.py"\nscorer = "scorer"\n'
        'public = "public"\nprivate = "private"\nfolds = 2\nmetric = "m"\ndirection = "maximize"\n'
    )
    with pytest.raises(TaskSpecError, match="has no folder fold-1"):
        load_task(tmp_path / "task.toml")
