"""solution.py declines a recipe that cannot plausibly finish in the time stage `run` is given.

Real runs of the workspace's solution.py, as stage `run` starts it (a subprocess with
$STROP_PUBLIC, $STROP_OUTPUTS and $STROP_RUN_SECONDS), on a 20,000-row competition: an SVM
(about 20 CPU seconds by `cpu_seconds` on the 11,200 fit rows) told it has 5 s stops at once with one line that says
why; a linear model told the same runs and writes its submission.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.solution import PLAUSIBLE, time_check
from agent.domains.mle.workfolder import prepare_task


def write_wide_competition(root: Path, rows: int = 20_000, columns: int = 20) -> Path:
    """A binary accuracy competition of `rows` random rows (70% train) in MLE-bench's layout."""
    generator = np.random.default_rng(0)
    features = generator.normal(size=(rows, columns)).round(4)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(columns)])
    frame.insert(0, "id", [f"r{n:06d}" for n in range(rows)])
    frame["target"] = (features[:, 0] + features[:, 1] > 0).astype(int)
    cut = int(rows * 0.7)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=["target"]).to_csv(public / "test.csv", index=False)
    test[["id"]].assign(target=0).to_csv(public / "sample_submission.csv", index=False)
    test[["id", "target"]].to_csv(private / "test.csv", index=False)
    (root / "config.yaml").write_text(
        "id: wide\nname: wide\ncompetition_type: simple\ndescription: description.md\n"
        "dataset:\n  answers: wide/prepared/private/test.csv\ngrader:\n  name: accuracy\n",
        encoding="utf-8",
    )
    (root / "description.md").write_text("# wide\nPredict target.\n", encoding="utf-8")
    pd.DataFrame({"teamName": ["a", "b"], "score": [1.0, 0.5]}).to_csv(root / "leaderboard.csv", index=False)
    return root


@pytest.fixture(scope="module")
def task_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wide")
    competition = load_competition(write_wide_competition(root / "competition"))
    return prepare_task(competition, root / "task", seed=0, experiments=2).root


def run_solution(
    task: Path, tmp_path: Path, params: dict[str, object], seconds: str
) -> tuple[int, str, float]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for name in ("solution.py", "metrics.py"):
        (workspace / name).write_text((task / "workspace" / name).read_text())
    start = json.loads((task / "workspace" / "params.json").read_text())
    (workspace / "params.json").write_text(json.dumps({**start, **params}))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    env = {
        **os.environ,
        "STROP_PUBLIC": str(task / "public"),
        "STROP_OUTPUTS": str(outputs),
        "STROP_RUN_SECONDS": seconds,
        "OMP_NUM_THREADS": "1",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "solution.py"], cwd=workspace, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stderr, time.monotonic() - started


def test_a_recipe_that_cannot_finish_in_time_is_not_started(task_folder: Path, tmp_path: Path) -> None:
    code, stderr, seconds = run_solution(task_folder, tmp_path, {"family": "svm"}, "5.0")
    assert code != 0
    assert "the svm recipe needs about" in stderr and "not started" in stderr
    assert seconds < 30  # imports and reading the rows only (3-10 s on a loaded 2-core machine)
    assert not (tmp_path / "outputs" / "submission.csv").exists()


def test_a_recipe_that_fits_its_time_runs(task_folder: Path, tmp_path: Path) -> None:
    code, stderr, _ = run_solution(task_folder, tmp_path, {"family": "linear"}, "10.0")
    assert code == 0, stderr
    assert (tmp_path / "outputs" / "submission.csv").is_file()


def test_the_margin_tries_what_might_finish() -> None:
    params = {"family": "hgb", "max_iter": 100}
    needed = time_check(params, 14_000, 20, 2, 1, left=0.0)  # always over: says how much it needs
    estimate = float(needed.split("about ")[1].split(" s")[0])
    assert time_check(params, 14_000, 20, 2, 1, left=estimate / PLAUSIBLE + 0.5) == ""
    assert time_check(params, 14_000, 20, 2, 1, left=estimate / PLAUSIBLE / 2) != ""
