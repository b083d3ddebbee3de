"""What the two-stage contract costs per experiment, against one stage doing the same work.

On a trivial two-stage task (its stages do almost nothing, so what is measured is the
contract's own cost: a second sandbox, the sealing, the scorer's copy) and on the
converted digits-gbm task (end to end, noisier: a fit takes seconds), per backend, in
the same run and alternating:
- one stage: the legacy form, as a task that does not separate its scorer would write
  it: one process in one sandbox imports the candidate's train.py and the scorer and
  runs both, with the public and private data inside the workspace (so the candidate
  could read the answers and forge the metric);
- two stages: `strop`'s contract (stage run in one sandbox, outputs sealed, the scorer
  in a second sandbox with the private data). Where the scorer's backend can hold a
  command (bwrap, local), its sandbox is set up while stage run works and opened after
  (`evaluators.held`), so what is left is the scorer's own run; docker cannot.
Both evaluate a throwaway export of the same files, through the same evaluator code
(`evaluators.command` vs `evaluators.staged`). The scorer's sandbox is strop's default
(`score_sandbox = "auto"`: bwrap where it works) and, for comparison, the candidates'
own backend. It prints the median wall time of each, the difference, and the goal
(docker ≤ +150 ms, bwrap ≤ +30 ms). Nothing was tuned on
this run; the task is the bundled one. Run it niced on a quiet machine:

    nice -n 10 .venv/bin/python -m benchmarks.two_stage --runs 10 [--backends docker bwrap] [--tasks trivial digits-gbm]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from agent.task import load_task
from evaluators.command import CommandEvaluator
from evaluators.integrity import ProtectedFiles
from evaluators.spec import EvaluatorSpec
from evaluators.staged import StagedEvaluator
from evaluators.trusted import TrustedFiles
from sandbox import WeakSandboxWarning, open_sandbox
from sandbox.backends import open_scorer_sandbox

TASKS = Path(__file__).resolve().parent / "tasks"
TRIVIAL_TRAIN = """
import json, os
from pathlib import Path


def run(params=None, public=None, outputs=None):
    rows = json.loads((Path(public or os.environ["STROP_PUBLIC"]) / "rows.json").read_text())
    (Path(outputs or os.environ["STROP_OUTPUTS"]) / "predictions.json").write_text(json.dumps([0] * len(rows)))


if __name__ == "__main__":
    run()
"""
TRIVIAL_SCORE = """
import json, os
from pathlib import Path


def score(outputs, private):
    guessed = json.loads((Path(outputs) / "predictions.json").read_text())
    labels = json.loads((Path(private) / "labels.json").read_text())
    return {"accuracy": sum(g == t for g, t in zip(guessed, labels, strict=True)) / len(labels)}


if __name__ == "__main__":
    print(json.dumps(score(os.environ["STROP_OUTPUTS"], os.environ["STROP_PRIVATE"])))
"""
TRIVIAL_TOML = """
[task]
name = "trivial"
goal = "the fixed cost of an evaluation"
workspace = "workspace"

[evaluator]
run = "python train.py"
score = "python -I -S score.py"
scorer = "scorer"
public = "public"
private = "private"
metric = "accuracy"
direction = "maximize"
timeout = "60s"
"""


def trivial_task(root: Path) -> Path:
    """A two-stage task whose stages do almost nothing: what is left is the contract's own cost."""
    for folder in ("workspace", "scorer", "public", "private"):
        (root / folder).mkdir(parents=True)
    (root / "workspace" / "train.py").write_text(TRIVIAL_TRAIN)
    (root / "scorer" / "score.py").write_text(TRIVIAL_SCORE)
    (root / "public" / "rows.json").write_text(json.dumps(list(range(100))))
    (root / "private" / "labels.json").write_text(json.dumps([i % 2 for i in range(100)]))
    (root / "task.toml").write_text(TRIVIAL_TOML)
    return root


GOALS_MS = {"docker": 150.0, "bwrap": 30.0, "local": 30.0}
ONE_STAGE = (
    "python -c \"import json, os; os.makedirs('out', exist_ok=True); import train, score; "
    "train.run(public='public', outputs='out'); print(json.dumps(score.score('out', 'private')))\""
)


