"""The recipe genome and its rendering in solution.py: data typing, row features, encodings inside
folds, the ensemble's greedy blend and its cost-bounded pool, and every gene run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.recipe import FAMILIES, START_PARAMS
from agent.domains.mle.workfolder import prepare_task
from agent.space import Space
from agent.task import load_task
from tests.mle.conftest import write_competition, write_csv
from tests.mle.sklearn_competition import write_sklearn_competition

SOLUTION = Path(__file__).resolve().parents[2] / "agent" / "domains" / "mle" / "solution.py"


@pytest.fixture(scope="module")
def solution() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mle_solution_under_test", SOLUTION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_column_typing_tells_numbers_categories_text_and_dates_apart(solution: ModuleType) -> None:
    words = ["the quick brown fox jumps over", "a lazy dog sleeps in the warm sun", "rain falls on the plain"]
    frame = pd.DataFrame(
        {
            "size": [1.5, 2.0, np.nan] * 10,
            "colour": ["red", "blue", None] * 10,
            "review": [f"{words[n % 3]} number {n}" for n in range(30)],
            "day": [f"2020-01-{n + 1:02d}" for n in range(30)],
            "flag": [True, False, True] * 10,
        }
    )
    columns = solution.column_types(frame)
    assert columns.numeric == ["size", "flag"] and columns.categorical == ["colour"]
    assert columns.text == ["review"] and columns.dates == ["day"] and not columns.series


def test_numbered_numeric_columns_are_a_series_and_mixed_names_are_not(solution: ModuleType) -> None:
    rng = np.random.default_rng(0)
    walks = np.cumsum(rng.normal(size=(30, 12)), axis=1)  # random walks: neighbours move together
    series = pd.DataFrame(walks, columns=[f"t{i:03d}" for i in range(12)])
    assert solution.column_types(series).series
    unrelated = pd.DataFrame(rng.random((30, 12)), columns=list(series.columns))  # features named f00…
    assert not solution.column_types(unrelated).series
    mixed = series.rename(columns={"t005": "height"})
    assert not solution.column_types(mixed).series
    assert not solution.column_types(series.iloc[:, :6]).series  # too short to be a series


def test_series_features_znorm_is_shape_only_and_diffs_add_differences(solution: ModuleType) -> None:
    rng = np.random.default_rng(1)
    base = rng.random((4, 16))
    frame = pd.DataFrame(base)
    shifted = pd.DataFrame(base * 7.0 + 3.0)  # the same shapes, scaled and moved
    znorm = solution.series_features(frame, "znorm")
    assert np.allclose(znorm.iloc[:, :16].mean(axis=1), 0) and np.allclose(
        znorm.iloc[:, :16].std(axis=1, ddof=0), 1
    )
    assert np.allclose(znorm, solution.series_features(shifted, "znorm"))
    diffs = solution.series_features(frame, "diffs")
    assert diffs.shape == (4, 31) and np.allclose(diffs.iloc[:, 16:], np.diff(base, axis=1))
    assert solution.series_features(frame, "raw").shape == (4, 16)


def test_rocket_features_tell_a_spacing_apart_wherever_it_sits(solution: ModuleType) -> None:
    """Two spikes near or far apart, at a random place: a pattern a row's raw values or summary
    statistics do not show, and MiniRocket's dilated kernels do."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    values = rng.normal(scale=0.3, size=(120, 64))
    near = np.arange(120) % 2 == 1
    for row, start in enumerate(rng.integers(8, 40, size=120)):
        values[row, start] += 2.0
        values[row, start + (4 if near[row] else 12)] += 2.0
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))

    def accuracy(how: str) -> float:
        features = solution.series_features(pd.DataFrame(values), how)
        return float(cross_val_score(model, features, near, cv=5).mean())

    assert accuracy("rocket") >= 0.95
    assert accuracy("raw") < 0.75 and accuracy("znorm") < 0.75
    features = solution.rocket_features(values)
    assert 1900 <= features.shape[1] <= 2200 and features.min() >= 0.0 and features.max() <= 1.0
    assert np.array_equal(features, solution.rocket_features(values * 4.0))  # biases scale with the data


