"""The executor seam measured: Ray against local, side by side in one run.

1. Per-evaluation overhead. One trivial evaluation (a shell `echo` of the metric, in
   the local sandbox) through `LocalExecutor` and through `RayExecutor` on a real
   two-node cluster on loopback, N times each after warm-up; the overhead is the
   difference of the medians (packing the tree, the object store, the worker's
   unpacking, the log coming back). Goal: at most 50 ms.
2. Throughput. A real `strop run` of 40 experiments whose evaluation is CPU-bound
   (a pure-Python loop of fixed work), with 1 and with 2 lanes, on Ray (2 nodes of 1
   CPU: 1 lane keeps one worker process busy, 2 lanes two) and, for reference,
   locally; 2 lanes in both schedules (`batch`, lock-step; `async`, each lane goes on
   when its evaluation ends). Goal: 2 workers at least 1.7x the throughput of 1.
   `lanes busy` is the evaluations' summed time over lanes x wall time.

Each throughput row also gives `serial s/exp`: the run's wall time during which no lane was
evaluating (each batch of lanes costs its slowest evaluation), per experiment: the driver's
serial work plus the executor's dispatch. It caps the speed-up: with evaluations of E seconds,
2 lanes give (S1 + E) / (S2 + E/2).

Run it niced on a shared machine, and note the load (`uptime`) beside the figures:

    nice -n 15 .venv/bin/python -m benchmarks.executor [--runs 30] [--experiments 40] [--work 3000000]

Measured 2026-12-01 21:30-23:08 UTC, 2 cores, the benchmark at `nice -n -20` with other work niced
(sched_autogroup off), load 1-9: overhead ray - local 15-23 ms (4 runs; goal met). Throughput with
`--work 15000000` (~2.5 s evaluations), three runs: ray 1.68x, 1.68x, 1.60x; local 1.71x, 1.70x,
1.76x (goal met locally, not on Ray). With the default work (~0.6 s evaluations): ray 1.46x,
local 1.49x. The cap is the driver's serial work per experiment (~0.45 s: git bookkeeping, the
lesson's embedding, the loop's checkpoints), done while no lane evaluates; it weighs more the
shorter the evaluation.

2026-12-02 (helper-15), after cutting that work (a lane in a known state is not checked out or
cleaned again, `commit -a`, no `rev-parse`: git processes per experiment 22.7 -> 6.6; a run's
records kept up to date instead of re-read from git and copied without deepcopy; query vectors
kept; checkpoints not fsynced). Same commands, the benchmark at nice 15 beside another helper's
CPU-bound benchmark at nice 15 (so 2 lanes' evaluations ran 20-65% slower than 1 lane's: the
ratios below measure that load, not strop), the same machine, before and after:
`--work 15000000`, load 1.8-2.8: serial s/exp before (HEAD 7d5076c) local 0.300 / 0.265,
ray 0.382 / 0.369 (1 / 2 lanes); after local 0.110 / 0.090, ray 0.161 / 0.187; ratios after
local 1.48x, ray 1.12x (median evaluation 2.62 -> 3.25 s, 2.39 -> 3.98 s with 2 lanes); before
1.31x, 1.29x. Default work, load 2.1-2.5: serial local 0.112 / 0.118, ray 0.199 / 0.153; ray
1.58x (evaluations 0.62 / 0.64 s), local 1.12x (0.59 / 0.85 s). With evaluations that keep
their speed (a quiet machine), the serial figures give about 1.95x local and 1.85x ray at 2.5 s,
1.7x local and 1.75x ray at 0.6 s: to be confirmed quietly.

Re-measured by the lead, 2026-12-02 02:30-02:36 UTC, the benchmark at `nice -n -20`, the only
other work a helper's benchmark at nice 15 (sched_autogroup off), load 1.8-2.2, `--work 15000000
--runs 10`: overhead ray - local 19.4 ms (goal met). Throughput: local 1 lane 99.7 s, 2 lanes
63.8 s = 1.56x (median evaluation 2.33 -> 2.79 s with 2 lanes), serial 0.107 / 0.099 s/exp; ray
100.7 s / 60.0 s = **1.68x** (median evaluation 2.46 / 2.44 s), serial 0.152 / 0.153 s/exp. The
driver's serial work is now ~0.1-0.15 s per experiment (from ~0.3-0.45 s); the goal (1.7x) is
still not met on one quiet run: the rest looks like the run's fixed costs (start, the final phase,
which runs on the driver after both lanes are done) and the 2-lane evaluations' own slowdown
on this 2-vCPU machine. A second run at 02:58-03:04 with no other work (load 1.3-2.2): overhead
10.8 ms; local 97.0 / 54.8 s = 1.77x (goal met), ray 95.7 / 58.6 s = 1.63x (not met; serial
0.141 / 0.148 s/exp, median evaluation 2.29 / 2.41 s).

2026-12-02 04:01-04:09 UTC, with asynchronous lanes (`--schedule async`: a lane goes on as soon
as its evaluation ends) measured beside the batch schedule, nothing else running (load 2.4-2.9),
`--work 15000000 --runs 10`: overhead 10.6 ms. Local 1 lane 108.8 s; 2 lanes batch 59.4 s
(1.83x), async 52.3 s (2.08x). Ray 98.3 s; batch 62.2 s (1.58x), async 55.9 s (**1.76x**, goal
met); lanes busy 94% / 82% / 89%. Second run 04:33-04:41 (load 0.8-2.4): overhead 12.8 ms;
local 105.8 s; batch 63.2 s (1.67x), async 55.6 s (1.90x); Ray 109.2 s; batch 62.3 s (1.75x),
async 58.6 s (**1.86x**). The 1-lane wall times differ by 10% between runs: ratios are +-0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

OVERHEAD_GOAL_MS = 50.0
SPEEDUP_GOAL = 1.7

TRIVIAL = """
[task]
name = "trivial"
goal = "Measure the executor."