def _evaluators(
    backend: str, root: Path, task_dir: Path
) -> tuple[CommandEvaluator, StagedEvaluator, StagedEvaluator, Path, Path]:
    task = load_task(task_dir)
    sources = task.trusted_sources()
    assert sources is not None and sources.public is not None and sources.private is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakSandboxWarning)
        box = open_sandbox(backend)
    two_ws = root / "two"
    shutil.copytree(task.workspace, two_ws)
    one_ws = root / "one"
    shutil.copytree(task.workspace, one_ws)
    shutil.copytree(sources.public, one_ws / "public")
    shutil.copytree(sources.private, one_ws / "private")
    shutil.copy(sources.scorer / "score.py", one_ws / "score.py")
    empty = ProtectedFiles.snapshot(two_ws, [], root / "protected")
    base = task.evaluator.model_dump()
    for key in ("run", "score", "scorer", "public", "private", "final_private", "expects", "score_timeout"):
        base.pop(key)
    base.pop("score_sandbox")
    one_spec = EvaluatorSpec(**{**base, "command": ONE_STAGE, "sandbox": backend})
    trusted = TrustedFiles.snapshot(sources, root / "trusted")
    one = CommandEvaluator(one_spec, empty, box, root / "logs-one", root / "one-run")
    scorer = open_scorer_sandbox("auto", box)
    two = StagedEvaluator(task.evaluator, empty, trusted, box, root / "logs-two", root / "two-run", scorer)
    same = StagedEvaluator(task.evaluator, empty, trusted, box, root / "logs-same", root / "same-run", box)
    return one, two, same, one_ws, two_ws


def measure(backend: str, runs: int, task: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        task_dir = trivial_task(Path(folder) / "trivial") if task == "trivial" else TASKS / task
        one, two, same, one_ws, two_ws = _evaluators(backend, Path(folder), task_dir)
        times: dict[str, list[float]] = {"one": [], "two": [], "same": []}
        accuracy: dict[str, float] = {}
        plan = (("one", one, one_ws), ("two", two, two_ws), ("same", same, two_ws))
        for index in range(runs + 1):
            for name, evaluator, workspace in plan:
                started = time.perf_counter()
                verdict = evaluator.evaluate(workspace, name=f"{name}{index}")
                elapsed = time.perf_counter() - started
                if verdict.status.value != "ok":
                    raise SystemExit(f"{backend} {name}-stage evaluation failed: {verdict.reason}")
                accuracy[name] = verdict.metrics["accuracy"]
                if index:  # the first round warms caches
                    times[name].append(elapsed)
    assert accuracy["one"] == accuracy["two"] == accuracy["same"], accuracy
    one_ms = statistics.median(times["one"]) * 1000
    row = {"one_ms": one_ms}
    for name in ("two", "same"):
        paired = [b - a for a, b in zip(times["one"], times[name], strict=True)]
        row[f"{name}_ms"] = statistics.median(times[name]) * 1000
        row[f"{name}_extra_ms"] = statistics.median(paired) * 1000
        row[f"{name}_spread_ms"] = statistics.pstdev(paired) * 1000
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=["docker", "bwrap"])
    parser.add_argument(
        "--tasks", nargs="+", default=["trivial", "digits-gbm"], help="bundled task names, or trivial"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {
        (task, backend): measure(backend, args.runs, task) for task in args.tasks for backend in args.backends
    }
    if args.json:
        print(json.dumps({f"{task}/{backend}": row for (task, backend), row in rows.items()}, indent=1))
        return
    print(f"{args.runs} evaluations each (medians; extra = median of paired differences ± stdev)")
    print(
        f"{'task':11} {'backend':8} {'one stage':>10}  {'two stages, scorer':<26} {'extra':>16} {'goal':>8}"
    )
    for (task, backend), row in rows.items():
        goal = GOALS_MS.get(backend, 0.0)
        for name, label in (("two", "scorer on auto (default)"), ("same", f"scorer on {backend}")):
            extra = row[f"{name}_extra_ms"]
            verdict = "met" if extra <= goal else "MISSED"
            print(
                f"{task:11} {backend:8} {row['one_ms']:8.0f}ms  {label:<26} {row[f'{name}_ms']:6.0f}ms "
                f"{extra:+7.0f} ±{row[f'{name}_spread_ms']:4.0f}ms  ≤{goal:.0f}ms {verdict}"
            )


if __name__ == "__main__":
    main()
