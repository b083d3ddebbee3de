"""Rebuild the bundled competitions (MLE-bench's prepared layout) and their leaderboards.

    python -m benchmarks.competitions.build                      # data + leaderboards, all
    python -m benchmarks.competitions.build --only strop-co2     # one competition
    python -m benchmarks.competitions.build --data-only          # prepared data only (fast)
    python -m benchmarks.competitions.build --flaml 5,15,45      # FLAML budgets on the leaderboard

Each competition folder gets `config.yaml`, `description.md`, `prepared/public/` (train.csv,
test.csv, sample_submission.csv, description.md), `prepared/private/` (test.csv: the
answers; key.json: the obfuscation key, made once and reused so that a rebuild writes the
same files), `leaderboard.csv` and `provenance.json` (one entry per leaderboard row: what ran,
with which packages, how long, and its score on the hidden test rows).

The leaderboard is made of real runs, each fitted on `prepared/public/train.csv` alone and
graded on the exact hidden split with the competition's metric (`references`). Run it under
`nice -n 15` on a shared machine: FLAML runs take their whole budget.
"""

from __future__ import annotations

import argparse
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.competitions.sources import SOURCES, Source

HERE = Path(__file__).resolve().parent
ID = "id"
TARGET = "target"


@dataclass(frozen=True)
class Prepared:
    """One competition's split: public train (with target), public test (without), the answers."""

    train: pd.DataFrame
    test: pd.DataFrame
    answers: pd.DataFrame


def key_of(folder: Path) -> int:
    """The competition's obfuscation key, kept in its private folder (made on first build)."""
    path = folder / "prepared" / "private" / "key.json"
    if path.exists():
        return int(json.loads(path.read_text())["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = secrets.randbelow(2**31)
    path.write_text(json.dumps({"seed": seed}) + "\n")
    return seed


def split(source: Source, key: int) -> Prepared:
    """Shuffled rows with opaque ids, a seeded test share; a forecast keeps time order, test last."""
    frame = source.frame.reset_index(drop=True)
    n = len(frame)
    n_test = round(n * source.test_fraction)
    rng = np.random.default_rng(key + 1)
    if source.kind == "forecast":
        order = np.arange(n)
        ids = [f"m{i:04d}" for i in range(n)]
    else:
        order = rng.permutation(n)
        ids = [f"r{i:05d}" for i in rng.permutation(n)]
    shuffled = frame.iloc[order].reset_index(drop=True)
    shuffled.insert(0, ID, ids)
    if source.kind == "forecast":
        train, test = shuffled.iloc[: n - n_test], shuffled.iloc[n - n_test :]
    else:
        test, train = shuffled.iloc[:n_test], shuffled.iloc[n_test:]
    return Prepared(
        train=train.reset_index(drop=True),
        test=test.drop(columns=[TARGET]).reset_index(drop=True),
        answers=test[[ID, TARGET]].reset_index(drop=True),
    )


def write_competition(source: Source, folder: Path, prepared: Prepared) -> None:
    """The MLE-bench layout, without the leaderboard (which `references` fills in)."""
    public, private = folder / "prepared" / "public", folder / "prepared" / "private"
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    prepared.train.to_csv(public / "train.csv", index=False)
    prepared.test.to_csv(public / "test.csv", index=False)
    placeholder = 0.5 if source.metric == "auc" else prepared.train[TARGET].iloc[0]
    prepared.answers.assign(**{TARGET: placeholder}).to_csv(public / "sample_submission.csv", index=False)
    prepared.answers.to_csv(private / "test.csv", index=False)
    description = _description(source, prepared)
    (folder / "description.md").write_text(description, encoding="utf-8")
    (public / "description.md").write_text(description, encoding="utf-8")
    (folder / "config.yaml").write_text(
        f"id: {source.id}\nname: {source.title}\ncompetition_type: simple\nawards_medals: true\n"
        f"description: description.md\n"
        f"dataset:\n  answers: {source.id}/prepared/private/test.csv\n"
        f"  sample_submission: {source.id}/prepared/public/sample_submission.csv\n"
        f"grader:\n  name: {source.metric}\n",
        encoding="utf-8",
    )


def _description(source: Source, prepared: Prepared) -> str:
    what = "the probability that `target` is 1" if source.metric == "auc" else "`target`"
    return (
        f"# {source.title}\n\n{source.description}\n\n"
        f"- train.csv: {len(prepared.train)} rows with `{ID}`, the features and `{TARGET}`.\n"
        f"- test.csv: {len(prepared.test)} rows without `{TARGET}`.\n"
        f"- Submit `{ID},{TARGET}` with {what} for every test row (see sample_submission.csv).\n"
        f"- Metric: {source.metric} ({'lower' if source.metric in ('rmse', 'mae') else 'higher'} is better).\n\n"
        "Built by strop from a data set that ships in a pip package, transformed so that the rows are not "
        "trivially matched to the package's copy (benchmarks/competitions/sources.py).\n"
    )


def build_data(competition_id: str, root: Path = HERE) -> Path:
    """Write (or rewrite, identically) one competition's prepared data; return its folder."""
    folder = root / competition_id
    key = key_of(folder)
    source = SOURCES[competition_id](key)
    write_competition(source, folder, split(source, key))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="competition id (repeatable); default: all")
    parser.add_argument("--data-only", action="store_true", help="prepared data only, no leaderboard")
    parser.add_argument("--flaml", default="5,15,45", help="FLAML budgets in seconds for the leaderboard")
    args = parser.parse_args(argv)
    for competition_id in args.only or list(SOURCES):
        folder = build_data(competition_id)
        print(f"{competition_id}: data written to {folder}", flush=True)
        if not args.data_only:
            from benchmarks.competitions.references import write_leaderboard

            budgets = [float(b) for b in args.flaml.split(",") if b.strip()]
            rows = write_leaderboard(folder, SOURCES[competition_id](key_of(folder)), budgets)
            print(f"{competition_id}: leaderboard of {rows} runs", flush=True)


if __name__ == "__main__":
    main()
