"""Shared pieces of the tuning benchmarks: a task's objective in-process, and the searchers.

The objective is the task's own two stages in this process (`workspace/train.py`'s
`run`, then `scorer/score.py`'s `score` on the validate phase's private data, see
`_load_score`), so in-process scores equal what `strop run` records. A crash of the
objective is a failed evaluation (no score).

Searchers, all at the same number of evaluations, the baseline (the task's
params.json) evaluated first by each:
- `strop_search`: strop's offline proposer exactly as the loop drives it
  (`TournamentStrategy.select` → `EvolveOptimizer.suggest` → the constraint check,
  `reject` or `repair` per task), minus git and the sandbox;
- `random_search`: uniform points of the same space;
- `tpe_search`: Optuna's TPE used directly (default settings, define-by-run over the
  same space, the baseline enqueued first; a crash is a pruned trial);
- `tpe_tuned_search`: TPE set up the way a careful user would: 4 start-up trials (the
  baseline and 3 random; the default is 10), multivariate with groups (conditional
  spaces), constant liar, and failures told to the sampler (a crash completes with the
  worst value seen so far and a violated constraint, so TPE learns where crashes are).
  The settings were fixed before any run, not tuned on these tasks;
- `tpe_filter_search`: the same TPE behind the same Z3 constraint check strop has: an
  infeasible point costs no evaluation, is told to TPE as infeasible, and (with
  `on_violation = "repair"`) its repair is enqueued as the next trial;
- `cmaes_search`: Optuna's CMA-ES (x0 = the baseline, margin for integers), behind the
  same constraint check, crashes and rejections told as failed trials. Only where the
  space has no choice parameters.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.constraints import Constraints, constraints_for
from agent.proposers.evolve import EvolveOptimizer, Trial
from agent.search import Node, TournamentStrategy
from agent.space import Point, Space
from agent.task import Task, load_task
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status

TASKS = Path(__file__).parent / "tasks"


@dataclass
class Outcome:
    """One search: the score of each evaluation in order (None = crashed), and what else happened."""

    values: list[float | None]
    direction: Direction
    rejected: int = 0  # candidates refused by the check before evaluation
    infeasible_evaluated: int = 0  # evaluations spent on points the constraints forbid
    points: list[Point] = field(default_factory=list)

    @property
    def best(self) -> float:
        scored = [v for v in self.values if v is not None]
        if not scored:
            return math.nan
        return max(scored) if self.direction is Direction.MAXIMIZE else min(scored)

    @property
    def crashes(self) -> int:
        return sum(1 for v in self.values if v is None)


class Objective:
    """A bundled task's `evaluate.score`, in this process."""

    def __init__(self, task_dir: Path) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        self.task: Task = load_task(task_dir)
        self.space = Space.from_task(self.task)
        self.metric = self.task.evaluator.metric
        self.direction = self.task.evaluator.direction
        self.baseline: Point = self.space.read(self.task.workspace, self.task.spec.proposer)
        self._score = _load_score(task_dir)
        self.constraints: Constraints | None = (
            constraints_for(self.task) if self.task.spec.constraints.rules else None
        )

    def __call__(self, point: Point) -> float | None:
        try:
            return float(self._score(dict(point))[self.metric])
        except Exception:  # a crash of the candidate: no score, like a buggy experiment
            return None

    def feasible(self, point: Point) -> bool:
        return self.constraints is None or self.constraints.check(point).passed


def _load_score(task_dir: Path) -> Callable[..., dict[str, float]]:
    """A bundled two-stage task's measurement in this process: its `run`, then its scorer.

    Convention of the bundled tasks: `workspace/train.py` has `run(params, public, outputs)`
    (stage run) and `scorer/score.py` has `score(outputs, private)` (stage score); the
    validate phase's private data is the task's `private` folder.
    """
    task = load_task(task_dir)
    sources = task.trusted_sources()
    if sources is None:
        raise ValueError(f"{task_dir}: the tuning benchmarks need a two-stage task")
    train = _module(task.workspace / "train.py", f"task_{task_dir.name}_train", task.workspace)
    scorer = _module(sources.scorer / "score.py", f"task_{task_dir.name}_score", sources.scorer)

    def measure(params: dict[str, object]) -> dict[str, float]:
        with tempfile.TemporaryDirectory() as outputs:
            train.run(params, public=sources.public, outputs=outputs)
            return scorer.score(outputs, sources.private)  # type: ignore[no-any-return]

    return measure


