"""A short `--time` on a small competition: fewer selection folds, so that a submission exists.

With 5 folds, experiment 0 (the starting ensemble, once per fold) of a 700-row competition took
10-13 s a fold on a busy 2-core machine: `--time 1m` cut it on its last fold and ended with no
submission, and `--time 2m` stopped after it with 40% of the time unused.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.workfolder import FOLDS, prepare_task, timed_folds
from tests.mle.conftest import strop_mle

ROOT = Path(__file__).resolve().parents[2] / "benchmarks" / "competitions"


def folds_of(task_file: Path) -> int:
    return int(tomllib.loads(task_file.read_text(encoding="utf-8"))["evaluator"].get("folds", 1))


def test_the_folds_grow_with_the_time_and_stop_at_folds() -> None:
    counts = [timed_folds(seconds, 12.0) for seconds in (20, 60, 90, 120, 180, 600, 6000)]
    assert counts == sorted(counts)
    assert counts[0] == counts[1] == 1  # a minute: one holdout, so that experiment 0 fits with time to spare
    assert counts[-2] == counts[-1] == FOLDS  # ten minutes: every fold, as before
    assert timed_folds(60, 0.0) > 1  # a cheap fold fits several in a minute


def test_a_short_time_cuts_fewer_folds_unless_folds_are_asked(tmp_path: Path) -> None:
    competition = load_competition(ROOT / "strop-diabetes")
    short = prepare_task(competition, tmp_path / "short", seed=0, experiments=3, time=60.0)
    assert folds_of(short.task_file) == 1 and (short.root / "public" / "holdout.csv").is_file()
    long = prepare_task(competition, tmp_path / "long", seed=0, experiments=3, time=600.0)
    assert folds_of(long.task_file) == FOLDS
    untimed = prepare_task(competition, tmp_path / "untimed", seed=0, experiments=3)
    assert folds_of(untimed.task_file) == FOLDS
    asked = prepare_task(competition, tmp_path / "asked", seed=0, experiments=3, time=60.0, folds=4)
    assert folds_of(asked.task_file) == 4


@pytest.mark.slow
def test_a_small_competition_with_a_short_time_ends_with_a_valid_submission(tmp_path: Path) -> None:
    root = tmp_path / "strop-diabetes"
    shutil.copytree(ROOT / "strop-diabetes", root)
    out = tmp_path / "work"
    done = strop_mle(
        tmp_path / "home", "run", str(root), "--time", "45s", "--out", str(out), "--json", timeout=120
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["valid_submission"] is True and report["score"] is not None, report
    assert report["wall_seconds"] <= 45 + 5
    assert folds_of(out / "task.toml") < FOLDS
