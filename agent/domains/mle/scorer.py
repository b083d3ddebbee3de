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

Prints `{"<metric key>": score}` (rounded to five decimals, as MLE-bench does); a bad
submission is one line on stderr and exit status 1.
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


class Refused(Exception):
    """The submission cannot be scored: the experiment fails with this one line."""


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
        raise RuntimeError(f"the grader called sys.exit({error.code!r})") from None
    except Exception as error:
        if type(error).__name__ == "InvalidSubmissionError":
            raise Refused(str(error)) from None
        raise
    if isinstance(value, bool | str | bytes) or type(value).__name__ == "bool_":
        # float() took True as 1.0 and "0.5" as 0.5; the grader pre-check refuses them (grading.py)
        raise RuntimeError(f"the grader returned {value!r}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise Refused(f"the grader returned {value}")
    return round(value, 5)


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
        return 1
    print(json.dumps({config["metric_key"]: value}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
