"""Launch overhead of each sandbox backend against a bare subprocess, in the same run.

Runs a trivial command (`true`) N times per backend after two warm-up runs, and
prints the median wall time of each next to a bare `subprocess.run(["true"])`,
with the difference and the goal (docker <= 400 ms, bwrap <= 30 ms, local <= 10 ms
over bare). Run it niced on a shared machine:

    nice -n 10 .venv/bin/python -m benchmarks.sandbox_overhead --runs 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from sandbox import BACKENDS, Limits, SandboxError, WeakSandboxWarning, open_sandbox

GOALS_MS = {"docker": 400.0, "bwrap": 30.0, "local": 10.0}


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bare(runs: int) -> list[float]:
    times = []
    for _ in range(runs + 2):
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        times.append(time.perf_counter() - started)
    return times[2:]


def backend(name: str, runs: int, workdir: Path) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakSandboxWarning)
        box = open_sandbox(name)
    limits = Limits(timeout=30)
    times = []
    for _ in range(runs + 2):
        started = time.perf_counter()
        result = box.run(["true"], workdir, limits)
        times.append(time.perf_counter() - started)
        if not result.ok:
            raise SandboxError(f"{name}: `true` failed: {result.tail(300)}")
    return times[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="strop-sandbox-bench-") as folder:
        workdir = Path(folder)
        base = _median_ms(bare(args.runs))
        rows.append({"backend": "bare", "median_ms": base, "over_bare_ms": 0.0, "goal_ms": None, "met": None})
        for name in BACKENDS:
            try:
                median = _median_ms(backend(name, args.runs, workdir))
            except SandboxError as error:
                rows.append({"backend": name, "error": str(error)})
                continue
            over = median - base
            goal = GOALS_MS[name]
            rows.append(
                {
                    "backend": name,
                    "median_ms": median,
                    "over_bare_ms": over,
                    "goal_ms": goal,
                    "met": over <= goal,
                }
            )
    if args.json:
        print(json.dumps({"runs": args.runs, "rows": rows}, indent=2))
        return
    print(f"launch overhead of `true`, median of {args.runs} runs")
    print(f"{'backend':8} {'median':>10} {'over bare':>10} {'ratio':>7} {'goal':>8}  met")
    for row in rows:
        if "error" in row:
            print(f"{row['backend']:8} unavailable: {row['error']}")
            continue
        ratio = row["median_ms"] / base if base else float("nan")
        goal = f"{row['goal_ms']:.0f} ms" if row["goal_ms"] else "—"
        met = "" if row["met"] is None else ("yes" if row["met"] else "NO")
        print(
            f"{row['backend']:8} {row['median_ms']:8.1f}ms {row['over_bare_ms']:8.1f}ms {ratio:6.1f}x {goal:>8}  {met}"
        )


if __name__ == "__main__":
    main()
