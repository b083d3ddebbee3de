"""The trusted scorer of `strop mle run`: stage `score`, in its own sandbox, never shown to candidates.

`strop mle run` copies this file as `score.py` into the task's scorer folder, beside
`metrics.py`, `submission_format.py`, the competition's `grade.py` when it has one, and
`scoring.json` (metric, id column, the files of each phase). It imports nothing from
strop: the sandbox has the Python runtime, not strop's source.

Both phases first check `submission.csv` in $STROP_OUTPUTS against the public sample
submission (format only, the competitors' "validate" step): an invalid one ends the
experiment with its reason. Then:

- phase `validate` (selection): grades `holdout.csv` against the held-out rows of the
  public train split ($STROP_PRIVATE holds only those), with the competition's metric;
- phase `final` (once, on the chosen experiment): grades `submission.csv` against the
  competition's private answers, the only time they are read in a run.

Prints `{"<metric key>": score}` (rounded to five decimals, as MLE-bench does). Anything else
is one line on stderr, last, and an exit status that says whose fault it is, which the grader
pre-check (`grader_check`) and the report of a final grading (`runner`) read:
`REFUSED` (1) the submission is wrong, `GRADER_FAILED` (2) the grader raised, called `sys.exit`
or returned no number, `NOT_FINITE` (3) it returned NaN or an infinity (a candidate's constant
predictions can make a correlation NaN; on the hidden test it is the grader's fault),
`SCORER_FAILED` (4) anything else raised here (answers that cannot be read, a missing
variable): Python's own status for an uncaught exception is 1, which read as a refusal, and
the pre-check passed a competition whose every scoring would fail.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REFUSED = 1
GRADER_FAILED = 2
NOT_FINITE = 3
SCORER_FAILED = 4


class Refused(Exception):
    """The submission cannot be scored: the experiment fails with this one line."""

    code = REFUSED


class GraderFailed(Refused):
    """The grader failed on a well-formed submission (raised, exited, returned no number)."""

    code = GRADER_FAILED


class NotFinite(Refused):
    """The grader returned NaN or an infinity."""

    code = NOT_FINITE


def sibling(name: str) -> ModuleType:
    """Import `name.py` from this folder (works under `python -I`, which leaves it off sys.path)."""
    spec = importlib.util.spec_from_file_location(f"_mle_scorer_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def score(config: dict[str, Any], phase: str, outputs: Path, public: Path, private: Path) -> float:
    """The phase's score of the candidate's outputs, or `Refused` with the reason."""
    formats = sibling("submission_format")
    id_column = config["id_column"]
    problem = formats.format_problem(outputs / "submission.csv", public / config["sample"], id_column)
    if problem:
        raise Refused(f"invalid submission.csv: {problem}")
    files = config["phases"][phase]
    if files["predictions"] != "submission.csv":
        problem = formats.format_problem(outputs / files["predictions"], public / files["sample"], id_column)
        if problem:
            raise Refused(f"invalid {files['predictions']}: {problem}")

    ids = {id_column: str}  # `00240` stays text on both sides, as the format check reads it
    # The competition's own answers may be `;`-separated or compressed (`answers.csv.gz`).
    answers_path, sample_path = private / files["answers"], public / files["sample"]
    predictions_path = outputs / files["predictions"]
    predictions = formats.read_csv(predictions_path, dtype=ids)
    answers = formats.read_csv(answers_path, dtype=ids)
    predicted = list(formats.read_csv(sample_path, nrows=0).columns)
    return grade(config, predictions, answers, predicted)


def grade(
    config: dict[str, Any], predictions: Any, answers: Any, predicted: list[str] | None = None
) -> float:
    """The metric's score; `predicted` (the sample's columns) names the targets among the answers'."""
    metrics = sibling("metrics")
    try:
        with redirect_stdout(sys.stderr):  # stdout carries the score's JSON alone
            if config.get("grade_file"):
                value = sibling(Path(config["grade_file"]).stem).grade(predictions, answers)
            else:
                metric = metrics.find_metric(config["metric"])
                value = metrics.grade_frames(
                    metric, predictions, answers, config["id_column"], predicted or ()
                )
    except metrics.InvalidSubmission as error:
        raise Refused(str(error)) from None
    except SystemExit as error:
        raise GraderFailed(f"the grader raised SystemExit (it called sys.exit({error.code!r}))") from None
    except Exception as error:
        if type(error).__name__ == "InvalidSubmissionError":
            raise Refused(str(error)) from None
        import traceback

        traceback.print_exc()  # for the log; the last line says it in one
        raise GraderFailed(f"the grader raised {type(error).__name__}: {error}") from None
    return finite(value)


def finite(value: Any) -> float:
    """The grader's value as a score rounded to five digits, or why it is none (`GraderFailed`, `NotFinite`)."""
    # float() takes True as 1.0 and "0.5" as 0.5: a grader that returns them is wrong
    number = not isinstance(value, bool | str | bytes) and type(value).__name__ != "bool_"
    try:
        score = float(value) if number else math.nan
    except (TypeError, ValueError):
        number = False
    if not number:
        raise GraderFailed(f"the grader returned {shown(value)}, not a finite number")
    if not math.isfinite(score):
        raise NotFinite(f"the grader returned {score}, not a finite number")
    return round(score, 5)


def shown(value: Any) -> str:
    """A returned value in a one-line message: its repr, cut short, with its type unless plain."""
    text = repr(value).splitlines()[0] if repr(value) else type(value).__name__
    text = text if len(text) <= 60 else text[:57] + "..."
    plain = isinstance(value, int | float | str | bool | type(None))
    return text if plain else f"{text} ({type(value).__name__})"


def main() -> int:
    config = json.loads((HERE / "scoring.json").read_text(encoding="utf-8"))
    phase = os.environ.get("STROP_PHASE", "validate")
    try:
        value = score(
            config,
            phase,
            Path(os.environ["STROP_OUTPUTS"]),
            Path(os.environ["STROP_PUBLIC"]),
            Path(os.environ["STROP_PRIVATE"]),
        )
    except Refused as error:
        print(str(error).splitlines()[0] if str(error) else "refused", file=sys.stderr)
        return error.code
    except Exception as error:
        import traceback

        traceback.print_exc()  # for the log; the last line says it in one
        print(f"the scorer failed: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return SCORER_FAILED
    print(json.dumps({config["metric_key"]: value}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
