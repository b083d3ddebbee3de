"""Crash safety under fire: SIGKILL `strop run` at random moments ≥ 20 times, resume each time, audit.

    nice -n 10 .venv/bin/python -m benchmarks.crash_safety [--kills 24] [--experiments 30] [--parallel 2] [--seed 0]

A small generated task (a params file, a protected evaluator that sleeps a little, a
constraint) runs under `strop run`; the benchmark kills the process with SIGKILL at a
random moment after each (re)start of the loop, then `strop resume`s it, `--kills`
times, and lets the last resume finish. It reports in which node each kill landed
(read from the last checkpoint) and the audit of the finished run: experiment ids
0..N-1 with none pending or duplicated, exactly the budget evaluated, index = git,
`git fsck` clean, no worktree, lock file or held lock left.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVALUATOR = textwrap.dedent(
    """
    import json, time
    p = json.load(open("params.json"))
    time.sleep(0.1)
    if p["n"] % 2:
        raise SystemExit("odd n")
    print(json.dumps({"score": -(p["x"] - 1.5) ** 2 - ((p["n"] - 12) / 4) ** 2}))
    """
)
TASK = """
[task]
name = "crash-bench"
goal = "Maximise score."
[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
[budget]
experiments = {experiments}
[search]
parallel = {parallel}
seed = {seed}
[space]
x = {{ type = "float", low = -5, high = 5 }}
n = {{ type = "int", low = 1, high = 21 }}
[constraints]
rules = ["n % 2 == 0"]
on_violation = "reject"
[knowledge]
memory = false
"""


def _strop(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", *args, "--quiet"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _starts(folder: Path) -> int:
    log = folder / "run.log"
    return log.read_text().count('"RunStarted"') if log.exists() else 0


def _in_flight(folder: Path, run_id: str) -> str:
    """The node the last checkpoint says runs next (where the kill interrupted the graph)."""
    path = folder / "checkpoints.sqlite"
    if not path.exists():
        return "before the first checkpoint"
    from langgraph.checkpoint.sqlite import SqliteSaver

    connection = sqlite3.connect(str(path), check_same_thread=False)
    try:
        latest = SqliteSaver(connection).get_tuple({"configurable": {"thread_id": run_id}})
    finally:
        connection.close()
    if latest is None:
        return "before the first checkpoint"
    written = {write[1] for write in latest.pending_writes or []}
    pending = [w.removeprefix("branch:to:") for w in written if w.startswith("branch:to:")]
    if pending:
        return f"after {latest.metadata.get('step')}: between nodes → {pending[0]}"
    channels = [
        k.removeprefix("branch:to:")
        for k in latest.checkpoint["channel_values"]
        if k.startswith("branch:to:")
    ]
    return channels[0] if channels else "start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--experiments", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.8, help="seconds after a (re)start")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="strop-crash-") as scratch:
        home, workspace = Path(scratch) / "home", Path(scratch) / "task"
        workspace.mkdir()
        (workspace / "evaluate.py").write_text(EVALUATOR)
        (workspace / "params.json").write_text(json.dumps({"x": -4.0, "n": 2}))
        task_text = TASK.format(experiments=args.experiments, parallel=args.parallel, seed=args.seed)
        (workspace / "task.toml").write_text(task_text)
        env = {**os.environ, "STROP_HOME": str(home), "PYTHONPATH": str(ROOT)}
        os.environ["STROP_HOME"] = str(home)
        started = time.monotonic()
        process = _strop(["run", str(workspace / "task.toml")], env)
        while not (home / "runs").exists() or not any((home / "runs").iterdir()):
            time.sleep(0.02)
        run_id = next((home / "runs").iterdir()).name
        folder = home / "runs" / run_id
        kills, landed = 0, collections.Counter()
        attempt = 0
        while kills < args.kills:
            while _starts(folder) == attempt and process.poll() is None:
                time.sleep(0.01)
            deadline = time.monotonic() + rng.uniform(0.0, args.max_delay)
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.005)
            if process.poll() is not None:
                print(f"the run ended before kill {kills + 1}: raise --experiments", file=sys.stderr)
                break
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            attempt += 1
            landed[_in_flight(folder, run_id).split(" →")[-1].split(":")[0].strip()] += 1
            process = _strop(["resume", run_id], env)
        out, err = process.communicate(timeout=900)
        seconds = time.monotonic() - started

        from agent.loop.audit import audit_run
        from agent.run_index import RunIndex

        problems = audit_run(run_id, home, RunIndex(home), evaluated=args.experiments)
        records = json.loads(
            subprocess.run(
                [sys.executable, "-W", "ignore", "-c", "from agent.cli import main; main()", "log", run_id, "--json"],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            ).stdout
        )["experiments"]  # fmt: skip
    statuses = collections.Counter(r["status"] for r in records)
    print(
        f"run {run_id}: {args.experiments} experiments, {args.parallel} lanes, {kills} SIGKILLs, {seconds:.0f}s"
    )
    print(
        "kills landed in (next node per the last checkpoint): "
        + ", ".join(f"{k} {v}" for k, v in landed.most_common())
    )
    print(
        f"final resume exit status: {process.returncode}; experiments recorded: {len(records)} ({dict(statuses)})"
    )
    print(
        "audit: "
        + (
            "whole — nothing lost or duplicated, git fsck clean, no stale lock or worktree"
            if not problems
            else "; ".join(problems)
        )
    )
    if problems or process.returncode != 0:
        print(err.decode()[-2000:], file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
