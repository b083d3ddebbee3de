"""The offline proposer (`evolve`): points of the task's `[space]`, no LLM, no network.

Two layers. `EvolveOptimizer` is pure search over points: given the trials so far
(point, score or failure) and a move asked for by the search strategy, it returns
the next point. `EvolveProposer` wraps it for the run loop: it reads the trials from
the run's records, materialises the point into files (params file, marked lines)
on top of the parent, and hands back a `Candidate`. The benchmarks drive the same
optimizer and strategy in-process.

The moves (see `agent.search.tournament`):
- `sample`  a uniform point;
- `model`   Optuna's TPE (multivariate, grouped for conditional parameters) over the
            full history at every call, so a resumed run proposes exactly as an
            uninterrupted one would; the study is kept between calls and told only the
            trials it has not seen (rebuilding it cost ~0.6 ms a trial: 1.2 s a call at
            2,000 experiments, an O(n²) run), and rebuilt when the history is not its
            continuation;
- `mutate`  a Gaussian step in the unit cube around the parent, shrinking as the
            budget is spent;
- `crossover` of two parents, then a small mutation.
Failed and rejected trials are told to TPE as the worst score seen, so it learns
to avoid crashing and infeasible regions. With constraints, the proposer is
constraint-aware: an infeasible point is resampled a few times, then repaired to
the nearest feasible point (Z3), so evaluations are not spent where rules forbid.
Duplicates of earlier (and pending) points are re-drawn; when every attempt lands on
one, the nearest untried point is taken instead (`agent.proposers.untried`), and a small
finite space with none left is `exhausted`: the loop stops the run rather than repeat.
"""

from __future__ import annotations

import contextlib
import random
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.proposers.untried import Untried
from agent.run import Candidate
from agent.space import Point, Space
from evaluators.metric import Direction
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.constraints import Constraints
    from agent.proposers.base import ProposalRequest
    from agent.records import ExperimentRecord
    from agent.task import Task


ATTEMPTS = 8  # moves (and repairs) tried before the nearest untried point is taken


@dataclass(frozen=True)
class Trial:
    """One point tried: its score when it scored, None when it failed or was rejected."""

    point: Point
    value: float | None
    status: Status = Status.OK


@dataclass
class Suggestion:
    point: Point
    how: str
    notes: list[str] = field(default_factory=list)


