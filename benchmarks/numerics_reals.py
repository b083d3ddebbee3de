"""Benchmark: over the reals (float64 evaluation, relative error), the best program of a
cost vs the minimax polynomial of the same cost (acceptance 2; goal ≥ 10× smaller).

Default: exp on [-1, 1] at cost 10 (on exp2 [0, 1] the degree-10 polynomial is already at
float64's rounding floor, so no ratio can show there; pass --fn exp2 --interval 0,1 to see).

    nice -n 10 .venv/bin/python benchmarks/numerics_reals.py --time 240
"""

from __future__ import annotations

import argparse
import warnings

from agent.domains.numerics.discovery import discover
from agent.domains.numerics.request import Request


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--fn", default="exp")
    parser.add_argument("--interval", default="-1,1")
    parser.add_argument("--cost", type=int, default=10)
    parser.add_argument("--time", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    lo, hi = (float(v) for v in args.interval.split(","))
    request = Request(args.fn, lo, hi, "float64", time_budget=args.time, seed=args.seed,
                      workers=args.workers, max_cost=args.cost)  # fmt: skip
    report = discover(request)
    minimax = next(b for b in report.baselines if b.name == f"minimax-{args.cost}")
    best = min((e for e in report.front if e.cost <= args.cost), key=lambda e: e.max_rel_error)
    print(
        f"{args.fn} on [{lo}, {hi}], float64, {report.stats.evaluated} evaluated in {report.stats.wall_time:.0f}s"
    )
    for entry in report.front:
        baseline = report.best_baseline(entry.cost)
        print(f"  cost {entry.cost:>2}: {entry.max_rel_error:.3e} rel   best baseline {baseline.name if baseline else '-'}"
              f" {baseline.max_rel_error if baseline else float('nan'):.3e}")  # fmt: skip
    print(
        f"best program at cost ≤ {args.cost}: cost {best.cost}, max rel error {best.max_rel_error:.3e}\n{best.program}"
    )
    print(f"minimax polynomial of cost {args.cost}: {minimax.max_rel_error:.3e}")
    print(f"ratio minimax / strop: {minimax.max_rel_error / best.max_rel_error:.1f}× (goal ≥ 10×)")


if __name__ == "__main__":
    main()
