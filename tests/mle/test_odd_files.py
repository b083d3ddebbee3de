"""Competitions whose files are shaped as Kaggle users bring them: `;`-separated, compressed, ids
repeated, a test.csv that is not UTF-8, free text from a small vocabulary, an RMSLE target that
a linear model predicts below -1. Each is a real `prepare_task`, solution.py and scorer run."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from agent.domains.mle.grading import grade_submission
from agent.domains.mle.workfolder import prepare_task
from tests.mle.test_odd_competitions import fast_recipe, solve_and_score, table_competition
from tests.mle.test_workfolder import score

CSVS = ("prepared/public/train.csv", "prepared/public/test.csv", "prepared/public/sample_submission.csv")


def rewrite(path: Path, **options: object) -> None:
    """The CSV at `path` written again with pandas' `options` (a separator, an encoding)."""
    pd.read_csv(path, dtype=str, keep_default_na=False).to_csv(path, index=False, **options)


def prepared(root: Path, tmp_path: Path) -> Path:
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1).root
    fast_recipe(folder)
    return folder


def test_a_semicolon_separated_competition_runs_and_grades(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    for name in (*CSVS, "prepared/private/answers.csv"):
        rewrite(root / name, sep=";")
    competition = load_competition(root)  # was: "the sample submission needs an id column and a …"
    assert competition.id_column == "rowid" and competition.columns == ("rowid", "y")
    folder = prepared(root, tmp_path)
    assert (folder / "public" / "test.csv").read_text(encoding="utf-8").startswith("rowid,x1,x2\n")
    scored = solve_and_score(folder, tmp_path)
    assert scored.returncode == 0, scored.stderr
    final = score(folder, tmp_path / "outputs", "final", root / "prepared" / "private")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["rmse"] < 1.0
    report = grade_submission(root / "prepared" / "private" / "answers.csv", competition)
    assert report.valid_submission and report.score == 0.0, report.message


def test_compressed_train_and_test_files_are_read_as_they_are(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    public = root / "prepared" / "public"
    train, test = public / "train.csv", public / "test.csv"
    (public / "train.csv.gz").write_bytes(gzip.compress(train.read_bytes()))
    with zipfile.ZipFile(public / "test.csv.zip", "w") as archive:
        archive.write(test, "test.csv")
    train.unlink()
    test.unlink()
    folder = prepared(root, tmp_path)  # was: "train.csv: missing (strop mle run needs a tabular train.csv)"
    assert len(pd.read_csv(folder / "public" / "test.csv")) == 20
    scored = solve_and_score(folder, tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["rmse"] < 1.0


def test_repeated_ids_are_one_line_before_any_experiment(tmp_path: Path) -> None:
    both = table_competition(tmp_path / "both", ids=[f"r{n:03d}" for n in range(79)] + ["r078"])
    with pytest.raises(CompetitionError, match=r"sample_submission\.csv: id 'r078' appears more than once"):
        load_competition(both)  # was: every submission refused, the sample's own copy too
    sample_unique = table_competition(tmp_path / "test-only")
    test = sample_unique / "prepared" / "public" / "test.csv"
    frame = pd.read_csv(test, dtype=str)
    frame.assign(rowid=[*frame.rowid[:-1], frame.rowid.iloc[0]]).to_csv(test, index=False)
    with pytest.raises(CompetitionError, match=r"test\.csv: id 'r060' appears more than once"):
        prepare_task(load_competition(sample_unique), tmp_path / "w1", seed=0, experiments=2)
    frame.assign(rowid=[*frame.rowid[:-1], "zzz"]).to_csv(test, index=False)
    with pytest.raises(CompetitionError, match=r"ids are not the sample submission's \(2 differ"):
        prepare_task(load_competition(sample_unique), tmp_path / "w2", seed=0, experiments=2)


def test_a_test_csv_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    test = root / "prepared" / "public" / "test.csv"
    test.write_bytes(test.read_bytes().replace(b"x2", "Größe".encode("latin-1")))
    with pytest.raises(CompetitionError, match=r"test\.csv: not UTF-8 text \(invalid .*save it as UTF-8"):
        load_competition(root)


def test_free_text_from_a_small_vocabulary_with_quoted_newlines(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    words = np.array(["good", "bad", "fine", "awful", "great", "meh"])
    rng = np.random.default_rng(0)
    for name in ("train.csv", "test.csv"):
        path = root / "prepared" / "public" / name
        frame = pd.read_csv(path, dtype={"rowid": str})
        notes = [" ".join(rng.choice(words, 5)) + ',\n"and" a second line' for _ in range(len(frame))]
        frame.assign(note=notes).to_csv(path, index=False)
    folder = prepared(root, tmp_path)
    scored = solve_and_score(folder, tmp_path)  # was: n_components(64) must be <= n_features(…)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["rmse"] < 1.0


def test_rmsle_predictions_stay_above_minus_one(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c", config_extra="")
    config = root / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("name: rmse", "name: rmsle"), encoding="utf-8"
    )
    for name in ("prepared/public/train.csv", "prepared/private/answers.csv"):
        frame = pd.read_csv(root / name, dtype={"rowid": str})
        frame.assign(y=np.exp(frame.y - 4).round(4)).to_csv(root / name, index=False)  # skewed, near 0
    folder = prepared(root, tmp_path)
    scored = solve_and_score(folder, tmp_path)  # was: "rmsle needs values above -1" (a Ridge below it)
    assert scored.returncode == 0, scored.stderr
    final = score(folder, tmp_path / "outputs", "final", root / "prepared" / "private")
    assert final.returncode == 0, final.stderr
    submitted = pd.read_csv(tmp_path / "outputs" / "submission.csv")
    assert (submitted.y > -1).all() and json.loads(final.stdout)["rmsle"] < 1.0


def test_a_wide_table_keeps_gradient_boosting_out_of_the_starting_ensemble() -> None:
    """500 columns: gradient boosting builds 500 histograms an iteration (3.6 CPU s for 100
    iterations on 960 rows, once per fold); the starting ensemble took a minute and a one-minute
    run ended with no submission."""
    import importlib.util
    import sys

    from agent.domains.mle.recipe import START_PARAMS

    path = Path(__file__).resolve().parents[2] / "agent" / "domains" / "mle" / "solution.py"
    spec = importlib.util.spec_from_file_location("mle_solution_wide", path)
    assert spec is not None and spec.loader is not None
    solution = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = solution
    spec.loader.exec_module(solution)
    assert solution.cpu_seconds("hgb", START_PARAMS, rows=960, features=500, classes=2) > 3.0
    assert "hgb" not in solution.pool(START_PARAMS, rows=960, features=500, classes=2)
    assert solution.cpu_seconds("hgb", START_PARAMS, rows=960, features=8, classes=2) < 1.0  # as before
    assert "hgb" in solution.pool(START_PARAMS, rows=160_000, features=8, classes=0)


FINAL_LOG = """\
$ python solution.py   # stage run
# backend=docker exit=None killed_by=timeout wall=16.898s
--- stdout ---

--- stderr ---

# the run on the final phase's public data failed (stopped by the run's time budget after 16.5s \
(candidate's run stage)); running it again on the public data it was selected with
$ python solution.py   # stage run
# backend=docker exit=None killed_by=timeout wall=10.619s
--- stdout ---

--- stderr ---
"""


def test_a_final_phase_out_of_time_says_so(tmp_path: Path) -> None:
    """The final phase's log as the staged evaluator writes it when the run's deadline stops both
    its refit and its rerun: the report said only "not accepted by the final grading"."""
    from agent.domains.mle.final_failure import final_failure

    def _final_failure(log: Path) -> str:
        return final_failure(log, None, "grade.py", (1, 1)).words

    log = tmp_path / "0-final.log"
    log.write_text(FINAL_LOG, encoding="utf-8")
    said = _final_failure(log)
    assert said.startswith(": its final run was stopped by the run's time budget after 10.619s")
    assert "a longer --time" in said
    log.write_text(FINAL_LOG.replace("stopped by the run's time budget", "x"), encoding="utf-8")
    assert _final_failure(log) == ": its final run was stopped by the task's timeout after 10.619s"
    refused = "$ python -I score.py   # stage score\n# backend=bwrap exit=1\n--- stderr ---\nrmsle needs values above -1\n"
    log.write_text(refused, encoding="utf-8")
    assert _final_failure(log) == ": rmsle needs values above -1"
    assert _final_failure(tmp_path / "absent.log") == ""