def test_count_encoding_counts_over_all_rows_and_dates_become_trend_and_cycle(solution: ModuleType) -> None:
    frame = pd.DataFrame(
        {"city": ["a", "a", "b", "a"], "when": ["2020-01-01", "2021-01-01", "2022-07-02", "2020-04-01"]}
    )
    params = {**START_PARAMS, "categorical": "count", "date_parts": "on", "trend": 2}
    expanded, columns = solution.row_features(frame, solution.column_types(frame), params)
    assert list(expanded["city"]) == [3.0, 3.0, 1.0, 3.0] and columns.categorical == []
    assert expanded["when_t1"].iloc[1] == pytest.approx(366 / 365.25)
    assert expanded["when_t2"].iloc[1] == pytest.approx((366 / 365.25) ** 2)
    assert list(expanded["when_month"]) == [1, 1, 7, 4] and "when" not in expanded


def test_target_encoding_is_fitted_inside_each_fold(solution: ModuleType) -> None:
    """A category unique to each row says nothing of a random target: only a leak would score well."""
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"code": [f"c{n}" for n in range(300)], "noise": rng.random(300)})
    target = pd.Series(rng.integers(0, 2, 300))
    params = {**START_PARAMS, "categorical": "target"}
    columns = solution.Columns(numeric=["noise"], categorical=["code"])
    model = solution.build_model("random_forest", params, columns, True)
    inside = cross_val_score(model, frame, target, cv=5, scoring="accuracy").mean()
    assert inside < 0.62
    leaked = frame.assign(code=frame.code.map(dict(zip(frame.code, target, strict=True))).astype(float))
    leaky = solution.build_model("random_forest", params, solution.Columns(numeric=["noise", "code"]), True)
    assert (
        cross_val_score(leaky, leaked, target, cv=5, scoring="accuracy").mean() > 0.95
    )  # what a leak looks like


def test_caruana_weights_two_members_whose_errors_cancel(solution: ModuleType) -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(size=200)
    error = rng.normal(size=200)
    members = [truth + error, truth - error, truth + 3 * rng.normal(size=200)]

    def losses_of(weights: np.ndarray) -> float:
        blend = sum(w * m for w, m in zip(weights, members, strict=True))
        return float(np.sqrt(np.mean((blend - truth) ** 2)))

    counts = solution.caruana(losses_of, 3, rounds=10)
    assert counts[0] == counts[1] > 0 and counts[2] == 0
    assert losses_of(counts / counts.sum()) < 0.1 < min(losses_of(np.eye(3)[i]) for i in range(3))


def test_the_pool_keeps_the_cheapest_families_within_cv_seconds(solution: ModuleType) -> None:
    small = solution.pool(START_PARAMS, rows=300, features=10, classes=2)
    assert small == list(solution.POOL)
    big = solution.pool(START_PARAMS, rows=50_000, features=100, classes=0)
    assert "svm" not in big and "knn" not in big and big
    tight = solution.pool({**START_PARAMS, "cv_seconds": 0.0}, rows=300, features=10, classes=2)
    assert len(tight) == 1  # never empty


def test_the_genome_is_the_tasks_space_and_its_start_is_a_point_of_it(tmp_path: Path) -> None:
    root = write_sklearn_competition(tmp_path / "wine")
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=4)
    space = Space.from_task(load_task(folder.task_file))
    assert next(p for p in space if p.name == "family").choices == list(FAMILIES)
    start = json.loads((folder.root / "workspace" / "params.json").read_text(encoding="utf-8"))
    assert start == START_PARAMS and start["family"] == "ensemble"
    active = {k: v for k, v in start.items() if k in space.names and space.is_active(k, start)}
    assert space.complete(active) == active
    assert set(start) - set(active) == {"categorical", "series", "date_parts"}  # wine: numbers only
    assert space.is_active("n_neighbors", {"family": "ensemble"})  # an ensemble's members are tuned too
    assert not space.is_active("n_neighbors", {"family": "hgb"})
    assert not space.is_active("folds", {"family": "svm"})


def write_mixed_competition(root: Path) -> Path:
    """Numbers with gaps, a category, free text and a date; the label depends on all but the date."""
    rng = np.random.default_rng(4)
    n = 160
    city = rng.choice(["north", "south", "east"], size=n)
    x = rng.normal(size=n).round(3)
    kind = rng.choice(["good", "bad"], size=n)
    text = [f"this item was {k} and arrived on time number {i}" for i, k in enumerate(kind)]
    day = [f"2021-{rng.integers(1, 13):02d}-{rng.integers(1, 28):02d}" for _ in range(n)]
    label = np.where((kind == "good") ^ ((city == "east") & (x > 0.5)), "keep", "drop")
    rows = [(f"m{i:03d}", "" if i % 9 == 0 else x[i], city[i], text[i], day[i], label[i]) for i in range(n)]
    root = write_competition(
        root, answers=[(r[0], r[-1]) for r in rows[120:]], leaderboard=[1.0, 0.9, 0.8, 0.7]
    )
    public = root / "prepared" / "public"
    header = ["id", "x", "city", "note", "day"]
    write_csv(public / "train.csv", [*header, "label"], rows[:120])
    write_csv(public / "test.csv", header, [r[:5] for r in rows[120:]])
    return root


