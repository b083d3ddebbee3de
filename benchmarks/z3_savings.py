"""What the Z3 constraint checks save, at equal evaluation budget, on a space with an infeasible region.

    nice -n 10 .venv/bin/python -m benchmarks.z3_savings [--seeds 5] [--budget 24] [--task diabetes-pca]

diabetes-pca crashes whenever degree = 1 and pca > 10 (a quarter of its space); its
rule `degree == 1 -> pca <= 10` says so. Three ways to run strop's offline proposer,
each with the same number of *evaluations*:
- `off`:    no constraints; infeasible points are evaluated and crash;
- `reject`: the check refuses infeasible points before evaluation (no evaluation
            spent), the proposer learns only from the rejections;
- `task`:   as the task is configured for `strop run`: a constraint-aware proposer
            (resample, then Z3 repair) plus the check.
Reported: evaluations spent in the infeasible region (crashes), candidates rejected
before evaluation, and the best score. "Saved" = infeasible evaluations of `off`
minus those of the checked run, at the same budget.
"""

from __future__ import annotations

import argparse

from benchmarks.tuning import TASKS, Objective, dump, strop_search, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--task", default="diabetes-pca")
    args = parser.parse_args()
    objective = Objective(TASKS / args.task)
    rows = {}
    for mode in ("off", "reject", "task"):
        outcomes = [strop_search(objective, args.budget, seed, checks=mode) for seed in range(args.seeds)]
        rows[mode] = {
            "infeasible_evaluated": [o.infeasible_evaluated for o in outcomes],
            "crashes": [o.crashes for o in outcomes],
            "rejected": [o.rejected for o in outcomes],
            "best": [o.best for o in outcomes],
        }
    print(f"{args.task}: {args.budget} evaluations per run × {args.seeds} seeds, metric {objective.metric}\n")
    print(
        "| checks | infeasible evaluations (mean) | crashed evaluations (mean) | rejected before evaluation (mean) | best (mean ± std) |"
    )
    print("|---|---|---|---|---|")
    for mode, row in rows.items():
        mean_best, spread = summary(row["best"])
        print(
            f"| {mode} | {sum(row['infeasible_evaluated']) / args.seeds:.1f} | {sum(row['crashes']) / args.seeds:.1f} | "
            f"{sum(row['rejected']) / args.seeds:.1f} | {mean_best:.5g} ± {spread:.2g} |"
        )
    base = sum(rows["off"]["infeasible_evaluated"]) / args.seeds
    for mode in ("reject", "task"):
        saved = base - sum(rows[mode]["infeasible_evaluated"]) / args.seeds
        print(
            f"\nevaluations saved by the checks ({mode}): {saved:.1f} of {args.budget} per run ({saved / args.budget:.0%})"
        )
    dump(TASKS.parent.parent / "out" / "z3_savings.json", rows)


if __name__ == "__main__":
    main()
