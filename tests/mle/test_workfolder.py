"""The task folder `strop mle run` writes: what candidates see, what the scorer holds, what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from agent.domains.mle.workfolder import FOLD_ROWS, FOLDS, Targets, fold_count, prepare_task
from agent.task import load_task
from tests.mle.conftest import write_competition, write_csv
from tests.mle.sklearn_competition import write_sklearn_competition


@pytest.fixture
def wine(tmp_path: Path) -> Path:
    return write_sklearn_competition(tmp_path / "wine")


def test_the_holdout_is_cut_from_train_and_its_targets_stay_private(wine: Path, tmp_path: Path) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=3, experiments=4, folds=1)
    train = pd.read_csv(wine / "prepared" / "public" / "train.csv")
    fit = pd.read_csv(folder.root / "public" / "fit.csv")
    holdout = pd.read_csv(folder.root / "public" / "holdout.csv")
    answers = pd.read_csv(folder.root / "private" / "validate" / "holdout_answers.csv")
    assert "target" not in holdout.columns and "target" in fit.columns
    assert sorted([*fit.id, *holdout.id]) == sorted(train.id) and not set(fit.id) & set(holdout.id)
    assert list(answers.columns) == ["id", "target"] and sorted(answers.id) == sorted(holdout.id)
    assert len(holdout) == round(len(train) * 0.2)
    assert load_task(folder.task_file).evaluator.folds == 1


def test_a_small_train_split_selects_on_folds_that_cover_it_once(wine: Path, tmp_path: Path) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=3, experiments=4)
    train = pd.read_csv(wine / "prepared" / "public" / "train.csv")
    assert len(train) < FOLD_ROWS and load_task(folder.task_file).evaluator.folds == FOLDS
    assert not (folder.root / "public" / "fit.csv").exists()  # only the folds' own folders
    held: list[str] = []
    for k in range(FOLDS):
        fit = pd.read_csv(folder.root / "public" / f"fold-{k}" / "fit.csv")
        holdout = pd.read_csv(folder.root / "public" / f"fold-{k}" / "holdout.csv")
        answers = pd.read_csv(folder.root / "private" / "validate" / f"fold-{k}" / "holdout_answers.csv")
        assert "target" not in holdout.columns and not set(fit.id) & set(holdout.id)
        assert sorted([*fit.id, *holdout.id]) == sorted(train.id)
        assert sorted(answers.id) == sorted(holdout.id)
        held += list(holdout.id)
    assert sorted(held) == sorted(train.id)  # every training row judges once
    final = pd.read_csv(folder.root / "public-final" / "fit.csv")
    assert sorted(final.id) == sorted(train.id)


def test_how_many_folds_select() -> None:
    table = Targets(["y"], classification=True, probabilities=False)
    forecast = Targets(["y"], classification=False, probabilities=False, date_column="date", horizon=10)
    assert fold_count(FOLD_ROWS - 1, table, llm=False) == FOLDS
    assert fold_count(FOLD_ROWS, table, llm=False) == 1
    assert fold_count(100, table, llm=True) == 1  # the LLM reads run output: one holdout no run sees
    assert fold_count(100, forecast, llm=False) == 1
    assert fold_count(100, table, llm=False, asked=3) == 3 and fold_count(5000, table, False, asked=1) == 1
    with pytest.raises(CompetitionError, match="forecast"):
        fold_count(100, forecast, llm=False, asked=4)
    with pytest.raises(CompetitionError, match="cannot make 8 folds"):
        fold_count(10, table, llm=False, asked=8)


def test_no_file_of_the_work_folder_holds_the_competition_answers(wine: Path, tmp_path: Path) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=0, experiments=4)
    answers = pd.read_csv(wine / "prepared" / "private" / "test.csv")
    secret = {f"{i},{t}" for i, t in zip(answers.id, answers.target, strict=True)}
    for path in folder.root.rglob("*"):
        if path.is_file():
            hits = secret & set(path.read_text(encoding="utf-8").splitlines())
            assert len(hits) < len(secret) / 2, path  # the sample's constant guess matches one class


def test_the_task_is_two_stage_and_reads_the_answers_only_in_the_final_phase(
    wine: Path, tmp_path: Path
) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=0, experiments=5, folds=1)
    task = load_task(folder.task_file)
    assert task.evaluator.two_stage and task.evaluator.metric == "accuracy"
    assert task.evaluator.direction == "maximize" and task.spec.budget.experiments == 5
    sources = task.trusted_sources()
    assert sources is not None and sources.final_private == (wine / "prepared" / "private").resolve()
    assert sources.private == (folder.root / "private" / "validate").resolve()
    assert set(task.spec.space) >= {"family", "learning_rate", "n_neighbors"}


def run(folder: Path, script: list[str], cwd: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"STROP_PUBLIC": str(folder / "public"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, *script],
        cwd=folder / cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def score(
    folder: Path, outputs: Path, phase: str, private: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """The task's trusted scorer on `outputs`, in `phase`, with `private` as its answers."""
    return run(
        folder,
        ["-I", "score.py"],
        "scorer",
        STROP_OUTPUTS=str(outputs),
        STROP_PHASE=phase,
        STROP_PRIVATE=str(private),
        **env,
    )


def test_the_starting_solution_and_the_scorer_agree_on_both_phases(wine: Path, tmp_path: Path) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=0, experiments=4, folds=1).root
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made = run(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs))
    assert made.returncode == 0, made.stderr
    for phase, private in (
        ("validate", folder / "private" / "validate"),
        ("final", wine / "prepared" / "private"),
    ):
        scored = score(folder, outputs, phase, private)
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)["accuracy"] > 0.8