class EvolveOptimizer:
    """Pure point search. Deterministic for a given (seed, index, history)."""

    def __init__(
        self,
        space: Space,
        direction: Direction,
        constraints: Constraints | None = None,
        seed: int = 0,
        budget: int | None = None,
    ) -> None:
        self.space = space
        self.direction = direction
        self.constraints = constraints if constraints else None
        self.seed = seed
        self.budget = budget
        self._study: Any = None  # the TPE study of the last `model` move, and what it was told
        self._told: list[tuple[Any, ...]] = []
        self._study_lock = threading.Lock()
        self._keys: dict[tuple[Any, ...], str] = {}  # see `_key`
        self.untried = Untried(space)  # the fallback when every attempt lands on a tried point

    def suggest(
        self,
        history: Sequence[Trial],
        index: int,
        mode: str = "model",
        parent: Mapping[str, Any] | None = None,
        partner: Mapping[str, Any] | None = None,
        pending: Sequence[Point] = (),
    ) -> Suggestion:
        rng = random.Random(f"{self.seed}:{index}")
        seen = self._seen(history, pending)
        best = self._best(history)
        point: Point = {}
        how = mode
        for attempt in range(ATTEMPTS):
            point, how = self._move(
                history, rng, index + 1000 * attempt, mode, parent or best, partner, attempt
            )
            notes: list[str] = []  # this attempt's only: a discarded attempt's repair is not the point's
            if self.constraints is not None:
                check = self.constraints.check(point)
                if not check.passed:
                    if attempt < 4:
                        continue
                    repaired = self.constraints.repair(point)
                    if repaired.point is None:
                        continue
                    notes.append(
                        "repaired to the nearest feasible point: "
                        + ", ".join(f"{k} {a}→{b}" for k, (a, b) in repaired.changed.items())
                    )
                    point = repaired.point
            if self.space.key(point) not in seen:
                return Suggestion(point, how, notes)
            mode = "mutate" if best is not None else "sample"
        return self._untried_or(point, how, seen, rng, history)

    def exhausted(self, history: Sequence[Trial], pending: Sequence[Point] = ()) -> str | None:
        """Why no point is left to try (a small finite space, all tried), or None while one may be."""
        return self.untried.exhausted(self._seen(history, pending), self.constraints)

    def untried_left(self, history: Sequence[Trial], pending: Sequence[Point], at_most: int) -> int | None:
        """How many untried points are left, up to `at_most`; None when the space is not enumerable."""
        return self.untried.left(self._seen(history, pending), self.constraints, at_most)

    def _seen(self, history: Sequence[Trial], pending: Sequence[Point]) -> set[str]:
        return {self._key(t.point) for t in history} | {self.space.key(p) for p in pending}

    def _untried_or(
        self, point: Point, how: str, seen: set[str], rng: random.Random, history: Sequence[Trial] = ()
    ) -> Suggestion:
        """Every attempt landed on a tried (or forbidden) point: the nearest untried one instead.

        A space not enumerated (continuous, or large) is sampled, and where that finds nothing
        the rules allow, a small step from a point they allowed is taken (checked, else
        repaired): a point the rules forbid is never proposed while one they allow is known.
        Only when none is left (the loop stops the run on `exhausted` before it asks) is the
        last attempt proposed again, and the note says so.
        """
        fresh = self.untried.nearest(seen, point, rng, self.constraints)
        if fresh is not None:
            note = f"all {ATTEMPTS} attempts gave points already tried or forbidden: took the nearest untried point"
            return Suggestion(fresh, "untried", [note])
        near = self._near_allowed(history, seen, rng) if self.constraints is not None else None
        if near is not None:
            note = (
                f"all {ATTEMPTS} attempts gave points already tried or forbidden: took a small step "
                "from a point the constraints allow"
            )
            return Suggestion(near, "mutate", [note])
        if self.untried.points is None and not self.untried.finite:
            note = (
                f"found no new point the constraints allow in {ATTEMPTS} attempts: the last attempt, as it is"
            )
        else:
            note = "found no untried point the constraints allow: the last attempt, as it is"
        return Suggestion(point, how, [note])

    def _near_allowed(self, history: Sequence[Trial], seen: set[str], rng: random.Random) -> Point | None:
        """An untried point a small step from a tried one the rules allow (checked), or None."""
        assert self.constraints is not None
        known = [t.point for t in history if t.value is not None]
        rng.shuffle(known)
        for start in known[:4]:
            if not self.constraints.check(start).passed:
                continue
            for sigma in (0.01, 0.001, 0.0001):
                step = self.space.mutate(start, rng, sigma=sigma)
                if self.space.key(step) in seen:
                    continue
                if self.constraints.check(step).passed:
                    return step
                repaired = self.constraints.repair(step).point
                if repaired is not None and self.space.key(repaired) not in seen:
                    return repaired
        return None

    def _key(self, point: Point) -> str:
        """`space.key(point)`, remembered: every call reads the whole history (~50 µs a point)."""
        try:
            items = tuple((k, type(v), v) for k, v in sorted(point.items(), key=lambda kv: kv[0]))
            known = self._keys.get(items)
        except TypeError:  # an unhashable value (a list choice): not remembered
            return self.space.key(point)
        if known is None:
            known = self._keys[items] = self.space.key(point)
        return known

    # -------------------------------------------------------------- moves
    def _move(
        self,
        history: Sequence[Trial],
        rng: random.Random,
        salt: int,
        mode: str,
        parent: Mapping[str, Any] | None,
        partner: Mapping[str, Any] | None,
        attempt: int,
    ) -> tuple[Point, str]:
        if mode in ("sample", "draft") or (
            mode in ("mutate", "improve", "debug", "crossover") and not parent
        ):
            return self.space.sample(rng), "sample"
        if mode == "model":
            if sum(1 for t in history if t.value is not None) < 2:
                return self.space.sample(rng), "sample"
            return self._tpe(history, self.seed * 100_003 + salt), "model"
        assert parent is not None
        sigma = self._sigma(history) * (1.0 + 0.5 * attempt)
        if mode == "crossover" and partner:
            child = self.space.crossover(parent, partner, rng)
            return self.space.mutate(child, rng, sigma=sigma * 0.5, rate=0.2), "crossover"
        return self.space.mutate(parent, rng, sigma=sigma), "mutate"

    def _sigma(self, history: Sequence[Trial]) -> float:
        """Step size in the unit cube: 0.2 at the start, 0.05 when the budget is spent."""
        if not self.budget:
            return 0.12
        progress = min(1.0, len(history) / self.budget)
        return 0.2 - 0.15 * progress

    def _best(self, history: Sequence[Trial]) -> Point | None:
        scored = [t for t in history if t.value is not None]
        if not scored:
            return None
        sign = 1.0 if self.direction is Direction.MAXIMIZE else -1.0
        return max(scored, key=lambda t: sign * t.value).point  # type: ignore[operator]

    def _tpe(self, history: Sequence[Trial], seed: int) -> Point:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():  # `multivariate`/`group` are marked experimental
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(
                seed=seed % (2**31), n_startup_trials=0, multivariate=True, group=True
            )
        values = [t.value for t in history if t.value is not None]
        worst = (min(values) if self.direction is Direction.MAXIMIZE else max(values)) if values else 0.0
        told = [
            (
                tuple((k, type(v), v) for k, v in sorted(t.point.items(), key=lambda kv: kv[0])),
                t.value if t.value is not None else worst,
            )
            for t in history
        ]
        with self._study_lock:
            try:
                study = self._study_told(optuna, told)
                study.sampler = sampler  # a fresh sampler each call: its draws depend on `seed` alone
                asked = study.ask()
                point: Point = {}
                for param in self.space:
                    if self.space.is_active(param.name, point):
                        point[param.name] = _suggest(asked, param)
                # failed trials are not evidence for TPE (it reads complete ones), so the study
                # stays what a fresh one told `told` would be
                study.tell(asked, state=optuna.trial.TrialState.FAIL)
            except BaseException:
                # cut mid-way (Ctrl-C, SIGTERM): a trial added but not yet in `_told` would be told
                # twice by the next call; a fresh study told `told` is what this one should be
                self._study, self._told = None, []
                raise
        return self.space.complete(point)

    def _study_told(self, optuna: Any, told: list[tuple[Any, ...]]) -> Any:
        """A study told exactly `told` (point, value) in order: the kept one when `told` continues it."""
        kept = self._study is not None and self._told == told[: len(self._told)]
        if not kept:
            direction = "maximize" if self.direction is Direction.MAXIMIZE else "minimize"
            self._study = optuna.create_study(direction=direction)
            self._told = []
        distributions = {param.name: _distribution(param) for param in self.space}
        for items, value in told[len(self._told) :]:
            params = {k: v for k, _, v in items if k in distributions}
            with contextlib.suppress(ValueError):  # a point from an older space (out of its bounds)
                self._study.add_trial(
                    optuna.trial.create_trial(
                        params=params, distributions={k: distributions[k] for k in params}, value=value
                    )
                )
            self._told.append((items, value))
        return self._study