RECIPES = [
    {},  # the start: the ensemble
    {"categorical": "target", "scaler": "quantile", "date_parts": "on", "folds": 3},
    {"family": "hgb", "categorical": "ordinal"},
    {"family": "svm", "categorical": "count"},
    {"family": "knn", "weights": "uniform"},
]


@pytest.mark.parametrize(
    "recipe", RECIPES, ids=lambda r: ",".join(f"{k}={v}" for k, v in r.items()) or "start"
)
def test_every_gene_runs_through_solution_and_scorer(tmp_path: Path, recipe: dict[str, object]) -> None:
    root = write_mixed_competition(tmp_path / "mixed")
    accuracy = run_and_score(root, tmp_path, recipe)  # the scorer refuses a malformed submission
    if not recipe:  # the ensemble learns the text's word and the rule on city and x: a guess gets half
        assert accuracy >= 0.75


def test_rocket_series_recipe_runs_through_solution_and_scorer(tmp_path: Path) -> None:
    root = write_series_competition(tmp_path / "series")
    assert run_and_score(root, tmp_path, {"family": "linear", "series": "rocket"}) >= 0.7


def run_and_score(root: Path, tmp_path: Path, recipe: dict[str, object]) -> float:
    """Prepare the competition's task, run its solution.py with `recipe`, and grade the submission."""
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=4, folds=1).root
    assert (folder / "workspace" / "metrics.py").is_file()
    params = {**json.loads((folder / "workspace" / "params.json").read_text(encoding="utf-8")), **recipe}
    (folder / "workspace" / "params.json").write_text(json.dumps(params), encoding="utf-8")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    environment = {
        "STROP_PUBLIC": str(folder / "public"),
        "STROP_OUTPUTS": str(outputs),
        "OMP_NUM_THREADS": "1",
    }
    made = subprocess.run(
        [sys.executable, "solution.py"],
        cwd=folder / "workspace",
        env={**environment, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    scored = subprocess.run(
        [sys.executable, "-I", "score.py"],
        cwd=folder / "scorer",
        env={
            **environment,
            "PATH": "/usr/bin:/bin",
            "STROP_PHASE": "final",
            "STROP_PRIVATE": str(root / "prepared" / "private"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scored.returncode == 0, scored.stderr
    return float(json.loads(scored.stdout)["accuracy"])


def write_series_competition(root: Path) -> Path:
    """40 random walks of 12 steps, labelled by where each ends: 30 to train on, 10 to grade."""
    root = write_competition(root, answers=[(f"s{i}", "a" if i % 2 else "b") for i in range(10)])
    series = np.cumsum(np.random.default_rng(5).normal(size=(40, 12)), axis=1).round(3)
    rows = [[f"s{i}", *series[i], "a" if series[i, -1] > 0 else "b"] for i in range(40)]
    header = ["id", *(f"t{k:02d}" for k in range(12))]
    write_csv(root / "prepared" / "public" / "train.csv", [*header, "label"], rows[:30])
    write_csv(root / "prepared" / "public" / "test.csv", header, [r[:-1] for r in rows[30:40]])
    write_csv(
        root / "prepared" / "public" / "sample_submission.csv",
        ["id", "label"],
        [(f"s{i}", "a") for i in range(30, 40)],
    )
    write_csv(
        root / "prepared" / "private" / "answers.csv", ["id", "label"], [(r[0], r[-1]) for r in rows[30:40]]
    )
    return root


def test_genes_idle_on_the_data_are_left_out_of_its_space(tmp_path: Path) -> None:
    mixed = prepare_task(load_competition(write_mixed_competition(tmp_path / "m")), tmp_path / "wm", 0, 4)
    names = Space.from_task(load_task(mixed.task_file)).names
    assert {"categorical", "date_parts", "scaler"} <= set(names) and "series" not in names
    work = prepare_task(load_competition(write_series_competition(tmp_path / "s")), tmp_path / "ws", 0, 4)
    names = Space.from_task(load_task(work.task_file)).names
    assert "series" in names and "categorical" not in names and "date_parts" not in names
