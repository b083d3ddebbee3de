"""A train.csv that names an id more than once (legal in MLE-bench's data; test.csv's ids are once each).

Before, the holdout kept the repeats: every experiment's holdout.csv was refused ("id '000027'
appears more than once"), and the run spent its budget to end "no valid submission". Now the rows
of one id are held out together (never on both sides) and each repeat gets an id of its own.
On a real bundled competition (strop-diabetes: 309 training rows, 5 folds), with the real scorer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agent.domains.mle.competition import load_competition
from agent.domains.mle.workfolder import prepare_task, unique_ids
from tests.mle.test_run_refusals import diabetes, strop

REPEATS = 25


def repeated(tmp_path: Path) -> Path:
    """strop-diabetes with its first 25 rows twice more in train.csv (one changed target each time)."""
    root = diabetes(tmp_path)
    path = root / "prepared" / "public" / "train.csv"
    train = pd.read_csv(path, dtype={"id": str})
    again = train.head(REPEATS).assign(target=lambda rows: rows.target + 1.0)
    pd.concat([train, train.head(REPEATS), again]).to_csv(path, index=False)
    return root


@pytest.mark.parametrize("folds", [None, 1])  # five folds (under 1000 rows), and one holdout
def test_each_split_holds_an_id_out_whole_and_its_scorer_accepts_the_holdout(
    tmp_path: Path, folds: int | None
) -> None:
    root = repeated(tmp_path)
    out = tmp_path / "w"
    prepare_task(load_competition(root), out, seed=0, experiments=1, folds=folds)
    splits = sorted((out / "public").glob("fold-*")) or [out / "public"]
    assert len(splits) == (5 if folds is None else 1)
    original = set(pd.read_csv(root / "prepared" / "public" / "train.csv", dtype=str)["id"])
    for public in splits:
        fit = pd.read_csv(public / "fit.csv", dtype={"id": str})
        holdout = pd.read_csv(public / "holdout.csv", dtype={"id": str})
        assert not holdout["id"].duplicated().any()
        assert not set(fit["id"]) & set(holdout["id"])  # a repeated row never judges its own copy
        renamed = set(holdout["id"]) - original
        assert all("~" in name for name in renamed)
        private = out / "private" / "validate" / public.relative_to(out / "public")
        answers = pd.read_csv(private / "holdout_answers.csv", dtype={"id": str})
        perfect = out / "outputs" / public.name
        perfect.mkdir(parents=True)
        answers.to_csv(perfect / "holdout.csv", index=False)
        (perfect / "submission.csv").write_bytes((public / "sample_submission.csv").read_bytes())
        env = {
            **os.environ,
            "STROP_OUTPUTS": str(perfect),
            "STROP_PUBLIC": str(public),
            "STROP_PRIVATE": str(private),
            "STROP_PHASE": "validate",
        }
        scored = subprocess.run(
            [sys.executable, "-I", "score.py"], cwd=out / "scorer", env=env, capture_output=True, text=True
        )
        assert scored.returncode == 0, (
            scored.stderr
        )  # was: invalid holdout.csv: id ... appears more than once
        assert json.loads(scored.stdout) == {"rmse": 0.0}
    held = sum(len(pd.read_csv(p / "holdout.csv")) for p in splits)
    if folds is None:
        assert held == 309 + 2 * REPEATS  # every row judges once
    final = pd.read_csv(out / "public-final" / "fit.csv", dtype={"id": str})
    assert len(final) == 309 + 2 * REPEATS and set(final["id"]) == original  # the refit: every row, as given


def test_mle_run_on_repeated_ids_ends_with_a_graded_submission(tmp_path: Path) -> None:
    root = repeated(tmp_path)
    done = strop(
        "mle",
        "run",
        str(root),
        "--time",
        "60s",
        "-n",
        "1",
        "--json",
        "--out",
        str(tmp_path / "w"),
        home=tmp_path / "h",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["valid_submission"] is True and report["holdout_score"] is not None


def test_repeated_digit_ids_get_digits_past_every_taken_one() -> None:
    holdout = pd.DataFrame({"key": ["000027", "000003", "000027", "000027"], "y": [1, 2, 3, 4]})
    unique = unique_ids(holdout, "key", others=["000040"])
    assert list(unique["key"]) == [
        "000027",
        "000003",
        "000041",
        "000042",
    ]  # a grader may read them as numbers
    assert list(unique["y"]) == [1, 2, 3, 4]
    words = pd.DataFrame({"key": ["a", "a", "a~2", "a"]})
    assert list(unique_ids(words, "key")["key"]) == ["a", "a~3", "a~2", "a~4"]
    once = pd.DataFrame({"key": ["a", "b"]})
    assert unique_ids(once, "key") is once


def test_too_few_distinct_ids_is_one_line(tmp_path: Path) -> None:
    from agent.domains.mle.competition import CompetitionError

    root = diabetes(tmp_path)
    path = root / "prepared" / "public" / "train.csv"
    train = pd.read_csv(path, dtype={"id": str})
    train.assign(id=[f"r{n % 10}" for n in range(len(train))]).to_csv(path, index=False)
    with pytest.raises(CompetitionError, match="10 distinct ids"):
        prepare_task(load_competition(root), tmp_path / "w", seed=0, experiments=1)
