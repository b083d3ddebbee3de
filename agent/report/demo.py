"""A demo run of any size, built cheaply: real git commits, notes and index, scores computed in-process.

Reports, the web UI and their benchmarks need runs of hundreds of experiments; a
real loop would spend minutes evaluating them. This builder goes through the same
`Run` bookkeeping as the loop (a branch and a note per experiment, the index kept
in step) but scores each candidate with the task's own formula in this process
instead of a sandbox. It is for demos, screenshots and measurements of the views,
never for claims about search quality.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from agent.records import Cost
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status, Verdict

EVALUATOR = """import json
p = json.load(open("params.json"))
print(json.dumps({"score": -(p["x"] - 1.5) ** 2 - (p["n"] - 12) ** 2 / 16}))
"""

TASK = """[task]
name = "demo"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
"""


def score(params: dict[str, float]) -> float:
    """The demo evaluator's formula (the same as EVALUATOR's)."""
    return -((params["x"] - 1.5) ** 2) - (params["n"] - 12) ** 2 / 16


def make_workspace(folder: Path) -> Path:
    """A git repo holding the demo task; returns its task file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evaluate.py").write_text(EVALUATOR)
    (folder / "params.json").write_text(json.dumps({"x": -3.0, "n": 2}) + "\n")
    (folder / "task.toml").write_text(TASK)
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-qm", "demo task"]):
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)
    return folder / "task.toml"


def build_demo_run(home: Path, folder: Path, experiments: int = 200, seed: int = 0) -> str:
    """Make a demo run of `experiments` experiments in a new repo at `folder`; returns the run id."""
    rng = random.Random(seed)
    task = load_task(make_workspace(folder))
    index = RunIndex(home)
    run = Run.start(task, home, index)
    zero = run.commit_candidate(
        0, None, Candidate(idea="baseline: the workspace as it is", proposer="baseline")
    )
    params0 = {"x": -3.0, "n": 2}
    records = {0: run.conclude(zero, _verdict(params0))}
    params = {0: params0}
    for exp in range(1, experiments):
        ok = [r for r in records.values() if r.status is Status.OK]
        ok.sort(key=lambda r: -r.metrics["score"])
        parent = ok[min(len(ok) - 1, int(rng.expovariate(0.5)))]
        child = {
            "x": round(params[parent.id]["x"] + rng.gauss(0, 1.0), 4),
            "n": max(1, params[parent.id]["n"] + rng.choice([-2, -1, 0, 1, 2, 3])),
        }
        idea = f"mutate {parent.id}: x={child['x']}, n={child['n']}"
        llm_like = exp % 3 == 0
        candidate = Candidate(
            idea=idea,
            files={"params.json": json.dumps(child) + "\n"},
            proposer="llm" if llm_like else "evolve",
            params=child,
            cost=Cost(prompt_tokens=900, completion_tokens=150, usd=0.0004, calls=2) if llm_like else Cost(),
            turns=rng.randint(1, 4) if llm_like else 0,
            decisions=[f"turns: granted {rng.randint(1, 2)} more (progress shown)"] if exp % 17 == 0 else [],
        )
        record = run.commit_candidate(exp, parent, candidate)
        params[exp] = child
        roll = rng.random()
        if roll < 0.08:
            record = run.reject(record, "constraint n % 2 == 0 violated", "unsat core: n % 2 == 0")
        elif roll < 0.14:
            record = run.conclude(record, Verdict(Status.BUGGY, reason="ZeroDivisionError in evaluate.py"))
        elif roll < 0.17:
            record = run.conclude(record, Verdict(Status.TIMEOUT, reason="killed at 20s", wall_time=20.0))
        else:
            record = run.conclude(record, _verdict(child, rng.uniform(0.05, 0.4)))
        records[exp] = record
    run.finish("done", f"budget spent: {experiments} experiments")
    index.close()
    return run.record.id


def _verdict(params: dict[str, float], seconds: float = 0.2) -> Verdict:
    return Verdict(Status.OK, metrics={"score": round(score(params), 6)}, wall_time=seconds, backend="local")
