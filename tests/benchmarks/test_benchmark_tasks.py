"""The benchmark tasks added for issue 16 fail where their comments say, the way memory sees it.

Each memory task's stage `run` is executed for real (a subprocess, as the sandbox would run
it) on a point inside and outside its failing region; the error signatures are computed with
the product's own normaliser, so "one signature" and "two distinct signatures" are checked
as memory_pays.py counts them. The held-out tuning tasks are run through both stages.
Plus the two statistics the benchmarks decide with (paired test, fusion-weight choice).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.memory.signature import error_signature

TASKS = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks"


def run_stage(task: str, params: dict, tmp_path: Path, timeout: float = 20) -> subprocess.CompletedProcess:
    """Stage `run` then, when it worked, stage `score`, each as its own process (like the evaluator)."""
    work = tmp_path / "work"
    outputs = tmp_path / "outputs"
    outputs.mkdir(parents=True)
    work.mkdir(parents=True)
    for file in (TASKS / task / "workspace").iterdir():
        (work / file.name).write_bytes(file.read_bytes())
    (work / "params.json").write_text(json.dumps(params))
    env = {"STROP_OUTPUTS": str(outputs), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    public = TASKS / task / "public"
    if public.exists():
        env["STROP_PUBLIC"] = str(public)
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        return done
    private = TASKS / task / "private" / "validate"
    return subprocess.run(
        [sys.executable, "-I", "score.py"],
        cwd=TASKS / task / "scorer",
        env={"STROP_OUTPUTS": str(outputs), "STROP_PRIVATE": str(private)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def baseline(task: str) -> dict:
    return json.loads((TASKS / task / "workspace" / "params.json").read_text())


def signature_of(task: str, params: dict, tmp_path: Path) -> str:
    done = run_stage(task, params, tmp_path)
    assert done.returncode != 0, f"{task} should fail at {params}"
    return error_signature("buggy", done.stderr)


def test_optim_crash_fails_on_the_choice_alone_with_one_signature(tmp_path: Path) -> None:
    ok = run_stage("optim-crash", baseline("optim-crash"), tmp_path / "ok")
    assert ok.returncode == 0 and json.loads(ok.stdout)["loss"] > 0
    one = signature_of("optim-crash", {**baseline("optim-crash"), "optimizer": "lion"}, tmp_path / "a")
    other = {"optimizer": "lion", "lr": 0.3, "weight_decay": 0.09, "warmup": 900}
    assert "ImportError" in one
    assert signature_of("optim-crash", other, tmp_path / "b") == one


def test_two_errors_has_two_signatures_each_stable_across_values(tmp_path: Path) -> None:
    base = baseline("two-errors")
    assert run_stage("two-errors", base, tmp_path / "ok").returncode == 0
    oom = [
        signature_of("two-errors", {**base, "batch": b, "width": 4096}, tmp_path / f"m{b}")
        for b in (64, 2048)
    ]
    nan = [signature_of("two-errors", {**base, "lr": lr}, tmp_path / f"d{lr}") for lr in (0.06, 0.9)]
    assert oom[0] == oom[1] and nan[0] == nan[1]
    assert oom[0] != nan[0]
    assert "MemoryError" in oom[0] and "FloatingPointError" in nan[0]


def test_seq_timeout_runs_past_its_timeout_only_in_its_region(tmp_path: Path) -> None:
    base = baseline("seq-timeout")
    best_wall = run_stage("seq-timeout", {**base, "attention": "full", "seq_len": 2048}, tmp_path / "ok")
    assert best_wall.returncode == 0
    linear_long = run_stage("seq-timeout", {**base, "attention": "linear", "seq_len": 8192}, tmp_path / "lin")
    assert linear_long.returncode == 0
    assert json.loads(best_wall.stdout)["loss"] < json.loads(linear_long.stdout)["loss"]
    with pytest.raises(subprocess.TimeoutExpired):
        run_stage(
            "seq-timeout", {**base, "attention": "full", "seq_len": 2049}, tmp_path / "slow", timeout=1.5
        )


@pytest.mark.parametrize(
    ("task", "metric", "low", "high"),
    [("digits-svc", "accuracy", 0.5, 1.0), ("diabetes-hgb", "rmse", 30, 90)],
)
def test_held_out_tuning_tasks_score_their_baseline(
    task: str, metric: str, low: float, high: float, tmp_path: Path
) -> None:
    done = run_stage(
        task, baseline(task), tmp_path, timeout=90
    )  # scikit-learn imports slowly on a busy machine
    assert done.returncode == 0, done.stderr
    assert low < json.loads(done.stdout)[metric] < high


def test_paired_test_says_better_worse_or_tie() -> None:
    from benchmarks.proposer_vs_tpe import paired_test
    from evaluators.metric import Direction

    theirs = [0.90 + 0.001 * i for i in range(10)]
    assert paired_test([t + 0.01 for t in theirs], theirs, Direction.MAXIMIZE)[0] == "better"
    assert paired_test([t + 0.01 for t in theirs], theirs, Direction.MINIMIZE)[0] == "worse"
    assert paired_test(theirs, theirs, Direction.MAXIMIZE) == ("tie", 1.0)
    mixed = [t + (0.01 if i % 2 else -0.01) for i, t in enumerate(theirs)]
    assert paired_test(mixed, theirs, Direction.MAXIMIZE)[0] == "tie"
