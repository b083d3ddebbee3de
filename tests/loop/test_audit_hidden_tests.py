"""`strop audit` lists every reading of the hidden test: on which experiment, what it scored, when.

The README said the audit "lists every such scoring", and it listed none: a reader saw that the
record was consistent, not how often the hidden answers were read. Real runs of the tiny task
(its `final` is the hidden test), read through the real CLI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from agent.home import strop_home

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def strop(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-W", "ignore", "-m", "agent.cli", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_hidden_test_scored_on_the_best_is_listed_in_text_and_json(tmp_path: Path) -> None:
    done = strop("run", str(make_task(tmp_path / "t", experiments=4)), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    run, best = result["run"], result["best"]
    value = best["final_metrics"]["score"]

    text = strop("audit", run)
    assert text.returncode == 0, text.stdout + text.stderr
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("hidden test: ")]
    assert re.fullmatch(
        rf"hidden test: {run}/{best['id']} score = {value:.6g} \({STAMP}, {best['id']}-final\.log\)", line
    ), line

    report = json.loads(strop("audit", run, "--json").stdout)
    (reading,) = report["hidden_tests"]
    assert reading["experiment"] == f"{run}/{best['id']}" and reading["value"] == value
    assert re.fullmatch(STAMP, reading["when"]) and reading["log"] == f"{best['id']}-final.log"
    assert reading["recorded"] is True


def test_a_reading_cut_short_is_listed_beside_the_one_recorded(tmp_path: Path) -> None:
    """A final phase cut short, then run again by a resume, read the hidden answers twice."""
    done = strop("run", str(make_task(tmp_path / "t", experiments=3)), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    run, best = result["run"], result["best"]["id"]
    logs = strop_home() / "runs" / run / "logs"
    shutil.copy(logs / f"{best}-final.log", logs / f"{best}-final-2.log")
    report = json.loads(strop("audit", run, "--json").stdout)
    assert [(r["log"], r["recorded"]) for r in report["hidden_tests"]] == [
        (f"{best}-final.log", True),
        (f"{best}-final-2.log", False),
    ]
    text = strop("audit", run).stdout
    assert f"hidden test: {run}/{best} read, no score recorded (a final phase cut short)" in text


SPOOF_TASK = """
[task]
name = "spoof"
goal = "Maximise score."

[evaluator]
command = "python3 evaluate.py"
final = "python3 evaluate.py --final"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
"""
EVALUATE = (
    'import json, sys\nimport solution\nprint(json.dumps({"score": solution.score("--final" in sys.argv)}))\n'
)
SOLUTION = """
def score(final):
    if final:  # strop's own words, printed by the candidate, then a failure
        print("# final phase graded: no score (stopped by the run's time budget after 0.1s (final))")
        raise SystemExit(1)
    return 1.0
"""


def test_a_hidden_test_with_no_score_says_strops_reason_not_the_candidates_words(tmp_path: Path) -> None:
    """A final phase with no score was listed as "failed, no score" whatever stopped it (a time
    budget read as a broken scorer); it says strop's verdict now, kept in the record. Not words read
    back from the log: there the candidate may print "stopped by the run's time budget" itself."""
    folder = tmp_path / "spoof"
    folder.mkdir()
    (folder / "task.toml").write_text(SPOOF_TASK)
    (folder / "evaluate.py").write_text(EVALUATE)
    (folder / "solution.py").write_text(SOLUTION)
    done = strop("eval", str(folder / "task.toml"), "--json")
    run = json.loads(done.stdout)["run"]
    report = json.loads(strop("audit", run, "--json").stdout)
    (reading,) = report["hidden_tests"]
    assert reading["value"] is None and reading["recorded"] is True
    assert reading["why"].startswith("the evaluator exited with status 1: "), reading["why"]
    line = next(line for line in strop("audit", run).stdout.splitlines() if line.startswith("hidden test:"))
    assert line.startswith(f"hidden test: {run}/0 no score: the evaluator exited with status 1: "), line


def test_the_hidden_test_line_says_why_there_was_no_score() -> None:
    from agent.cli.audit import _hidden_test_line
    from agent.loop.findings import HiddenTest

    why = "stopped by the run's time budget after 20.4s (scorer) while scoring these outputs"
    line = _hidden_test_line(HiddenTest("r/2", None, "2026-12-05T09:20:04Z", "2-final.log", why=why), "acc")
    assert line == f"hidden test: r/2 no score: {why} (2026-12-05T09:20:04Z, 2-final.log)"
    failed = _hidden_test_line(HiddenTest("r/2", None, None, ""), "accuracy")
    assert failed == "hidden test: r/2 failed, no score (log not here, no log)"