def _module(path: Path, name: str, folder: Path) -> Any:
    """Import the file at `path` as `name`, with its folder first on sys.path (for its own imports)."""
    for local in ("model", "train", "score"):
        sys.modules.pop(local, None)
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def strop_search(objective: Objective, budget: int, seed: int, checks: str = "task") -> Outcome:
    """strop's offline proposer. `checks`: "task" (as the task says), "reject", or "off" (no constraints)."""
    constraints = objective.constraints if checks != "off" else None
    on_violation = objective.task.spec.constraints.on_violation if checks == "task" else "reject"
    aware = constraints if checks == "task" else None  # "reject": the proposer learns only from rejections
    optimizer = EvolveOptimizer(objective.space, objective.direction, aware, seed=seed, budget=budget)
    strategy = TournamentStrategy(objective.task.spec.search.population)
    trials: list[Trial] = []
    nodes: list[Node] = []
    outcome = Outcome([], objective.direction)
    index = 0
    while len(outcome.values) < budget and index < budget * 20:
        if index == 0:
            point = objective.baseline
        else:
            pick = strategy.select(nodes, random.Random(f"{seed}:{index}"))
            parent = trials[pick.parent].point if pick.parent is not None else None
            partner = trials[pick.partner].point if pick.partner is not None else None
            point = optimizer.suggest(trials, index, pick.mode, parent, partner).point
            if constraints is not None and not (verdict := constraints.check(point)).passed:
                repaired = constraints.repair(point).point if on_violation == "repair" else None
                if repaired is None:
                    outcome.rejected += 1
                    trials.append(Trial(point, None, Status.REJECTED))
                    nodes.append(
                        Node(index, pick.parent, Status.REJECTED, MetricValue(None, objective.direction))
                    )
                    index += 1
                    del verdict
                    continue
                point = repaired
        value = objective(point)
        outcome.values.append(value)
        outcome.points.append(point)
        outcome.infeasible_evaluated += 0 if objective.feasible(point) else 1
        status = Status.OK if value is not None else Status.BUGGY
        trials.append(Trial(point, value, status))
        nodes.append(Node(index, 0 if index else None, status, MetricValue(value, objective.direction)))
        index += 1
    return outcome


def random_search(objective: Objective, budget: int, seed: int) -> Outcome:
    rng = random.Random(seed)
    outcome = Outcome([], objective.direction)
    for index in range(budget):
        point = objective.baseline if index == 0 else objective.space.sample(rng)
        outcome.values.append(objective(point))
        outcome.points.append(point)
        outcome.infeasible_evaluated += 0 if objective.feasible(point) else 1
    return outcome


def tpe_search(objective: Objective, budget: int, seed: int) -> Outcome:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if objective.direction is Direction.MAXIMIZE else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(objective.baseline)
    outcome = Outcome([], objective.direction)

    def trial_objective(trial: Any) -> float:
        point: Point = {}
        for param in objective.space:
            if objective.space.is_active(param.name, point):
                spec = param.spec
                if spec.type == "float":
                    point[param.name] = trial.suggest_float(param.name, spec.low, spec.high, log=spec.log)
                elif spec.type == "int":
                    point[param.name] = trial.suggest_int(
                        param.name, int(spec.low), int(spec.high), log=spec.log
                    )
                else:
                    point[param.name] = trial.suggest_categorical(param.name, param.choices)
        value = objective(point)
        outcome.values.append(value)
        outcome.points.append(point)
        outcome.infeasible_evaluated += 0 if objective.feasible(point) else 1
        if value is None:
            raise optuna.TrialPruned()  # a crash: no value for TPE (Optuna's way to skip a trial)
        return value

    study.optimize(trial_objective, n_trials=budget, catch=())
    return outcome


