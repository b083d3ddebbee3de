"""A tiny task for the loop's tests: a params file, a protected evaluator, a local sandbox.

The evaluator is plain Python (no numpy), so an experiment costs ~0.1 s of CPU.
Its score peaks at x = 1.5, n = 12, mode = "b", k = 3; an odd `n` crashes it, which is
what the task's constraint `n % 2 == 0` is there to prevent.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

EVALUATOR = textwrap.dedent(
    """
    import json, os, sys, time
    p = json.load(open("params.json"))
    time.sleep(float(os.environ.get("EVAL_SLEEP", "0")))
    if p["n"] % 2:
        raise SystemExit("odd n is not supported: n=%d" % p["n"])
    score = -(p["x"] - 1.5) ** 2 - ((p["n"] - 12) / 4) ** 2 + (0.5 if p["mode"] == "b" else 0.0)
    if p["mode"] == "b":
        score -= abs(p.get("k", 3) - 3) / 10
    print(json.dumps({"score": score}))
    """
)

TASK = """
[task]
name = "tiny"
goal = "Maximise score."

[evaluator]
command = "python evaluate.py"
final = "python evaluate.py"
metric = "score"
direction = "maximize"
timeout = "20s"
sandbox = "local"
files = ["evaluate.py"]
env = {{ EVAL_SLEEP = "{sleep}" }}

[budget]
experiments = {experiments}

[search]
parallel = {parallel}
seed = {seed}
schedule = "{schedule}"

[space]
x = {{ type = "float", low = -5, high = 5 }}
n = {{ type = "int", low = 1, high = 21 }}
mode = {{ type = "choice", choices = ["a", "b"] }}
k = {{ type = "int", low = 1, high = 9, when = "mode == 'b'" }}

[constraints]
rules = {rules}
on_violation = "{on_violation}"

[knowledge]
memory = {memory}
"""


def make_task(
    root: Path,
    experiments: int = 6,
    parallel: int = 1,
    seed: int = 0,
    sleep: float = 0.0,
    rules: list[str] | None = None,
    on_violation: str = "repair",
    params: dict | None = None,
    memory: bool = False,
    schedule: str = "batch",
) -> Path:
    """Write the tiny task into `root` (a fresh folder) and return its task file."""
    root.mkdir(parents=True, exist_ok=True)
    rules = ["n % 2 == 0", "mode == 'b' -> k <= 5"] if rules is None else rules
    (root / "evaluate.py").write_text(EVALUATOR)
    (root / "params.json").write_text(json.dumps(params or {"x": -4.0, "n": 2, "mode": "a"}))
    (root / "task.toml").write_text(
        TASK.format(
            experiments=experiments,
            parallel=parallel,
            seed=seed,
            sleep=sleep,
            rules=json.dumps(rules),
            on_violation=on_violation,
            memory=str(memory).lower(),
            schedule=schedule,
        )
    )
    return root / "task.toml"


@pytest.fixture
def tiny_task(tmp_path: Path) -> Path:
    return make_task(tmp_path / "tiny")