@pytest.mark.parametrize(
    ("dataset", "metric", "fair"),
    [("breast_cancer", "auc", lambda v: v > 0.9), ("diabetes", "rmse", lambda v: 30 < v < 75)],
)
def test_binary_probabilities_and_regression_run_through_solution_and_scorer(
    tmp_path: Path, dataset: str, metric: str, fair: Callable[[float], bool]
) -> None:
    root = write_sklearn_competition(tmp_path / dataset, dataset=dataset, metric=metric)
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=4, folds=1).root
    spec = json.loads((folder / "public" / "mle.json").read_text(encoding="utf-8"))
    assert spec["probabilities"] is (metric == "auc") and spec["classification"] is (metric == "auc")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made = run(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs))
    assert made.returncode == 0, made.stderr
    scored = score(folder, outputs, "final", root / "prepared" / "private")
    assert scored.returncode == 0, scored.stderr
    assert fair(json.loads(scored.stdout)[metric])


@pytest.mark.parametrize("folds", [1, 5])
def test_a_probability_column_per_class_for_a_label_column_of_train(tmp_path: Path, folds: int) -> None:
    """Kaggle's multi-class form: train has `cultivar`, the submission a column per cultivar."""
    root = write_sklearn_competition(tmp_path / "wine", metric="logloss", class_columns=True)
    names = ["class_0", "class_1", "class_2"]
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=4, folds=folds).root
    fold = "fold-1" if folds > 1 else ""
    split = folder / "public" / fold
    spec = json.loads((split / "mle.json").read_text(encoding="utf-8"))
    assert spec["targets"] == ["cultivar"] and spec["classes"] == names and spec["probabilities"]
    assert list(pd.read_csv(split / "holdout_sample.csv").columns) == ["id", *names]
    answers = pd.read_csv(folder / "private" / "validate" / fold / "holdout_answers.csv")
    assert list(answers.columns) == ["id", *names] and (answers[names].sum(axis=1) == 1).all()
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made = run(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs), STROP_PUBLIC=str(split))
    assert made.returncode == 0, made.stderr
    submitted = pd.read_csv(outputs / "submission.csv")
    assert list(submitted.columns) == ["id", *names]
    assert np.allclose(submitted[names].sum(axis=1), 1.0)
    for phase, private in (
        ("validate", folder / "private" / "validate" / fold),
        ("final", root / "prepared" / "private"),
    ):
        scored = score(folder, outputs, phase, private, STROP_PUBLIC=str(split))
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)["logloss"] < 0.4  # a uniform guess scores ln 3 = 1.10


def test_the_scorer_refuses_an_invalid_submission_with_its_reason(wine: Path, tmp_path: Path) -> None:
    folder = prepare_task(load_competition(wine), tmp_path / "work", seed=0, experiments=4, folds=1).root
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "submission.csv").write_text("id,target\nr0001,1\n", encoding="utf-8")
    (outputs / "holdout.csv").write_text("id,target\n", encoding="utf-8")
    done = score(folder, outputs, "validate", folder / "private" / "validate")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("invalid submission.csv: 1 rows, expected 54")


def test_a_competition_without_targets_in_train_is_refused(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    (root / "prepared" / "public" / "train.csv").write_text("id,x\na,1\n", encoding="utf-8")
    with pytest.raises(CompetitionError, match="has no column 'label'"):
        prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2)


def test_a_working_folder_that_is_not_empty_is_refused(wine: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(CompetitionError, match="must be new or empty"):
        prepare_task(load_competition(wine), tmp_path / "work", seed=0, experiments=2)


MATCH_GRADER = """
def grade(submission, answers):
    merged = submission.merge(answers, on="id", suffixes=("_s", "_a"))
    return float((merged.label_s == merged.label_a).mean())
"""


def write_text_competition(root: Path) -> Path:
    """Text features with gaps, text labels, and a custom grade.py whose name strop does not know."""
    rng = np.random.default_rng(1)
    colors = rng.choice(["red", "green", "blue", ""], size=100)
    x = rng.random(100).round(3)
    labels = np.where((colors == "red") | (x > 0.5), "yes", "no")
    rows = [(f"q{n:03d}", colors[n], "" if n % 7 == 0 else x[n], labels[n]) for n in range(100)]
    root = write_competition(
        root,
        metric="share-of-matches",
        answers=[(i, label) for i, _, _, label in rows[70:]],
        grade_py=MATCH_GRADER,
        leaderboard=[1.0, 0.9, 0.8, 0.7, 0.6],
    )
    public = root / "prepared" / "public"
    write_csv(public / "train.csv", ["id", "color", "x", "label"], rows[:70])
    write_csv(public / "test.csv", ["id", "color", "x"], [row[:3] for row in rows[70:]])
    return root


def test_text_features_text_labels_and_a_custom_grader(tmp_path: Path) -> None:
    root = write_text_competition(tmp_path / "text")
    competition = load_competition(root)
    assert competition.metric is None and not competition.lower_is_better
    folder = prepare_task(competition, tmp_path / "work", seed=0, experiments=4, folds=1).root
    assert json.loads((folder / "public" / "mle.json").read_text(encoding="utf-8"))["classification"] is True
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made = run(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs))
    assert made.returncode == 0, made.stderr
    assert set(pd.read_csv(outputs / "submission.csv").label) <= {"yes", "no"}
    for phase, private in (
        ("validate", folder / "private" / "validate"),
        ("final", root / "prepared" / "private"),
    ):
        scored = score(folder, outputs, phase, private)
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)["share_of_matches"] > 0.7
