"""Confirmation pays: on a noisy metric, what `[evaluator] confirm` buys over single measurements.

    nice -n 10 .venv/bin/python -m benchmarks.noisy_confirm [--seeds 12] [--first-seed 100] [--budget 24] [--confirm 3]
    .venv/bin/python -m benchmarks.noisy_confirm --report out/noisy_confirm.json   # tables of a saved run

The task is `benchmarks/tasks/noisy-latency` (a kernel's launch configuration; each
measurement its true latency times exp(N(0, 0.08)), drawn afresh per evaluation). For each
seed the real run loop (`agent.loop.start_run`: LangGraph, git, the evolve proposer, the
local sandbox) runs it three ways, each with its own empty `STROP_HOME`:

- `single`: `confirm = 0`, `--budget` experiments: the best single measurement wins;
- `single+`: `confirm = 0` with the evaluations confirmation would spend given to the search
  instead ((top + 1) x confirm more experiments): the same number of evaluations as `confirm`;
- `confirm`: `confirm = N` (`confirm_top` 3), `--budget` experiments.

Judged by what a user gets: the TRUE latency of the configuration the run chose (the scorer's
`true_latency`, which no run sees), and how far the latency the run reports for it (its mean
when confirmed, else its one measurement) understates that truth (the winner's curse, in %).
Reported per arm as mean ± sd over seeds, and for `confirm` against the strongest single arm
(the lower mean true latency) paired by seed: the mean difference with its 95% t interval,
"better"/"worse" only when the interval excludes 0, else "tie".

Tuned on / held out. The contenders (top 3 and experiment 0) and the task were written before
this script first ran; the arms share every setting but the one compared. One rule changed after
a run: the first measurement is left out of a contender's mean (`agent.records.confirmed_values`:
it is the draw that chose it). Seeds 0-11 measured the earlier rule (all measurements in the
mean): chosen true latency 3.609 ± 0.212 ms against 3.549 (single) and 3.517 (single+), a tie;
reported latency 3.65% under the truth against 9.08% and 9.13%. The current rule is reported on
held-out seeds (`--first-seed 100`, the default). Measured 2026-12-05 (seeds 100-111, 2 cores;
raw: benchmarks/data/noisy_confirm_seeds100-111.json; the earlier rule's seeds 0-11 beside it):
chosen true latency 3.458 ± 0.137 ms with confirm, 3.574 ± 0.226 single, 3.605 ± 0.259 single+;
against the strongest single arm -0.116 ms [-0.259, +0.026]: a tie; reported latency under the
truth 1.9% ± 4.4 against 10.9% ± 4.5 and 10.8% ± 4.4 (paired -9.0 points [-12.8, -5.3]).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.tuning import dump, summary

TASK = Path(__file__).parent / "tasks" / "noisy-latency"
TOP = 3  # the task's confirm_top (the default)


@dataclass(frozen=True)
class Outcome:
    """One run: which arm and seed, the chosen configuration's true and reported latency, its cost."""

    arm: str
    seed: int
    true_ms: float
    reported_ms: float
    evaluations: int
    seconds: float

    @property
    def understated(self) -> float:
        """How far the reported latency sits below the truth, in % of the truth (the winner's curse)."""
        return 100.0 * (self.true_ms - self.reported_ms) / self.true_ms


