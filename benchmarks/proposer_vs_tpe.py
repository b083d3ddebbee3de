"""strop's offline proposer vs random search vs Optuna TPE, at equal evaluations, over seeds.

    nice -n 10 .venv/bin/python -m benchmarks.proposer_vs_tpe [--seeds 5] [--tasks digits-gbm,diabetes-pca]

Each searcher gets the same number of evaluations of the task's own objective (in
process, see `benchmarks.tuning`), the baseline first. Prints the mean (± std) of
the best score per searcher and task, and strop's mean against TPE's.
Goal: strop ≥ TPE (mean best) on both tasks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.tuning import TASKS, Objective, dump, random_search, strop_search, summary, tpe_search
from evaluators.metric import Direction

BUDGETS = {"digits-gbm": 16, "diabetes-pca": 24}
SEARCHERS = {"strop-evolve": strop_search, "random": random_search, "optuna-tpe": tpe_search}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", default=",".join(BUDGETS))
    parser.add_argument("--out", type=Path, default=Path("out/proposer_vs_tpe.json"))
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    for name in args.tasks.split(","):
        objective = Objective(TASKS / name)
        budget = BUDGETS.get(name, 20)
        results[name] = {}
        for searcher, search in SEARCHERS.items():
            started = time.monotonic()
            bests = [search(objective, budget, seed).best for seed in range(args.seeds)]
            results[name][searcher] = bests
            mean, spread = summary(bests)
            print(
                f"{name:14s} {searcher:13s} {budget:3d} evals × {args.seeds} seeds: "
                f"best {objective.metric} mean {mean:.5g} ± {spread:.3g}  ({time.monotonic() - started:.0f}s)",
                flush=True,
            )
    print("\n| task | evals | seeds | strop-evolve | random | optuna-tpe | strop vs TPE |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for name, by in results.items():
        objective_direction = Objective(TASKS / name).direction
        means = {s: summary(v) for s, v in by.items()}
        ours, tpe = means["strop-evolve"][0], means["optuna-tpe"][0]
        better = ours >= tpe if objective_direction is Direction.MAXIMIZE else ours <= tpe
        verdicts.append(better)
        cells = " | ".join(f"{m:.5g} ± {s:.2g}" for m, s in (means[k] for k in SEARCHERS))
        print(
            f"| {name} | {BUDGETS.get(name, 20)} | {args.seeds} | {cells} | {'≥ TPE' if better else '< TPE'} ({ours - tpe:+.4g}) |"
        )
    dump(args.out, results)
    print(
        f"\ngoal (strop ≥ TPE on every task): {'met' if all(verdicts) else 'NOT met'}; raw results in {args.out}"
    )


if __name__ == "__main__":
    main()