def _suggest(trial: Any, space: Space) -> Point:
    """The trial's point over `space`, define-by-run (a conditional parameter only when active)."""
    point: Point = {}
    for param in space:
        if space.is_active(param.name, point):
            spec = param.spec
            if spec.type == "float":
                point[param.name] = trial.suggest_float(param.name, spec.low, spec.high, log=spec.log)
            elif spec.type == "int":
                point[param.name] = trial.suggest_int(param.name, int(spec.low), int(spec.high), log=spec.log)
            else:
                point[param.name] = trial.suggest_categorical(param.name, param.choices)
    return point


def _infeasible(trial: Any) -> list[float]:
    """Optuna's constraint value: > 0 for a trial that crashed or that the constraints refused."""
    return [float(trial.user_attrs.get("infeasible", 0.0))]


def optuna_search(
    objective: Objective, budget: int, seed: int, sampler: Any, checks: bool, tell_failures: bool
) -> Outcome:
    """An Optuna sampler through ask/tell at `budget` evaluations, the baseline enqueued first.

    `checks`: points the task's constraints refuse are not evaluated (repair enqueued as
    the next trial when the task repairs). `tell_failures`: a crash or a refusal completes
    with the worst value seen so far and `infeasible` set (for `constraints_func`);
    otherwise it is told as a failed trial, which the samplers ignore.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if objective.direction is Direction.MAXIMIZE else "minimize"
    study = optuna.create_study(direction=direction, sampler=sampler)
    study.enqueue_trial(objective.baseline)
    repair = objective.task.spec.constraints.on_violation == "repair"
    outcome = Outcome([], objective.direction)
    worst: float | None = None

    def fail(trial: Any) -> None:
        if tell_failures and worst is not None:
            trial.set_user_attr("infeasible", 1.0)
            study.tell(trial, worst)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    asked = 0
    while len(outcome.values) < budget and asked < budget * 20:
        trial = study.ask()
        asked += 1
        point = _suggest(trial, objective.space)
        if checks and objective.constraints is not None and not objective.constraints.check(point).passed:
            outcome.rejected += 1
            repaired = objective.constraints.repair(point).point if repair else None
            if repaired is not None:
                study.enqueue_trial(dict(repaired))
            fail(trial)
            continue
        value = objective(point)
        outcome.values.append(value)
        outcome.points.append(point)
        outcome.infeasible_evaluated += 0 if objective.feasible(point) else 1
        if value is None:
            fail(trial)
            continue
        if worst is None or (value < worst if direction == "maximize" else value > worst):
            worst = value
        study.tell(trial, value)
    return outcome


TPE_TUNED_STARTUP = 4  # the baseline + 3 random points; fixed before any run


def _tpe_tuned(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=TPE_TUNED_STARTUP,
        multivariate=True,
        group=True,
        constant_liar=True,
        constraints_func=_infeasible,
        warn_independent_sampling=False,
    )


def tpe_tuned_search(objective: Objective, budget: int, seed: int) -> Outcome:
    return optuna_search(objective, budget, seed, _tpe_tuned(seed), checks=False, tell_failures=True)


def tpe_filter_search(objective: Objective, budget: int, seed: int) -> Outcome:
    return optuna_search(objective, budget, seed, _tpe_tuned(seed), checks=True, tell_failures=True)


def continuous(space: Space) -> bool:
    """No choice parameters (CMA-ES needs a numeric space)."""
    return all(param.spec.type in ("float", "int") for param in space)


def cmaes_search(objective: Objective, budget: int, seed: int) -> Outcome:
    import optuna

    integer = any(param.spec.type == "int" for param in objective.space)
    sampler = optuna.samplers.CmaEsSampler(
        x0=dict(objective.baseline), seed=seed, with_margin=integer, warn_independent_sampling=False
    )
    return optuna_search(objective, budget, seed, sampler, checks=True, tell_failures=False)


def summary(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    spread = math.sqrt(sum((v - mean) ** 2 for v in finite) / max(1, len(finite) - 1))
    return mean, spread


def dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))
