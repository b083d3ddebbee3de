"""`strop run` (and `strop mle run`, which shares its display) never goes silent on stderr.

Off a terminal the live bar shows nothing, and with --json there was no progress at all: a
run whose experiment took 25 s printed nothing for 25 s, a `--json` run nothing for its
whole budget. Now the experiment lines go to stderr with --json too, and a heartbeat line
says what is under way whenever nothing was printed for `agent.cli.heartbeat.EVERY` seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.cli.run import _Progress
from agent.loop.events import ExperimentFinished, ExperimentStarted, Note, RunStarted, RunStopped

from .conftest import EVALUATOR, make_task
from .test_cli import strop


def test_heartbeat_names_what_is_under_way(capsys: pytest.CaptureFixture[str]) -> None:
    with _Progress("score", json_out=True, heartbeat=0.3) as progress:
        progress(RunStarted("r1", "tiny", "evolve", "tournament", "time left: 60s"))
        progress(ExperimentStarted(0, None, "baseline", 1))
        time.sleep(0.9)
        running = capsys.readouterr().err
        progress(ExperimentFinished(0, 1, "ok", 1.0, "", "as it is", 0, 1.0, 1, None))
        progress(ExperimentStarted(1, 0, "sample", 1))
        progress(Note("experiment 1 not evaluated: 3s left, an evaluation takes about 9s"))
        time.sleep(0.9)
        between = capsys.readouterr().err
        progress(RunStopped("r1", "time budget spent", 0, 1.0))
        time.sleep(0.9)
        closing = capsys.readouterr().err
    assert "run r1 started" in running and "experiment 0 (baseline): preparing (" in running
    assert "since the command started" in running
    assert "0 ok score = 1" in between and "between experiments for" in between
    assert "experiment 1 (sample)" not in between  # left pending: it runs no more
    assert "stopped: time budget spent" in closing and "closing" in closing


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with _Progress("score", quiet=True, json_out=True, heartbeat=0.2) as progress:
        progress(RunStarted("r1", "tiny", "evolve", "tournament", "time left: 60s"))
        progress(ExperimentStarted(0, None, "baseline", 1))
        time.sleep(0.6)
    assert capsys.readouterr().err == ""


def test_a_long_experiment_under_json_keeps_stderr_alive_and_the_time_budget(tmp_path: Path) -> None:
    """`--time 40s --json` with a 14 s evaluation: on time, stdout pure JSON, no 15 s of silence.

    40 s, not 30: before any evaluation the final phase keeps a sixth of the budget, and on a
    loaded CI machine (another suite beside it) experiment 0 once did not end within the 25 s
    left to the search, so the run had no best; it takes about 20 s at load 4."""
    task = make_task(tmp_path / "t", experiments=1000, sleep=14)
    folder = task.parent
    (folder / "final.py").write_text(EVALUATOR.replace('float(os.environ.get("EVAL_SLEEP", "0"))', "0"))
    task.write_text(task.read_text().replace('final = "python evaluate.py"', 'final = "python final.py"'))
    budget = 40.0
    started = time.monotonic()
    done = strop("run", str(task), "--time", f"{budget:g}s", "--json")
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert wall <= budget * 1.1, f"--time {budget:g}s took {wall:.1f}s\n{done.stderr}"
    result = json.loads(done.stdout)
    assert result["best"] is not None, done.stderr
    assert result["best"]["final_metrics"] is not None  # the final phase ran, nothing lost
    err = done.stderr
    assert "started · task tiny" in err and "0 ok score" in err and "stopped: " in err
    assert "experiment 0 (baseline): evaluating (" in err, err  # the heartbeat during the 14 s
