"""Which way is better, when the user did not say: from the metric's name, then the goal's words.

`strop init --metric seconds --goal "make bench.py faster"` once wrote `direction = "maximize"`
without a word, and the run searched for the slowest code. Now the direction is read from the
name (or the goal), said in one note with the flag that changes it; and `strop run` says when a
task file's metric name reads the other way than its `direction`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.metric_words import chosen, from_goal, from_metric

BENCH = 'import json\nprint(json.dumps({"%s": 1.5}))\n'


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("seconds", "minimize"),
        ("loss", "minimize"),
        ("val_loss", "minimize"),
        ("rmse", "minimize"),
        ("mae", "minimize"),
        ("mse", "minimize"),
        ("error", "minimize"),
        ("time", "minimize"),
        ("latency", "minimize"),
        ("cost", "minimize"),
        ("runtime_s", "minimize"),
        ("p95LatencyMs", "minimize"),
        ("peak_mb", "minimize"),
        ("error_count", "minimize"),
        ("errors_per_second", "minimize"),
        ("accuracy", "maximize"),
        ("val_acc", "maximize"),
        ("auc", "maximize"),
        ("f1", "maximize"),
        ("score", "maximize"),
        ("r2_score", "maximize"),
        ("recall", "maximize"),
        ("throughput_mb_s", "maximize"),
        ("tokens_per_second", "maximize"),
        ("tokens_s", "maximize"),
        ("neg_mean_squared_error", "maximize"),  # scikit-learn's negated errors are maximised
        ("time_to_accuracy", None),  # two quantities related: no guess (it read maximize)
        ("mean_time_to_failure", None),  # (it read minimize)
        ("time_saved", "maximize"),  # the change of a quantity, turned round (it read minimize)
        ("accuracy_drop", "minimize"),  # (it read maximize)
        ("error_reduction", "maximize"),
        ("loss_improvement", "maximize"),
        ("cost_savings", "maximize"),
        ("mb_s", "maximize"),  # megabytes a second (it read the unit `s`: minimize)
        ("thing", None),
        ("", None),
    ],
)
def test_the_metric_name_is_read_word_wise(metric: str, direction: str | None) -> None:
    found = from_metric(metric)
    assert (found.direction if found else None) == direction


@pytest.mark.parametrize(
    ("goal", "direction"),
    [
        ("make bench.py faster", "minimize"),
        ("reduce the memory", "minimize"),
        ("Minimise the bill", "minimize"),
        ("raise the hit count", "maximize"),
        ("make it faster and raise the hits", None),  # words that disagree decide nothing
        ("improve it", None),
    ],
)
def test_goal_words_decide_only_when_they_agree(goal: str, direction: str | None) -> None:
    found = from_goal(goal)
    assert (found.direction if found else None) == direction


def test_the_name_comes_before_the_goal_and_a_given_direction_before_both() -> None:
    assert chosen("", "throughput", "make it faster")[0] == "max"
    assert chosen("", "thing", "make it faster")[0] == "min"
    assert chosen("max", "seconds", "make it faster") == ("max", None)
    word, note = chosen("", "thing", "improve it")
    assert word == "max" and note is not None and "pass --direction min if lower is better" in note


def init(
    tmp_path: Path, metric: str, goal: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    folder = tmp_path / f"ws-{metric}"
    folder.mkdir()
    (folder / "bench.py").write_text(BENCH % metric)
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "init", str(folder), "--goal", goal, "--eval", "python bench.py"]
        + ["--metric", metric, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done, tomllib.loads((folder / "task.toml").read_text())["evaluator"]


@pytest.mark.parametrize(
    ("metric", "goal", "direction", "why"),
    [
        ("seconds", "make bench.py faster", "minimize", "the metric name `seconds` reads as lower-is-better"),
        ("val_loss", "train it", "minimize", "the metric name `val_loss` reads as lower-is-better (`loss`)"),
        ("accuracy", "make it faster", "maximize", "the metric name `accuracy` reads as higher-is-better"),
        ("thing", "make bench.py faster", "minimize", "the goal says `faster`"),
        ("thing", "improve it", "maximize", "(the default: neither the metric name `thing` nor the goal"),
    ],
)
def test_init_without_direction_reads_it_and_says_so(
    tmp_path: Path, metric: str, goal: str, direction: str, why: str
) -> None:
    done, evaluator = init(tmp_path, metric, goal)
    assert evaluator["direction"] == direction
    notes = [line for line in done.stdout.splitlines() if line.startswith(f'note: direction = "{direction}"')]
    assert len(notes) == 1 and why in notes[0] and "--direction" in notes[0], done.stdout


def test_init_with_direction_keeps_it_without_a_note(tmp_path: Path) -> None:
    done, evaluator = init(tmp_path, "seconds", "make bench.py faster", "--direction", "max")
    assert evaluator["direction"] == "maximize" and "note: direction" not in done.stdout


TASK = """[task]
name = "d"
goal = "g"
workspace = "."

[evaluator]
command = "python bench.py"
metric = "%s"
direction = "%s"
timeout = "30s"
sandbox = "local"
files = ["bench.py"]

[space]
x = { type = "int", low = 1, high = 3 }
"""


@pytest.mark.parametrize(
    ("metric", "direction", "noted"),
    [("val_loss", "maximize", True), ("val_loss", "minimize", False), ("accuracy", "minimize", True)],
)
def test_strop_run_notes_a_metric_name_that_reads_the_other_way(
    tmp_path: Path, metric: str, direction: str, noted: bool
) -> None:
    (tmp_path / "bench.py").write_text(BENCH % metric)
    (tmp_path / "params.json").write_text('{"x": 1}')
    (tmp_path / "task.toml").write_text(TASK % (metric, direction))
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(tmp_path / "task.toml"), "-n", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "but the task says direction" in line]
    assert len(notes) == noted, done.stderr
    if noted:
        other = "minimize" if direction == "maximize" else "maximize"
        assert notes[0].startswith(f"note: the metric name `{metric}` reads as")
        assert f'set direction = "{other}" in [evaluator]' in notes[0]
