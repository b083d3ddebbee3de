"""The bundled competitions (benchmarks/competitions): real layout, real leaderboards, rebuildable, disguised.

Each folder must load as an MLE-bench competition, carry a leaderboard of at least 30 real
runs whose provenance names every row, rebuild byte for byte from its key, and not be a
plain copy of the package's data. The suite must cover classification, regression, AUC and
forecasting, tabular and time series. A forecast becomes a task split in time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.grading import grade_submission, validate_submission
from agent.domains.mle.workfolder import prepare_task
from benchmarks.competitions.build import build_data
from benchmarks.mle_suite import Result, bundled, print_tables

ROOT = Path(__file__).resolve().parents[2] / "benchmarks" / "competitions"
FOLDERS = sorted(p for p in ROOT.iterdir() if (p / "config.yaml").is_file())


def test_the_suite_covers_six_competitions_of_every_kind() -> None:
    metrics = {load_competition(folder).metric_name for folder in FOLDERS}
    assert len(FOLDERS) >= 6 and {"accuracy", "rmse", "auc", "mae"} <= metrics
    series = [f for f in FOLDERS if "t000" in pd.read_csv(f / "prepared/public/test.csv", nrows=1).columns]
    dated = [f for f in FOLDERS if "date" in pd.read_csv(f / "prepared/public/test.csv", nrows=1).columns]
    assert series and dated and len(FOLDERS) > len(series) + len(dated)  # tabular ones too
    assert bundled() == [f.name for f in FOLDERS]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_each_leaderboard_is_thirty_real_runs_with_provenance(folder: Path) -> None:
    competition = load_competition(folder)
    board = pd.read_csv(folder / "leaderboard.csv")
    provenance = json.loads((folder / "provenance.json").read_text())
    teams = provenance["teams"]
    assert len(board) >= 30 and len(teams) == len(board)
    assert list(board.teamName) == [t["team"] for t in teams]
    assert np.allclose(board.score, [t["score"] for t in teams])
    assert any(t["tool"] == "flaml" for t in teams) and any(t["tuned"] for t in teams)
    assert any(not t["tuned"] for t in teams)
    ranked = sorted(board.score, reverse=not competition.lower_is_better)
    assert list(board.score) == ranked  # best first, as Kaggle writes it
    assert len(set(board.score)) >= 8  # a spread (accuracy on a few hundred rows ties often)


@pytest.mark.parametrize("name", ["strop-digits", "strop-co2", "strop-star98"])
def test_prepared_data_rebuilds_byte_for_byte(tmp_path: Path, name: str) -> None:
    private = tmp_path / name / "prepared" / "private"
    private.mkdir(parents=True)
    shutil.copyfile(ROOT / name / "prepared/private/key.json", private / "key.json")
    rebuilt = build_data(name, tmp_path)
    for relative in (
        "prepared/public/train.csv",
        "prepared/public/test.csv",
        "prepared/private/test.csv",
        "prepared/public/sample_submission.csv",
        "config.yaml",
    ):
        assert (rebuilt / relative).read_bytes() == (ROOT / name / relative).read_bytes(), relative


def test_digits_rows_are_not_the_package_rows() -> None:
    """No prepared column is a package column, and no prepared row is a package row (in any order)."""
    from sklearn.datasets import load_digits

    package = load_digits().data
    train = pd.read_csv(ROOT / "strop-digits/prepared/public/train.csv")
    features = train.drop(columns=["id", "target"]).to_numpy()
    package_rows = {tuple(sorted(row)) for row in package}
    assert not any(tuple(sorted(row)) in package_rows for row in features)
    package_columns = {tuple(package[:50, j]) for j in range(package.shape[1])}
    assert all(tuple(features[:50, j]) not in package_columns for j in range(features.shape[1]))


def test_a_forecast_is_split_in_time_and_refitted_on_every_row(tmp_path: Path) -> None:
    competition = load_competition(ROOT / "strop-co2")
    folder = prepare_task(competition, tmp_path / "work", seed=0, experiments=3)
    public = folder.root / "public"
    fit, holdout, test = (pd.read_csv(public / n) for n in ("fit.csv", "holdout.csv", "test.csv"))
    train = pd.read_csv(competition.public / "train.csv")
    assert len(holdout) == len(test) and fit.date.max() < holdout.date.min()
    # No file of the experiments' public data holds the holdout's targets (they select).
    answers = pd.read_csv(folder.root / "private" / "validate" / "holdout_answers.csv")
    for path in public.glob("*.csv"):
        frame = pd.read_csv(path)
        if "target" in frame and path.name != "holdout_sample.csv":  # the sample's targets are zeros
            assert not set(frame.id) & set(answers.id), path.name
    assert set(answers.id) == set(holdout.id)
    # The final phase refits on every training row, in time order, up to the last known date.
    final = pd.read_csv(folder.root / "public-final" / "fit.csv")
    assert (
        final.sort_values("date")
        .reset_index(drop=True)
        .equals(train.sort_values("date").reset_index(drop=True))
    )
    assert final.date.is_monotonic_increasing
    task = folder.task_file.read_text()
    assert "trend = " in task and "recent = " in task and "memory = false" in task
    assert 'final_public = "public-final"' in task
    assert json.loads((public / "mle.json").read_text())["forecast"] is True


def test_a_small_tabular_competition_selects_on_random_folds(tmp_path: Path) -> None:
    folder = prepare_task(load_competition(ROOT / "strop-diabetes"), tmp_path / "work", seed=0, experiments=3)
    assert json.loads((folder.root / "public-final" / "mle.json").read_text())["forecast"] is False
    folds = sorted((folder.root / "public").glob("fold-*"))
    assert len(folds) == 5 and "folds = 5" in folder.task_file.read_text()
    held = [len(pd.read_csv(fold / "holdout.csv")) for fold in folds]
    assert len(pd.read_csv(folder.root / "public-final" / "fit.csv")) == sum(held)
    assert max(held) - min(held) <= 1  # shuffled, not in time
    assert "trend = " not in folder.task_file.read_text()


def test_the_solution_forecasts_a_valid_submission(tmp_path: Path) -> None:
    """The starting solution.py, run for real on the final phase's public files, forecasts well."""
    competition = load_competition(ROOT / "strop-co2")
    folder = prepare_task(competition, tmp_path / "work", seed=0, experiments=3)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    env = {**os.environ, "STROP_PUBLIC": str(folder.root / "public-final"), "STROP_OUTPUTS": str(outputs)}
    done = subprocess.run(
        [sys.executable, "solution.py"],
        cwd=folder.root / "workspace",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert validate_submission(outputs / "submission.csv", competition).valid
    report = grade_submission(outputs / "submission.csv", competition)
    assert report.valid_submission and report.score is not None
    assert report.score < report.median_threshold  # a forecast, not a flat line: beats half the board


def _result(side: str, seed: int, medal: bool, score: float | None = 1.0) -> Result:
    return Result(side, "c", seed, score, "gold" if medal else "-", medal, medal, 1.0, "")


def test_the_suite_table_says_tie_when_the_rates_are_equal(capsys: pytest.CaptureFixture[str]) -> None:
    print_tables(
        [
            _result("strop", 0, True),
            _result("flaml", 0, False, None),
            _result("strop", 1, False),
            _result("flaml", 1, True),
        ]
    )
    out = capsys.readouterr().out
    assert "any-medal rate: tie" in out and "strop: any medal 1/2 (50%)" in out and "invalid" in out
    print_tables([_result("strop", 0, True), _result("flaml", 0, False)])
    assert "any-medal rate: strop ahead" in capsys.readouterr().out


def test_flaml_sees_each_competition_as_its_kind() -> None:
    from benchmarks.mle_flaml import kind_of

    assert kind_of(ROOT / "strop-co2") == ("forecast", "mae")
    assert kind_of(ROOT / "strop-fair") == ("classification", "auc")
    assert kind_of(ROOT / "strop-diabetes") == ("regression", "rmse")


def test_the_suite_resumes_from_its_results_file_without_running_anything_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sitting's results are kept; the next sitting runs only what is missing, at the same commit."""
    import benchmarks.mle_suite as suite

    commit = suite.head_commit()
    ran: list[tuple[str, int, str]] = []

    def run_pair(folder: Path, seconds: float, seed: int, *_: object) -> list[Result]:
        side = _[-1]  # `sides`: the pair's missing side(s)
        ran.append((folder.name, seed, str(side)))
        return [Result(s, folder.name, seed, 0.5, "-", False, False, 1.0, "stub") for s in ("strop", "flaml")]

    monkeypatch.setattr(
        suite, "run_pair", run_pair
    )  # the runs themselves are measured by the suite, not here
    monkeypatch.setattr(suite, "peer_installed", lambda: True)  # FLAML is an optional extra
    path = tmp_path / "results.json"
    first = bundled()[0]
    done = [
        Result(s, first, 0, 0.9, "gold", True, True, 1.0, "earlier", commit, 1.0) for s in ("strop", "flaml")
    ]
    path.write_text(json.dumps([r.__dict__ for r in done]))
    work = tmp_path / "work"
    unfinished = work / f"{first}-s1-strop"  # a sitting stopped mid-pair: `mle run` refuses a used --out
    (unfinished / "workspace").mkdir(parents=True)
    kept = work / f"{first}-s0-strop"  # a finished pair's folder is evidence, kept
    kept.mkdir()
    suite.main(
        ["--competitions", first, "--seeds", "2", "--time", "1s", "--json", str(path), "--work", str(work)]
    )
    assert ran == [(first, 1, "both")]  # seed 0 was in the file
    assert not unfinished.exists() and kept.is_dir()
    saved = json.loads(path.read_text())
    assert len(saved) == 4 and {row["commit"] for row in saved} == {commit}
    assert "strop: any medal 1/2" in capsys.readouterr().out  # the tables count both sittings

    stale = [{**row, "commit": "0123456789ab"} for row in saved]
    path.write_text(json.dumps(stale))
    with pytest.raises(SystemExit, match="0123456789ab"):
        suite.main(["--competitions", first, "--seeds", "2", "--json", str(path)])
    with pytest.raises(SystemExit, match="no bundled competition"):
        suite.main(["--competitions", "no-such-thing", "--json", str(path)])


def test_a_side_by_side_reads_each_sides_cpu_seconds_from_its_own_group() -> None:
    """The peer's group gets docker's weight; a busy child in it is counted, an idle one is not."""
    from benchmarks.cpu_groups import CPU, Side

    if not (CPU / "cpu.shares").is_file():  # no cgroup v1: the suite runs uncontrolled and says so
        assert Side.open("strop-test-busy", weighted=True) is None
        return
    busy_side, idle_side = (
        Side.open("strop-test-busy", weighted=True),
        Side.open("strop-test-idle", weighted=False),
    )
    assert busy_side is not None and idle_side is not None
    assert busy_side.cpu is not None and (busy_side.cpu / "cpu.shares").read_text().strip() != ""
    spin = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(0.3)\n{spin}"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    busy_side.join(busy.pid)
    idle_side.join(idle.pid)
    before = busy_side.cpu_seconds(), idle_side.cpu_seconds()
    busy.wait(timeout=60)
    idle.wait(timeout=60)
    assert busy_side.cpu_seconds() - before[0] >= 0.9
    assert idle_side.cpu_seconds() - before[1] < 0.2
    for group in [busy_side.cpu, *busy_side.accounting[:1], *idle_side.accounting[:1]]:
        if group is not None:
            group.rmdir()  # empty now that both children have exited


def test_the_suite_stops_before_its_first_run_when_flaml_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchmarks.mle_suite as suite

    ran: list[object] = []
    monkeypatch.setattr(suite, "run_pair", lambda *args: ran.append(args) or [])
    monkeypatch.setattr(suite, "peer_installed", lambda: False)
    argv = ["--competitions", bundled()[0], "--seeds", "1", "--time", "1s", "--work", str(tmp_path / "w")]
    with pytest.raises(SystemExit, match=r"FLAML is not installed; pip install -e '\.\[mle-bench\]'"):
        suite.main([*argv, "--json", str(tmp_path / "r.json")])
    assert ran == []
    suite.main([*argv, "--json", str(tmp_path / "s.json"), "--sides", "strop"])  # strop alone needs no FLAML
    assert len(ran) == 1
