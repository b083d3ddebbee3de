"""Memory pays: repeated failures with episodic memory on vs off, real loop, equal budget, over seeds.

    nice -n 10 .venv/bin/python -m benchmarks.memory_pays [--seeds 5] [--budget 24] [--task mlp-oom]

The task (`benchmarks/tasks/mlp-oom` by default) has a region of its `[space]` that
crashes (batch × width above a threshold runs out of memory) and no `[constraints]`
rule about it. For each seed, the real run loop (`agent.loop.start_run`: LangGraph,
git, the evolve proposer, Z3, the local sandbox) runs the task twice at the same
experiment budget, once with `[knowledge] memory = false` and once with `true`,
each with its own empty `STROP_HOME` (a temp dir per arm and seed).

Definition. A *repeated failure* is a crashed evaluation (status buggy or timeout;
rejections cost no evaluation and are not failures) whose normalised error signature
(`knowledge.memory.signature.error_signature` of its log, the same normalisation
memory uses) already occurred at an earlier evaluation of the same run. The
*repeated-failure rate* is repeated failures / evaluations. Within one run, and
from an empty memory, because that is what memory is for in the loop: "the same
failure is not paid for twice" — once a crash has been seen, the loop should stop
spending evaluations on it. (Inheritance across runs is the easier case: the second
run starts with every region the first one learned.) The first failure of each
signature is the price of learning and counts for neither arm.

Reported per arm: evaluations, failures, repeated failures and rate (mean over
seeds), best loss (mean ± sd), and the ratio of repeated failures (on / off).
Goal: ratio ≤ 0.5 with best no worse (mean best of `on` at least as good as `off`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.tuning import TASKS, dump, summary
from evaluators.metric import Direction

CRASHED = ("buggy", "timeout")


@dataclass(frozen=True)
class Outcome:
    evaluations: int
    failures: int
    repeated: int
    best: float
    seconds: float


def repeated_failures(signatures: list[str | None]) -> int:
    """Failures (a signature, in evaluation order; None for a success) whose signature came earlier."""
    seen: set[str] = set()
    repeated = 0
    for signature in signatures:
        if signature is None:
            continue
        repeated += signature in seen
        seen.add(signature)
    return repeated


def prepare(source: Path, folder: Path, seed: int, budget: int, memory: bool) -> Path:
    """A copy of the task with this seed, budget, memory switch and the local sandbox."""
    shutil.copytree(source, folder)
    text = (folder / "task.toml").read_text()
    spec = tomllib.loads(text)
    lines = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        key = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
        if section in ("[search]", "[budget]", "[knowledge]", "[evaluator]") and key in (
            "seed", "experiments", "memory", "sandbox",
        ):  # fmt: skip
            continue
        lines.append(line)
        if stripped == "[search]":
            lines.append(f"seed = {seed}")
        elif stripped == "[budget]":
            lines.append(f"experiments = {budget}")
        elif stripped == "[evaluator]":
            lines.append('sandbox = "local"')
    if "knowledge" not in spec:
        lines.append("\n[knowledge]")
    text = "\n".join(lines) + "\n"
    text = text.replace("[knowledge]", f"[knowledge]\nmemory = {str(memory).lower()}", 1)
    (folder / "task.toml").write_text(text)
    return folder / "task.toml"


def one_run(source: Path, seed: int, budget: int, memory: bool) -> Outcome:
    from agent.home import strop_home
    from agent.loop import start_run
    from agent.run_index import RunIndex
    from agent.task import load_task
    from evaluators.verdict import Status
    from knowledge.memory.signature import error_signature

    with tempfile.TemporaryDirectory(prefix="strop-memory-pays-") as tmp:
        os.environ["STROP_HOME"] = str(Path(tmp) / "home")
        task = load_task(prepare(source, Path(tmp) / "task", seed, budget, memory))
        started = time.monotonic()
        result = start_run(task, strop_home(), RunIndex(strop_home()))
        seconds = time.monotonic() - started
        evaluated = [r for r in result.records if r.status not in (Status.PENDING, Status.REJECTED)]
        evaluated.sort(key=lambda r: r.id)
        signatures = []
        for record in evaluated:
            if record.status.value in CRASHED:
                log = Path(record.log_path).read_text(errors="replace") if record.log_path else ""
                signatures.append(error_signature(record.status.value, log[-1500:] or record.reason))
            else:
                signatures.append(None)
        metric = task.evaluator.metric
        sign = 1.0 if task.evaluator.direction is Direction.MAXIMIZE else -1.0
        scores = [r.metrics[metric] for r in evaluated if r.status is Status.OK and metric in r.metrics]
        best = max(scores, key=lambda v: sign * v) if scores else float("nan")
        return Outcome(
            evaluations=len(evaluated),
            failures=sum(s is not None for s in signatures),
            repeated=repeated_failures(signatures),
            best=best,
            seconds=seconds,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--task", default="mlp-oom")
    parser.add_argument("--out", type=Path, default=Path("out/memory_pays.json"))
    args = parser.parse_args()
    source = TASKS / args.task
    direction = Direction(tomllib.loads((source / "task.toml").read_text())["evaluator"]["direction"])
    arms: dict[str, list[Outcome]] = {"off": [], "on": []}
    for seed in range(args.seeds):
        for arm in arms:
            outcome = one_run(source, seed, args.budget, memory=arm == "on")
            arms[arm].append(outcome)
            print(
                f"seed {seed} memory {arm:3s}: {outcome.evaluations} evaluations, {outcome.failures} failures, "
                f"{outcome.repeated} repeated, best {outcome.best:.5g} ({outcome.seconds:.0f}s)",
                flush=True,
            )
    print(
        f"\n{args.task}: {args.budget} experiments per run × {args.seeds} seeds, real loop, local sandbox\n"
    )
    print(
        "| memory | evaluations | failures | repeated failures | repeated-failure rate | best (mean ± sd) |"
    )
    print("|---|---|---|---|---|---|")
    totals = {}
    for arm, outcomes in arms.items():
        evaluations = sum(o.evaluations for o in outcomes)
        repeated = sum(o.repeated for o in outcomes)
        totals[arm] = (repeated, summary([o.best for o in outcomes]))
        mean, spread = totals[arm][1]
        print(
            f"| {arm} | {evaluations / args.seeds:.1f} | {sum(o.failures for o in outcomes) / args.seeds:.1f} | "
            f"{repeated / args.seeds:.1f} | {repeated / max(1, evaluations):.1%} | {mean:.5g} ± {spread:.2g} |"
        )
    (off_repeated, (off_best, _)), (on_repeated, (on_best, _)) = totals["off"], totals["on"]
    ratio = on_repeated / off_repeated if off_repeated else float("nan")
    no_worse = on_best >= off_best if direction is Direction.MAXIMIZE else on_best <= off_best
    print(
        f"\nrepeated failures on/off: {ratio:.2f} ({1 - ratio:.0%} fewer); best on vs off: {on_best - off_best:+.4g}"
    )
    print(
        f"goal (≥ 50% fewer repeated failures, best no worse): {'met' if ratio <= 0.5 and no_worse else 'NOT met'}"
    )
    dump(args.out, {arm: [o.__dict__ for o in outcomes] for arm, outcomes in arms.items()})


if __name__ == "__main__":
    main()
