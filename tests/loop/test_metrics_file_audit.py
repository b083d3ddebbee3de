"""`metrics_file` on a real run of the tiny task: its metrics are in each evaluation log, so the
audit compares them as it does a printed score, and what was left out is said.

Before, a log held the stage's stdout only: with `metrics_file` the audit could check no more
than that each log was there and unchanged (said as a note), so an edited score went unseen.
A run of an older strop (logs without the line) stays whole, with that note.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agent.experiments import ExperimentRepo
from agent.home import strop_home
from agent.records import best_experiment
from agent.run_index import RunIndex
from evaluators.command import METRICS_FILE_LOGGED

from .conftest import make_task
from .test_audit_cli import Made, audit, has, problems, strop

WRITES = 'open("m.json", "w").write(json.dumps({"score": score, "cpu": None, "aux_nan": float("nan")}))'
OLDER = "which the logs of an older strop do not keep"


@pytest.fixture
def made(tmp_path: Path) -> Made:
    """The tiny task with its evaluator writing a UTF-8 byte-order mark and its metrics (two of
    them not numbers) to `m.json`, not stdout; a finished run of 5 experiments."""
    task = make_task(tmp_path / "t", experiments=5)
    evaluate = task.parent / "evaluate.py"
    source = evaluate.read_text().replace('print(json.dumps({"score": score}))', WRITES)
    evaluate.write_text(source.replace(WRITES, WRITES.replace('"w").write(', '"w").write("\\ufeff" + ')))
    task.write_text(task.read_text().replace('metric = "score"', 'metric = "score"\nmetrics_file = "m.json"'))
    done = strop("run", str(task), "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run"]
    index = RunIndex(strop_home())
    run = index.find_run(run_id)
    best = best_experiment(index.experiments(run_id), run.metric, run.direction)
    assert best is not None
    repo = ExperimentRepo.open(Path(run.repo), strop_home())
    return Made(run_id, repo, best.id, strop_home() / "runs" / run_id / "logs")


def test_the_metrics_read_from_the_file_are_logged_and_checked(made: Made) -> None:
    record = made.record(0)
    assert record["status"] == "ok" and set(record["metrics"]) == {"score"}, (
        record
    )  # the BOM is read as absent
    log = (made.logs / "0-validate.log").read_text()
    assert f"{METRICS_FILE_LOGGED}{json.dumps(record['metrics'])}\n" in log
    done = audit(made.id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 evaluation logs checked" in done.stdout and OLDER not in done.stderr, done.stderr
    shown = strop("show", f"{made.id}/0")
    said = " ".join(shown.stdout.split())
    assert "other metrics left out, not finite numbers: cpu (null), aux_nan (NaN)" in said, said


def test_an_edited_score_is_caught(made: Made) -> None:
    exp = made.other()
    made.edit_note(exp, lambda note: note["metrics"].update(score=note["metrics"]["score"] - 1))
    lines = problems(audit(made.id))
    assert has(
        lines, f"{made.id}/{exp}'s recorded metrics are not its evaluation log's", "recorded", "logged"
    )


def test_a_run_of_an_older_strop_is_whole_with_a_note(made: Made) -> None:
    """Its logs hold no line of the metrics read (and its notes the sha256 of those logs)."""
    for exp in range(5):
        log = made.logs / f"{exp}-validate.log"
        older = "".join(
            line
            for line in log.read_text().splitlines(keepends=True)
            if not line.startswith(METRICS_FILE_LOGGED)
        )
        log.write_text(older)
        digest = hashlib.sha256(older.encode()).hexdigest()
        made.edit_note(exp, lambda note, digest=digest: note.update(log_digest=digest))
    made.forget_history()  # else the audit sees the notes' edits in their history
    done = audit(made.id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert OLDER in " ".join(done.stderr.split()), done.stderr