[evaluator]
command = "echo '{\\"score\\": 1}'"
metric = "score"
direction = "maximize"
timeout = "30s"
sandbox = "local"
files = ["evaluate.py"]
memory = "256m"
"""

CPU_BOUND = """
[task]
name = "cpu-bound"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "120s"
sandbox = "local"
files = ["evaluate.py"]
memory = "512m"

[budget]
experiments = {experiments}

[search]
seed = 0

[space]
x = {{ type = "float", low = -5, high = 5 }}
"""

EVALUATE = """
import json
x = json.load(open("params.json"))["x"]
total = 0
for i in range({work}):
    total += i % 7
print(json.dumps({{"score": -(x - 1.5) ** 2, "work": total}}))
"""


def _workspace(root: Path, task: str, work: int) -> Path:
    root.mkdir(parents=True)
    (root / "evaluate.py").write_text(EVALUATE.format(work=work))
    (root / "params.json").write_text(json.dumps({"x": -4.0}))
    (root / "task.toml").write_text(task)
    return root / "task.toml"


def overhead(address: str, runs: int, root: Path) -> dict[str, float]:
    """Median wall time of one trivial evaluation through each executor, and the difference."""
    from agent.executors import EvaluationJob, ExecutorSpec, LocalExecutor
    from agent.executors.ray_run import RayExecutor
    from agent.home import strop_home
    from agent.run import Run
    from agent.run_index import RunIndex
    from agent.task import load_task

    task = load_task(_workspace(root / "trivial", TRIVIAL, 0))
    run = Run.start(task, strop_home(), RunIndex(strop_home()))
    evaluator = run.evaluator()
    lane = run.repo.lane(run.record.id, 0)
    run.repo.checkout_detached(lane, run.record.base_commit)
    executors = {"local": LocalExecutor(), "ray": RayExecutor.connect(ExecutorSpec("ray", address))}
    medians = {}
    for name, executor in executors.items():
        samples = []
        for index in range(runs + 3):
            started = time.perf_counter()
            (verdict,) = executor.evaluate_all(evaluator, [EvaluationJob(lane, f"{name}-{index}")])
            samples.append(time.perf_counter() - started)
            if verdict.metrics.get("score") != 1:
                raise RuntimeError(f"{name}: the trivial evaluation failed: {verdict.reason}")
        medians[name] = statistics.median(samples[3:]) * 1000
    executors["ray"].close()
    return {
        "local_ms": medians["local"],
        "ray_ms": medians["ray"],
        "overhead_ms": medians["ray"] - medians["local"],
    }


def throughput(
    address: str | None,
    lanes: int,
    experiments: int,
    work: int,
    root: Path,
    label: str = "",
    schedule: str = "batch",
) -> dict[str, float]:
    """Wall time and evaluations per minute of a whole `strop run` of the CPU-bound task."""
    from agent.executors import ExecutorSpec
    from agent.home import strop_home
    from agent.loop import Overrides, start_run
    from agent.run_index import RunIndex
    from agent.task import load_task

    kind = "ray" if address else "local"
    folder = root / f"cpu-{kind}-{lanes}-{schedule}{label}"
    task = load_task(_workspace(folder, CPU_BOUND.format(experiments=experiments), work))
    spec = ExecutorSpec("ray", address) if address else ExecutorSpec()
    overrides = Overrides(parallel=lanes, executor=spec.to_dict(), schedule=schedule)
    started = time.perf_counter()
    result = start_run(task, strop_home(), RunIndex(strop_home()), overrides)
    seconds = time.perf_counter() - started
    ok = sum(1 for record in result.records if record.status.value == "ok")
    if ok != experiments:
        raise RuntimeError(f"{kind} x{lanes}: {ok} of {experiments} evaluations were ok")
    evaluation = statistics.median(record.eval_seconds for record in result.records)
    return {
        "seconds": seconds,
        "per_minute": 60 * experiments / seconds,
        "median_eval_s": evaluation,
        "serial_s": _serial_seconds(result.records, lanes, seconds) / experiments
        if schedule == "batch"
        else math.nan,
        "busy": sum(record.eval_seconds for record in result.records) / (lanes * seconds),
    }


def _serial_seconds(records: list, lanes: int, seconds: float) -> float:
    """The run's wall time with no lane evaluating: the driver's serial work (and the executor's).

    The loop evaluates a batch of `lanes` experiments at once (the baseline alone first,
    then consecutive ids), so each batch costs its slowest evaluation.
    """
    ordered = sorted(records, key=lambda record: record.id)
    batches = [ordered[:1]] + [ordered[i : i + lanes] for i in range(1, len(ordered), lanes)]
    return seconds - sum(max(record.eval_seconds for record in batch) for batch in batches if batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="trivial evaluations per executor")
    parser.add_argument("--experiments", type=int, default=40)
    parser.add_argument(
        "--work", type=int, default=3_000_000, help="loop iterations per CPU-bound evaluation"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from agent.executors.cluster import LocalCluster, disconnect

    with tempfile.TemporaryDirectory(prefix="strop-bench-executor-") as folder:
        root = Path(folder)
        os.environ["STROP_HOME"] = str(root / "home")
        load = _uptime()
        began = time.perf_counter()
        with LocalCluster(nodes=2, cpus=1) as cluster:
            start_seconds = time.perf_counter() - began
            results: dict[str, object] = {"load_before": load, "cluster_start_s": start_seconds}
            _say(f"cluster up in {start_seconds:.1f}s at {cluster.address}; measuring overhead")
            results["overhead"] = overhead(cluster.address, args.runs, root)
            disconnect()
            for kind, address in (("local", None), ("ray", cluster.address)):
                _say(f"warm-up: {kind}")  # imports, LangGraph, the workers' first evaluator build
                throughput(address, 2, 2, 1000, root, label="warm")
                disconnect()
                for lanes, schedule in ((1, "batch"), (2, "batch"), (2, "async")):
                    _say(f"throughput: {kind} with {lanes} lane(s), {schedule}")
                    results[f"{kind}_x{lanes}{_suffix(schedule)}"] = throughput(
                        address, lanes, args.experiments, args.work, root, schedule=schedule
                    )
                    disconnect()
        results["load_after"] = _uptime()
    _report(results, args)


def _suffix(schedule: str) -> str:
    return "" if schedule == "batch" else f"_{schedule}"


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _report(results: dict, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(results, indent=1))
        return
    over = results["overhead"]
    print(f"load before: {results['load_before']}")
    print(f"cluster start (2 nodes x 1 CPU, loopback): {results['cluster_start_s']:.1f}s")
    print(f"\n1. per-evaluation overhead, trivial evaluator, median of {args.runs}")
    print(f"   local  {over['local_ms']:8.1f} ms")
    print(f"   ray    {over['ray_ms']:8.1f} ms")
    mark = "met" if over["overhead_ms"] <= OVERHEAD_GOAL_MS else "NOT met"
    print(f"   ray - local = {over['overhead_ms']:.1f} ms   (goal <= {OVERHEAD_GOAL_MS:g} ms: {mark})")
    print(
        f"\n2. throughput, strop run of {args.experiments} CPU-bound evaluations ({args.work} loop steps each)"
    )
    print("   executor  lanes  schedule  wall s   evals/min  median eval s  serial s/exp  lanes busy")
    rows = ((1, "batch"), (2, "batch"), (2, "async"))
    for kind in ("local", "ray"):
        for lanes, schedule in rows:
            row = results[f"{kind}_x{lanes}{_suffix(schedule)}"]
            serial = "—" if math.isnan(row["serial_s"]) else f"{row['serial_s']:.3f}"
            print(
                f"   {kind:8}  {lanes:5}  {schedule:8}  {row['seconds']:6.1f}  {row['per_minute']:9.1f}"
                f"  {row['median_eval_s']:13.2f}  {serial:>12}  {row['busy']:9.0%}"
            )
    for kind in ("local", "ray"):
        for schedule in ("batch", "async"):
            two = results[f"{kind}_x2{_suffix(schedule)}"]["per_minute"]
            speedup = two / results[f"{kind}_x1"]["per_minute"]
            mark = "met" if speedup >= SPEEDUP_GOAL else "NOT met"
            print(
                f"   {kind}, {schedule}: 2 workers / 1 worker = {speedup:.2f}x"
                f"   (goal >= {SPEEDUP_GOAL:g}x: {mark})"
            )
    print(f"load after: {results['load_after']}")


if __name__ == "__main__":
    main()
