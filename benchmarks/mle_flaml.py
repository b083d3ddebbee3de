"""FLAML as a competitor: one competition folder in, `submission.csv` out, within a wall-time budget.

    python -m benchmarks.mle_flaml COMPETITION_DIR --time 600 --seed 0 --out DIR [--jobs 2]

It sees what strop's candidates see (`prepared/public/`: train.csv, test.csv) and never the
private answers; `benchmarks.mle_suite` grades its submission the same way as strop's. The
whole process, imports and prediction included, is held to `--time` seconds: FLAML's own
`time_budget` is what is left after start-up, less a margin for refitting and writing.
Classification and regression run on the feature columns; a forecast (a date column whose
test dates follow the training dates) runs FLAML's `ts_forecast` on the dates.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

STARTED = time.monotonic()
MARGIN = 0.12  # share of the budget kept for FLAML's final refit, prediction and writing


def kind_of(competition_dir: Path) -> tuple[str, str]:
    """(kind, metric): classification, regression or forecast, from the config and the public files."""
    from agent.domains.mle.competition import load_competition

    competition = load_competition(competition_dir)
    metric = competition.metric
    assert metric is not None, "the suite's competitions use built-in metrics"
    if metric.kind in ("labels", "probabilities"):
        return "classification", metric.name
    public = competition.public
    train, test = pd.read_csv(public / "train.csv", nrows=5), pd.read_csv(public / "test.csv", nrows=5)
    if "date" in train.columns and "date" in test.columns:
        return "forecast", metric.name
    return "regression", metric.name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("competition", type=Path)
    parser.add_argument("--time", type=float, required=True, help="wall seconds for the whole process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    import flaml.automl  # noqa: F401  (imported before the budget is measured: it takes seconds)

    from benchmarks.competitions.references import ID, TARGET, flaml_predictor

    kind, metric = kind_of(args.competition)
    public = args.competition / "prepared" / "public"
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv")
    budget = max(1.0, args.time * (1 - MARGIN) - (time.monotonic() - STARTED))
    predicted = flaml_predictor(kind, metric, budget, args.seed, args.jobs)(train, test)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({ID: test[ID], TARGET: predicted}).to_csv(args.out / "submission.csv", index=False)
    facts = {"kind": kind, "flaml_time_budget": round(budget, 1), "wall_seconds": time.monotonic() - STARTED}
    (args.out / "flaml.json").write_text(json.dumps(facts) + "\n")


if __name__ == "__main__":
    main()