def true_latency(params: dict) -> float:
    """The scorer's own noiseless function (its file, loaded as a module: the run never sees it)."""
    spec = importlib.util.spec_from_file_location("noisy_latency_score", TASK / "scorer" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return float(module.true_latency(params))


def prepare(folder: Path, seed: int, experiments: int, confirm: int) -> Path:
    """A copy of the task with this seed, budget, confirmation and the local sandbox."""
    shutil.copytree(TASK, folder)
    lines = []
    for line in (folder / "task.toml").read_text().splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line else ""
        if key in ("seed", "experiments", "confirm"):
            continue
        lines.append(line)
        if line.strip() == "[search]":
            lines.append(f"seed = {seed}")
        elif line.strip() == "[budget]":
            lines.append(f"experiments = {experiments}")
        elif line.strip() == "[evaluator]":
            lines += [f"confirm = {confirm}", 'sandbox = "local"', 'score_sandbox = "local"']
    (folder / "task.toml").write_text("\n".join(lines) + "\n")
    return folder / "task.toml"


def run_arm(arm: str, seed: int, experiments: int, confirm: int) -> Outcome:
    from agent.confirmation import summarise
    from agent.home import strop_home
    from agent.loop import start_run
    from agent.run_index import RunIndex
    from agent.task import load_task

    with tempfile.TemporaryDirectory(prefix="strop-noisy-") as tmp:
        os.environ["STROP_HOME"] = str(Path(tmp) / "home")
        task = load_task(prepare(Path(tmp) / "task", seed, experiments, confirm))
        started = time.monotonic()
        result = start_run(task, strop_home(), RunIndex(strop_home()))
        seconds = time.monotonic() - started
    best = result.best
    if best is None or best.params is None:
        return Outcome(arm, seed, math.nan, math.nan, 0, seconds)
    measured = summarise(best, "latency_ms")
    reported = measured.mean if measured.confirmed else float(best.metrics["latency_ms"])
    evaluations = sum(1 + len(r.confirmations) for r in result.records if r.status.value != "rejected")
    return Outcome(arm, seed, true_latency(best.params), reported, evaluations, seconds)


def arms(budget: int, confirm: int) -> list[tuple[str, int, int]]:
    """(name, experiments, confirm) of each arm; `single+` gets confirmation's evaluations as experiments."""
    return [("single", budget, 0), ("single+", budget + (TOP + 1) * confirm, 0), ("confirm", budget, confirm)]


def paired(
    outcomes: list[Outcome], arm: str, against: str, field: str = "true_ms"
) -> tuple[float, float, float, str]:
    """`arm` - `against` in `field` (true latency; or `understated`), paired by seed: mean, 95%
    interval, and the word for it (lower is better for both)."""
    from scipy.stats import t

    mine = {o.seed: getattr(o, field) for o in outcomes if o.arm == arm}
    theirs = {o.seed: getattr(o, field) for o in outcomes if o.arm == against}
    diffs = [mine[s] - theirs[s] for s in sorted(mine.keys() & theirs.keys())]
    if len(diffs) < 2:
        return math.nan, math.nan, math.nan, "too few seeds"
    mean, sd = summary(diffs)
    half = t.ppf(0.975, len(diffs) - 1) * sd / math.sqrt(len(diffs))
    low, high = mean - half, mean + half
    word = "better (lower)" if high < 0 else "worse (higher)" if low > 0 else "tie"
    return mean, low, high, word


def report(outcomes: list[Outcome], budget: int, confirm: int) -> None:
    print(f"noisy-latency: budget {budget} experiments, confirm {confirm} (top {TOP} and experiment 0)")
    print(
        f"{'arm':<9} {'seeds':>5} {'true ms of the chosen':>22} {'understated %':>14} {'evaluations':>12} {'s/run':>6}"
    )
    for name, _, _ in arms(budget, confirm):
        mine = [o for o in outcomes if o.arm == name]
        if not mine:
            continue
        true_mean, true_sd = summary([o.true_ms for o in mine])
        under_mean, under_sd = summary([o.understated for o in mine])
        evals, _ = summary([float(o.evaluations) for o in mine])
        secs, _ = summary([o.seconds for o in mine])
        print(
            f"{name:<9} {len(mine):>5} {true_mean:>13.4f} ± {true_sd:<6.4f} {under_mean:>7.2f} ± {under_sd:<4.2f}"
            f" {evals:>12.1f} {secs:>6.1f}"
        )
    singles = [name for name, _, confirm_n in arms(budget, confirm) if confirm_n == 0]
    means = {name: summary([o.true_ms for o in outcomes if o.arm == name])[0] for name in singles}
    strongest = min((n for n in singles if not math.isnan(means[n])), key=lambda n: means[n], default=None)
    if strongest is None:
        return
    for against in singles:
        mean, low, high, word = paired(outcomes, "confirm", against)
        tag = " (the strongest single arm)" if against == strongest else ""
        print(f"confirm - {against}{tag}: {mean:+.4f} ms [{low:+.4f}, {high:+.4f}] 95% paired: {word}")
        mean, low, high, word = paired(outcomes, "confirm", against, field="understated")
        print(f"  understated, confirm - {against}: {mean:+.2f} points [{low:+.2f}, {high:+.2f}] 95% paired")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument(
        "--first-seed", type=int, default=100, help="seeds 0-11 were seen when the rule changed"
    )
    parser.add_argument("--budget", type=int, default=24, help="experiments of the single and confirm arms")
    parser.add_argument("--confirm", type=int, default=3, help="re-evaluations of each contender")
    parser.add_argument("--out", type=Path, default=Path("out/noisy_confirm.json"))
    parser.add_argument("--report", type=Path, help="print the tables of a saved run and stop")
    args = parser.parse_args()
    if args.report is not None:
        saved = json.loads(args.report.read_text())
        report([Outcome(**o) for o in saved["outcomes"]], saved["budget"], saved["confirm"])
        return
    warnings.filterwarnings("ignore", message=".*'local'")
    outcomes: list[Outcome] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # outermost: a cut run covers every arm
        for name, experiments, confirm in arms(args.budget, args.confirm):
            outcome = run_arm(name, seed, experiments, confirm)
            outcomes.append(outcome)
            print(
                f"seed {seed} {name}: true {outcome.true_ms:.4f} ms, reported {outcome.reported_ms:.4f}, "
                f"{outcome.evaluations} evaluations, {outcome.seconds:.1f}s",
                flush=True,
            )
            dump(
                args.out,
                {"budget": args.budget, "confirm": args.confirm, "outcomes": [asdict(o) for o in outcomes]},
            )
    report(outcomes, args.budget, args.confirm)


if __name__ == "__main__":
    main()
