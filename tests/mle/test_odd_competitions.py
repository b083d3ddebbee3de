"""Competitions that are well formed but unusual: train-only columns, the id not first, ids with
leading zeros, an extra answer column, missing targets; and folders or graders that are wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from agent.domains.mle.grading import grade_submission
from agent.domains.mle.workfolder import prepare_task
from tests.mle.conftest import write_competition
from tests.mle.test_workfolder import run as python

ROWS = 60


def table(ids: list[str], seed: int = 0) -> pd.DataFrame:
    """Rows with two features and a target that is a plain function of them."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.random(len(ids)).round(3), rng.random(len(ids)).round(3)
    return pd.DataFrame({"rowid": ids, "x1": x1, "x2": x2, "y": (10 * x1 + 3 * x2).round(3)})


def table_competition(
    root: Path,
    *,
    ids: list[str] | None = None,
    sample_columns: tuple[str, ...] = ("rowid", "y"),
    config_extra: str = "",
    grade_py: str | None = None,
) -> Path:
    """A regression competition (rmse) with `ROWS` training rows and 20 test rows, in CSV files."""
    ids = ids or [f"r{n:03d}" for n in range(ROWS + 20)]
    write_competition(root, metric="rmse", config_extra=config_extra, grade_py=grade_py)
    frame = table(ids)
    train, test = frame.iloc[:ROWS], frame.iloc[ROWS:]
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns="y").to_csv(public / "test.csv", index=False)
    test.assign(y=0.0)[list(sample_columns)].to_csv(public / "sample_submission.csv", index=False)
    test[list(sample_columns)].to_csv(private / "answers.csv", index=False)
    return root