def _distribution(param: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    spec = param.spec
    if spec.type == "float":
        return FloatDistribution(float(spec.low), float(spec.high), log=spec.log)
    if spec.type == "int":
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log)
    return CategoricalDistribution(param.choices)


def _suggest(trial: Any, param: Any) -> Any:
    spec = param.spec
    if spec.type == "float":
        return trial.suggest_float(param.name, float(spec.low), float(spec.high), log=spec.log)
    if spec.type == "int":
        return trial.suggest_int(param.name, int(spec.low), int(spec.high), log=spec.log)
    return trial.suggest_categorical(param.name, param.choices)


def trials_from_records(records: Sequence[Any], metric: str) -> list[Trial]:
    """The evaluated (or rejected) records that carry a point, as trials."""
    trials = []
    for record in records:
        if record.params is None or record.status is Status.PENDING:
            continue
        value = record.metrics.get(metric) if record.status is Status.OK else None
        trials.append(Trial(dict(record.params), value, record.status))
    return trials


class EvolveProposer:
    """The run loop's offline proposer: a point of the space, written into the parent's files."""

    name = "evolve"

    def __init__(self, task: Task, constraints: Constraints | None = None, seed: int | None = None) -> None:
        self.task = task
        self.space = Space.from_task(task)
        if not self.space:
            from agent.errors import UserError

            raise UserError(
                f"task {task.name}: the evolve proposer needs a [space] table: the parameters it may "
                "change, which each candidate reads from params.json (or from lines of its own files marked "
                "`# strop: NAME`, listed in [proposer] marked), e.g. [space] learning_rate = "
                '{ type = "float", low = 0.01, high = 0.5, log = true } (README: "A tour of task.toml"); '
                "or configure [llm] to let a model edit the code"
            )
        self.optimizer = EvolveOptimizer(
            self.space,
            task.evaluator.direction,
            constraints,
            seed=task.spec.search.seed if seed is None else seed,
            budget=task.spec.budget.experiments,
        )

    def plan_for(self, experiments: int | None) -> None:
        """Schedule the step size over the run's own experiment limit (`-n`, `--time` alone, a
        resume's new total), not the task file's: with `-n 200` over a file saying 30, it reached
        its floor at experiment 30."""
        self.optimizer.budget = experiments

    def use_constraints(self, constraints: Constraints | None) -> None:
        """Propose under new constraints (the loop adds failing regions learned mid-run)."""
        self.optimizer.constraints = constraints if constraints else None

    def exhausted(self, records: Sequence[ExperimentRecord]) -> str | None:
        """Why the run should stop (every point of a small finite space tried), or None.

        The loop asks before each step: a proposer with nothing new would spend the
        rest of the budget evaluating points whose answers the run already has.
        """
        untried = self.optimizer.untried
        if untried.points is None and not (untried.finite and self.optimizer.constraints):
            return None  # continuous, or large with no rules: never exhausted (no records to read)
        return self.optimizer.exhausted(*self._tried(records))

    def untried_left(self, records: Sequence[ExperimentRecord], at_most: int) -> int | None:
        """For how many of `at_most` lanes an untried point is left; None when the space is not enumerable."""
        untried = self.optimizer.untried
        if untried.points is None and not (untried.finite and self.optimizer.constraints):
            return None
        return self.optimizer.untried_left(*self._tried(records), at_most=at_most)

    def _tried(self, records: Sequence[ExperimentRecord]) -> tuple[list[Trial], list[Point]]:
        """The run's trials, and the points committed and not evaluated yet (pending)."""
        history = trials_from_records(records, self.task.evaluator.metric)
        pending = [dict(r.params) for r in records if r.status is Status.PENDING and r.params]
        return history, pending

    def propose(self, request: ProposalRequest) -> Candidate:
        history, pending = self._tried(request.history)
        parent_point = self._point_of(request.parent, request)
        partner_point = dict(request.partner.params) if request.partner and request.partner.params else None
        suggestion = self.optimizer.suggest(
            history,
            index=request.exp_id,
            mode=request.mode or "model",
            parent=parent_point,
            partner=partner_point,
            pending=pending,
        )
        files = self.space.materialise(suggestion.point, request.parent_checkout, self.task.spec.proposer)
        origin = (
            f" of {request.parent.id}" if request.parent and suggestion.how in ("mutate", "crossover") else ""
        )
        idea = f"{suggestion.how}{origin}: {self.space.describe(suggestion.point)}"
        return Candidate(
            idea=idea,
            files=files,
            proposer=self.name,
            params=suggestion.point,
            decisions=[f"evolve: {note}" for note in suggestion.notes],
        )

    def _point_of(self, record: Any, request: ProposalRequest) -> Point | None:
        if record is None:
            return None
        if record.params:
            return dict(record.params)
        return self.space.read(request.parent_checkout, self.task.spec.proposer)