def strop(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if home is not None:
        import os

        env = {**os.environ, "STROP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def fast_recipe(folder: Path) -> None:
    """One linear model instead of the starting ensemble: these tests are about data, not models."""
    params = folder / "workspace" / "params.json"
    params.write_text(json.dumps({**json.loads(params.read_text()), "family": "linear"}), encoding="utf-8")


def solve_and_score(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the task's solution.py, then its scorer on the holdout; the scorer's result."""
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    made = python(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs))
    assert made.returncode == 0, made.stderr
    return score_holdout(folder, outputs)


def score_holdout(folder: Path, outputs: Path) -> subprocess.CompletedProcess[str]:
    """The task's scorer on `outputs`, in the validate phase."""
    return python(
        folder,
        ["-I", "score.py"],
        "scorer",
        STROP_OUTPUTS=str(outputs),
        STROP_PHASE="validate",
        STROP_PRIVATE=str(folder / "private" / "validate"),
    )


# 1. train-only columns
def test_columns_that_test_csv_lacks_are_not_given_to_candidates(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    train = pd.read_csv(root / "prepared" / "public" / "train.csv")
    train.assign(registered=0.7 * train.y).to_csv(root / "prepared" / "public" / "train.csv", index=False)
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1).root
    for path in ("public/fit.csv", "public/holdout.csv", "public-final/fit.csv", "public-final/holdout.csv"):
        columns = list(pd.read_csv(folder / path, nrows=0).columns)
        assert "registered" not in columns and {"rowid", "x1", "x2"} <= set(columns), path
    assert "y" in pd.read_csv(folder / "public" / "fit.csv", nrows=0).columns


# 2. the id column is not first
def test_the_id_column_is_the_sample_column_that_test_csv_has(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c", sample_columns=("y", "rowid"))
    competition = load_competition(root)
    assert competition.id_column == "rowid"
    perfect = root / "prepared" / "private" / "answers.csv"
    done = strop("mle", "grade", str(perfect), str(root), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["valid_submission"] is True and report["score"] == 0.0, report["message"]
    folder = prepare_task(competition, tmp_path / "work", seed=0, experiments=2, folds=1).root
    assert "y" not in pd.read_csv(folder / "public" / "holdout.csv", nrows=0).columns


def test_a_declared_id_column_wins_and_an_unclear_one_is_refused(tmp_path: Path) -> None:
    declared = table_competition(
        tmp_path / "a", sample_columns=("y", "rowid"), config_extra="id_column: rowid\n"
    )
    assert load_competition(declared).id_column == "rowid"
    wrong = table_competition(tmp_path / "b", config_extra="id_column: nope\n")
    with pytest.raises(CompetitionError, match=r"\[id_column\] 'nope' is not a column"):
        load_competition(wrong)
    absent = table_competition(tmp_path / "c")
    test = pd.read_csv(absent / "prepared" / "public" / "test.csv")
    test.rename(columns={"rowid": "Id"}).to_csv(absent / "prepared" / "public" / "test.csv", index=False)
    with pytest.raises(CompetitionError, match="cannot tell the id column: .* share none"):
        load_competition(absent)
    both = table_competition(tmp_path / "d")
    test = pd.read_csv(both / "prepared" / "public" / "test.csv")
    test.assign(y=1).to_csv(both / "prepared" / "public" / "test.csv", index=False)
    with pytest.raises(CompetitionError, match="share rowid, y"):
        load_competition(both)


# 3. ids with leading zeros
def test_ids_with_leading_zeros_stay_text_through_solution_and_scorer(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c", ids=[f"{n:05d}" for n in range(ROWS + 20)])
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1).root
    fast_recipe(folder)
    scored = solve_and_score(folder, tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["rmse"] < 1.0
    submitted = (tmp_path / "outputs" / "submission.csv").read_text(encoding="utf-8").splitlines()
    assert submitted[1].startswith("00060,")


# 4. an extra answer column
def test_an_extra_answer_column_is_not_a_target(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    answers = pd.read_csv(root / "prepared" / "private" / "answers.csv")
    answers.to_csv(tmp_path / "perfect.csv", index=False)
    answers.assign(Usage="Private").to_csv(root / "prepared" / "private" / "answers.csv", index=False)
    report = grade_submission(tmp_path / "perfect.csv", load_competition(root))
    assert report.valid_submission and report.score == 0.0, report.message


# 5. training rows without a target
def test_rows_without_a_target_are_left_out_of_training(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    train = pd.read_csv(root / "prepared" / "public" / "train.csv")
    train.loc[::10, "y"] = np.nan  # 6 of 60
    train.to_csv(root / "prepared" / "public" / "train.csv", index=False)
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1).root
    answers = pd.read_csv(folder / "private" / "validate" / "holdout_answers.csv")
    fit = pd.read_csv(folder / "public" / "fit.csv")
    assert answers.y.notna().all() and fit.y.notna().all() and len(fit) + len(answers) == ROWS - 6
    assert "6 training rows without a target were left out" in (folder / "task.toml").read_text(
        encoding="utf-8"
    )
    # A fit.csv with gaps in its targets (written by hand, or by an older strop): the recipe drops them too.
    fit.loc[::5, "y"] = np.nan
    fit.to_csv(folder / "public" / "fit.csv", index=False)
    fast_recipe(folder)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made = python(folder, ["solution.py"], "workspace", STROP_OUTPUTS=str(outputs))
    assert made.returncode == 0, made.stderr
    assert "training rows without 'y' left out" in made.stderr


# 6. a competition id with path parts
@pytest.mark.parametrize("bad", ["../../ESCAPED", "a/b", ".hidden", "..", "a b"])
def test_a_competition_id_must_be_a_plain_name(tmp_path: Path, bad: str) -> None:
    root = table_competition(tmp_path / "c")
    config = root / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("id: tiny-rmse", f"id: {bad!r}"), encoding="utf-8"
    )
    with pytest.raises(CompetitionError, match=r"\[id\] .* must be a plain name"):
        load_competition(root)


def test_mle_run_refuses_an_id_with_path_parts_before_writing(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    config = root / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("id: tiny-rmse", "id: ../../ESCAPED"), encoding="utf-8"
    )
    home = tmp_path / "deep" / "home"
    done = strop("mle", "run", str(root), "--time", "30s", "-n", "1", "--folds", "1", home=home)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "plain name" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "ESCAPED-s0").exists()
    assert not list(tmp_path.rglob("ESCAPED*"))


# 7. grade.py that exits or prints
def test_a_grader_that_calls_sys_exit_is_a_grader_error(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c", grade_py="import sys\ndef grade(s, a):\n    sys.exit(0)\n")
    perfect = root / "prepared" / "private" / "answers.csv"
    done = strop("mle", "grade", str(perfect), str(root), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "sys.exit(0)" in done.stderr and "Traceback" not in done.stderr


PRINTING_GRADER = """
print("importing {not json")
def grade(submission, answers):
    print('{"score": 999}')
    return 0.5
"""


def test_what_a_grader_prints_stays_off_stdout(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c", grade_py=PRINTING_GRADER)
    perfect = root / "prepared" / "private" / "answers.csv"
    done = strop("mle", "grade", str(perfect), str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == 0.5
    assert '{"score": 999}' in done.stderr and "importing" in done.stderr
    # The trusted scorer of `strop mle run` too: its stdout is the score's JSON alone.
    folder = prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1).root
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    public = folder / "public"
    (outputs / "submission.csv").write_bytes((public / "sample_submission.csv").read_bytes())
    (outputs / "holdout.csv").write_bytes((public / "holdout_sample.csv").read_bytes())
    scored = score_holdout(folder, outputs)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout) == {"rmse": 0.5}


# 8. unreadable input, a file for --out, overflowing predictions
def test_a_train_csv_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    train = root / "prepared" / "public" / "train.csv"
    train.write_bytes(train.read_bytes().replace(b"x2", "Größe".encode("latin-1")))
    with pytest.raises(CompetitionError, match=r"train\.csv: not UTF-8 text \(invalid"):
        prepare_task(load_competition(root), tmp_path / "work", seed=0, experiments=2, folds=1)


def test_mle_run_with_a_file_for_out_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    taken = tmp_path / "taken.txt"
    taken.write_text("mine", encoding="utf-8")
    done = strop("mle", "run", str(root), "--out", str(taken), "-n", "1", home=tmp_path / "home")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is a file" in done.stderr and "Traceback" not in done.stderr
    assert taken.read_text(encoding="utf-8") == "mine"


def test_predictions_that_overflow_the_metric_are_an_invalid_submission(tmp_path: Path) -> None:
    root = table_competition(tmp_path / "c")
    sample = pd.read_csv(root / "prepared" / "public" / "sample_submission.csv")
    sample.assign(y=1e308).to_csv(tmp_path / "huge.csv", index=False)
    report = grade_submission(tmp_path / "huge.csv", load_competition(root))
    assert not report.valid_submission and "non-finite rmse" in report.message


# a grader that raises or hangs is the competition's fault, before any candidate is blamed
@pytest.mark.parametrize(
    ("grade_py", "said"),
    [
        ("def grade(s, a):\n    raise KeyError('label_true')\n", "raised KeyError: 'label_true'"),
        ("import time\ndef grade(s, a):\n    time.sleep(3600)\n", "did not finish"),
    ],
)
def test_mle_run_refuses_a_broken_grader_before_any_experiment(
    tmp_path: Path, grade_py: str, said: str
) -> None:
    from agent.domains.mle.grader_check import check_grader
    from agent.domains.mle.grading import GraderError

    root = table_competition(tmp_path / "c", grade_py=grade_py)
    folder = prepare_task(load_competition(root), tmp_path / "prepared", seed=0, experiments=2)
    with pytest.raises(GraderError, match="placeholder submission") as refused:
        check_grader(load_competition(root), folder.root, timeout=2.0)
    assert said in str(refused.value)
    if "KeyError" in said:  # through the CLI: one line, exit 2, no working folder left
        done = strop(
            "mle", "run", str(root), "--time", "30s", "--out", str(tmp_path / "w"), home=tmp_path / "h"
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and said in done.stderr
        assert not (tmp_path / "w").exists()
    fine = table_competition(tmp_path / "ok", grade_py="def grade(s, a):\n    return 1.0\n")
    ready = prepare_task(load_competition(fine), tmp_path / "ok-prepared", seed=0, experiments=2)
    check_grader(load_competition(fine), ready.root, timeout=30.0)  # a working grader passes


def test_a_link_out_of_the_competition_folder_is_refused_and_one_inside_is_fine(tmp_path: Path) -> None:
    """A description.md linked to /proc/self/environ put strop's environment, keys and all, in every
    candidate's public folder and in the goal sent to the LLM."""
    root = write_competition(tmp_path / "c")
    (root / "notes.md").write_text("# Tiny\nPredict the label of each id.\n")
    (root / "description.md").unlink()
    (root / "description.md").symlink_to("notes.md")  # inside the folder: fine
    assert load_competition(root).description == root / "description.md"
    (root / "description.md").unlink()
    (root / "description.md").symlink_to("/proc/self/environ")
    with pytest.raises(CompetitionError, match="description.md is a link to /proc/self/environ, outside"):
        load_competition(root)
    (root / "description.md").unlink()
    (root / "description.md").write_text("# Tiny\n")
    (root / "prepared" / "public" / "extra").symlink_to(Path.home())  # a folder link, not followed
    with pytest.raises(CompetitionError, match="extra is a link to .*outside the competition folder"):
        load_competition(root)
