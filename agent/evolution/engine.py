"""The evolutionary engine: islands, NSGA-II survival, a MAP-Elites archive, novelty
rejection, killable parallel evaluation, and checkpoints that resume the same run.

One generation, for every island in turn: pick parents (binary tournament on Pareto rank
and crowding, or, at `elite_rate`, a champion of the archive), vary them with the domain's
crossover and mutation, run the domain's `check` on each child (a rejected child is
never evaluated), then evaluate all islands' children together in worker processes.
Outcomes are read in submission order; a usable child whose behaviour signature was
seen before is dropped (novelty), the others join the archive, the global Pareto front
and their island, which keeps its best `population` by NSGA-II survival. Every
`migration_interval` generations each island sends its best `migration_size` to the
next island of a ring.

Determinism: all randomness comes from one `numpy.random.Generator` seeded by
`config.seed`, worker results are consumed in submission order, and a checkpoint holds
the whole state (generator included), so `resume` continues exactly where an
uninterrupted run would be. Only time-based limits (`time_budget`, `eval_timeout`)
depend on the machine's speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic

import numpy

from agent.errors import UserError
from agent.evolution.archive import Archive
from agent.evolution.domain import Domain, Fitness, G, Individual, Refined, SeededDomain
from agent.evolution.events import (
    CheckpointWritten,
    EngineEvent,
    EngineStats,
    GenerationDone,
    ParetoPointFound,
)
from agent.evolution.pareto import dominates, rank_and_crowding, survivors
from agent.evolution.pool import DeadlineReached, EvaluationPool, Outcome
from agent.evolution.sealed import seal, unseal

SCHEMA_VERSION = 1


class EngineConfigError(UserError):
    """An engine setting that cannot work (no budget, an empty population, ...)."""


class BudgetTooShort(UserError):
    """The time budget ran out before the first generation was evaluated."""


@dataclass
class EngineConfig:
    """How to search. `population` is per island; give `generations`, `time_budget` or both."""

    seed: int = 0
    population: int = 32
    islands: int = 2
    migration_interval: int = 5
    migration_size: int = 2
    generations: int | None = None
    time_budget: float | None = None  # seconds of wall time for `run`
    eval_timeout: float | None = 60.0  # seconds per candidate; the worker is killed past it
    workers: int = 1  # 0 = evaluate inline (no time limit), for tests and debugging
    novelty: bool = True
    archive_bins: int = 16
    checkpoint_path: Path | None = None
    checkpoint_every: int = 10
    crossover_rate: float = 0.2
    elite_rate: float = 0.1
    check_attempts: int = 8  # draws per population slot before giving up on a generation's slot
    cache_size: int = 50_000  # genomes remembered with their outcome (duplicates are not re-run)
    start_method: str = "forkserver"
    executor: str = "local"  # local processes, or "ray" (agent.executors.ray_pool)
    address: str | None = None  # the Ray head for executor ray: auto or HOST:PORT

    def __post_init__(self) -> None:
        if self.generations is None and self.time_budget is None:
            raise EngineConfigError("give the engine a budget: generations, time_budget or both")
        if self.population < 1 or self.islands < 1:
            raise EngineConfigError("population and islands must be at least 1")
        if self.generations is not None and self.generations < 0:
            raise EngineConfigError("generations must be ≥ 0")
        if self.time_budget is not None and self.time_budget <= 0:
            raise EngineConfigError("time_budget must be positive")
        if self.eval_timeout is not None and self.eval_timeout <= 0:
            raise EngineConfigError("eval_timeout must be positive")
        if self.migration_interval < 1 or self.checkpoint_every < 1:
            raise EngineConfigError("migration_interval and checkpoint_every must be at least 1")
        if self.checkpoint_path is not None:
            self.checkpoint_path = Path(self.checkpoint_path)


@dataclass(frozen=True)
class EngineResult(Generic[G]):
    """The end of a run: the global Pareto front (sorted by objectives), the archive, counters."""

    front: list[Individual[G]]
    archive: Archive
    stats: EngineStats
    islands: list[list[Individual[G]]] = field(default_factory=list)


@dataclass
class _State:
    """Everything a checkpoint holds: resuming from it continues the same run."""

    config: EngineConfig
    generation: int = -1  # last completed generation; -1 = the initial population is not done
    islands: list[list[Individual[Any]]] = field(default_factory=list)
    archive: Archive = field(default_factory=Archive)
    front: list[Individual[Any]] = field(default_factory=list)
    rng_state: dict[str, Any] = field(default_factory=dict)
    next_uid: int = 0
    stats: EngineStats = field(default_factory=EngineStats)
    reasons: dict[str, int] = field(default_factory=dict)
    signatures: set[bytes] = field(default_factory=set)
    cache: dict[bytes, Outcome] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION


def _raise_past(deadline: float | None) -> None:
    if deadline is not None and time.time() >= deadline:
        raise DeadlineReached


def _same_search(checkpoint: Path, identity: dict[str, object]) -> None:
    """Refuse to continue a checkpoint written by a different search; remember this one's identity."""
    sidecar = checkpoint.with_name(checkpoint.name + ".identity.json")
    wanted = json.loads(json.dumps(identity, default=str))
    if checkpoint.is_file() and sidecar.is_file():
        try:
            saved = json.loads(sidecar.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {sidecar}: {error}") from None
        if saved != wanted:
            missing = sorted(key for key in wanted if key not in saved)
            if missing:  # an older strop's checkpoint: it never recorded these, nothing differs
                raise UserError(
                    f"{checkpoint} predates this strop's checks of {', '.join(missing)}: it cannot be "
                    "continued safely; give another checkpoint path"
                )
            changed = sorted(key for key in set(saved) | set(wanted) if saved.get(key) != wanted.get(key))
            raise UserError(
                f"{checkpoint} was written by a different search ({', '.join(changed)} "
                f"{'differs' if len(changed) == 1 else 'differ'}): "
                "give the same arguments, or another checkpoint path"
            )
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(wanted, sort_keys=True))


def _genome_key(genome: Any) -> bytes:
    return hashlib.sha256(pickle.dumps(genome, protocol=5)).digest()


class Engine(Generic[G]):
    """Runs a search over a `Domain`; see the module docstring."""

    def __init__(
        self,
        domain: Domain[G],
        config: EngineConfig,
        observer: Callable[[EngineEvent], None] | None = None,
    ) -> None:
        self.domain = domain
        self.config = config
        self.observer = observer
        self.state = _State(config=config, archive=Archive(bins=config.archive_bins))
        self.rng = numpy.random.default_rng(config.seed)
        self._started = 0.0
        self._wall_before = 0.0
        self._unsaved: tuple[int, bytes] | None = None  # the last whole generation not yet on disk
        # asked after each generation, beside the budget: a caller's reason to end early (not in the
        # config, which a checkpoint pickles)
        self.stop_when: Callable[[], bool] | None = None

    # ---- public ---------------------------------------------------------------------

    @classmethod
    def resume(
        cls,
        domain: Domain[G],
        checkpoint_path: Path | str,
        observer: Callable[[EngineEvent], None] | None = None,
        *,
        generations: int | None = None,
        time_budget: float | None = None,
    ) -> Engine[G]:
        """An engine that continues the run saved at `checkpoint_path` (budgets may be raised)."""
        path = Path(checkpoint_path)
        try:
            state: _State = pickle.loads(unseal(path.read_bytes(), path))
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as error:
            raise UserError(f"cannot read checkpoint {path}: {error}") from error
        if not isinstance(state, _State) or state.schema != SCHEMA_VERSION:
            raise UserError(f"{path} is not an engine checkpoint of schema {SCHEMA_VERSION}")
        config = state.config
        if generations is not None or time_budget is not None:
            config = replace(
                config,
                generations=generations if generations is not None else config.generations,
                time_budget=time_budget if time_budget is not None else config.time_budget,
            )
        config.checkpoint_path = path
        engine = cls(domain, config, observer)
        state.config = config
        engine.state = state
        engine.rng.bit_generator.state = state.rng_state
        return engine

    @classmethod
    def continued(
        cls,
        domain: Domain[G],
        config: EngineConfig,
        observer: Callable[[EngineEvent], None] | None = None,
        identity: Mapping[str, object] | None = None,
    ) -> Engine[G]:
        """A warm start: the search saved at `config.checkpoint_path` continued, else a new one.

        How a nightly search picks up last night's population. The saved search keeps its
        shape (population, islands, seed stream); this run's budget applies, its
        `generations` counted from where the saved search stopped. `identity` (what makes
        two searches the same: function, interval, model…) is kept beside the checkpoint;
        continuing it with another is refused, since its fitnesses would be another problem's.
        """
        path = config.checkpoint_path
        if path is None:
            return cls(domain, config, observer)
        _same_search(Path(path), dict(identity or {}))
        if not Path(path).is_file():
            return cls(domain, config, observer)
        engine = cls.resume(domain, path, observer)
        done = max(engine.state.generation, 0)
        more = None if config.generations is None else done + config.generations
        budget = replace(engine.config, generations=more, time_budget=config.time_budget)
        engine.config = engine.state.config = budget
        return engine

    def run(self) -> EngineResult[G]:
        """Search until the budget is spent; returns the front, the archive and the counters."""
        self._started = time.time()
        self._wall_before = self.state.stats.wall_time
        for individual in list(self.state.front):  # a warm start's or a resume's front, said first
            self._emit(ParetoPointFound(individual.generation, individual, carried=True))
        deadline = self._started + self.config.time_budget if self.config.time_budget else None
        try:
            self._generations(deadline)
        except KeyboardInterrupt:
            self._save_unsaved()
            raise
        self._update_wall()
        if self.config.checkpoint_path is not None:
            self._write_checkpoint()
        return self.result()

    def _generations(self, deadline: float | None) -> None:
        from agent.loop.interrupts import raise_if_interrupted  # here: agent.loop is heavy to import

        with self._pool() as pool:
            if self.state.generation < 0:
                try:
                    self._initial_generation(pool, deadline)
                except DeadlineReached:
                    raise BudgetTooShort(
                        f"the time budget ({self.config.time_budget:g}s) ran out before the first "
                        "generation was evaluated; give more time or a smaller population"
                    ) from None
                self._finish_generation()
            while not self._done():
                raise_if_interrupted()  # a stop signal Python dropped (in a finaliser) still stops it
                try:
                    self._next_generation(pool, deadline)
                except DeadlineReached:
                    break
                self._finish_generation()

    def _save_unsaved(self) -> None:
        """On a stop signal, write the last whole generation if the periodic checkpoint has not.

        A stop lands mid-generation, whose half-placed children are no state to resume from, so
        each whole generation between checkpoints is kept in memory (a pickle, milliseconds) and
        the one the stop found is written: a resume loses only the generation under way."""
        if self._unsaved is None or self.config.checkpoint_path is None:
            return
        generation, data = self._unsaved
        self._write_checkpoint(data, generation)

    def _pool(self) -> Any:
        """Local killable processes, or a Ray cluster: the same contract (agent.executors.ray_pool)."""
        config = self.config
        if getattr(config, "executor", "local") == "ray":
            from agent.executors.ray_pool import RayPool

            return RayPool(self.domain, config.workers, config.eval_timeout, config.address or "auto")
        return EvaluationPool(self.domain, config.workers, config.eval_timeout, config.start_method)

    def result(self) -> EngineResult[G]:
        state = self.state
        return EngineResult(
            front=sorted(state.front, key=lambda ind: (ind.fitness.objectives, ind.uid)),
            archive=state.archive,
            stats=self._stats(),
            islands=[list(members) for members in state.islands],
        )

    # ---- generations ----------------------------------------------------------------

    def _done(self) -> bool:
        config = self.config
        if config.generations is not None and self.state.generation >= config.generations:
            return True
        if self.stop_when is not None and self.stop_when():
            return True
        return config.time_budget is not None and time.time() - self._started >= config.time_budget

    def _initial_generation(self, pool: EvaluationPool, deadline: float | None) -> None:
        config = self.config
        seeds: list[G] = []
        if isinstance(self.domain, SeededDomain):
            seeds = list(self.domain.initial_genomes(self.rng))
        planned: list[list[G]] = [[] for _ in range(config.islands)]
        for index, genome in enumerate(seeds):
            _raise_past(deadline)  # seeding and checks count against the budget too
            checked = self._check(genome)
            if checked is not None:
                planned[index % config.islands].append(checked)
        for members in planned:
            attempts = 0
            while len(members) < config.population and attempts < config.population * config.check_attempts:
                _raise_past(deadline)
                attempts += 1
                checked = self._check(self.domain.random_genome(self.rng))
                if checked is not None:
                    members.append(checked)
        self.state.islands = [[] for _ in range(config.islands)]
        self._evaluate_and_place(pool, planned, deadline, generation=0)

    def _next_generation(self, pool: EvaluationPool, deadline: float | None) -> None:
        generation = self.state.generation + 1
        children = [self._breed(index, deadline) for index in range(self.config.islands)]
        self._evaluate_and_place(pool, children, deadline, generation)
        if generation % self.config.migration_interval == 0 and self.config.islands > 1:
            self._migrate()

    def _finish_generation(self) -> None:
        state = self.state
        state.generation += 1
        state.rng_state = self.rng.bit_generator.state
        self._update_wall()
        front = state.front
        best = min((ind.fitness.objectives for ind in front), default=())
        self._emit(GenerationDone(state.generation, self._stats(), len(front), best))
        if self.config.checkpoint_path is None:
            return
        if state.generation % self.config.checkpoint_every == 0:
            self._write_checkpoint()
        else:
            self._unsaved = (state.generation, pickle.dumps(state, protocol=5))

    def _breed(self, island: int, deadline: float | None = None) -> list[G]:
        config = self.config
        members = self.state.islands[island]
        if members:
            rank, crowd = rank_and_crowding(numpy.array([m.fitness.objectives for m in members]))
        children: list[G] = []
        attempts = 0
        while len(children) < config.population and attempts < config.population * config.check_attempts:
            _raise_past(deadline)  # variation and checks count against the budget too
            attempts += 1
            if not members:
                child = self.domain.random_genome(self.rng)
            else:
                parent = self._pick_parent(members, rank, crowd)
                if len(members) > 1 and self.rng.random() < config.crossover_rate:
                    other = self._pick_parent(members, rank, crowd)
                    child = self.domain.crossover(parent.genome, other.genome, self.rng)
                    child = self.domain.mutate(child, self.rng)
                else:
                    child = self.domain.mutate(parent.genome, self.rng)
            checked = self._check(child)
            if checked is not None:
                children.append(checked)
        return children

    def _pick_parent(
        self, members: list[Individual[G]], rank: numpy.ndarray, crowd: numpy.ndarray
    ) -> Individual[G]:
        elites = self.state.archive.elites()
        if elites and self.rng.random() < self.config.elite_rate:
            return elites[int(self.rng.integers(len(elites)))]
        a, b = (int(i) for i in self.rng.integers(len(members), size=2))
        key_a, key_b = (rank[a], -crowd[a], a), (rank[b], -crowd[b], b)
        return members[a] if key_a <= key_b else members[b]

    def _check(self, genome: G) -> G | None:
        verdict = self.domain.check(genome)
        if isinstance(verdict, str):
            category = verdict.split(":", 1)[0].strip() or "rejected"
            self.state.reasons[category] = self.state.reasons.get(category, 0) + 1
            self._count(rejected_by_check=1)
            return None
        return genome if verdict is None else verdict

    # ---- evaluation and placement ------------------------------------------------------

    def _evaluate_and_place(
        self, pool: EvaluationPool, planned: list[list[G]], deadline: float | None, generation: int
    ) -> None:
        state = self.state
        flat = [(island, genome) for island, genomes in enumerate(planned) for genome in genomes]
        keys = [_genome_key(genome) for _, genome in flat]
        fresh = [i for i, key in enumerate(keys) if key not in state.cache]
        outcomes = dict(zip(fresh, pool.evaluate_all([flat[i][1] for i in fresh], deadline), strict=True))
        offspring: list[list[Individual[G]]] = [[] for _ in planned]
        for index, (island, genome) in enumerate(flat):
            outcome = outcomes.get(index)
            if outcome is None:
                outcome = state.cache[keys[index]]
                self._count(cache_hits=1)
            else:
                self._remember(keys[index], outcome)
                self._count(evaluated=1, eval_seconds=outcome.seconds)
            individual = self._individual(genome, outcome, island, generation)
            if individual is not None:
                offspring[island].append(individual)
        for island, newcomers in enumerate(offspring):
            self._survive(island, state.islands[island] + newcomers)

    def _individual(self, genome: G, outcome: Outcome, island: int, generation: int) -> Individual[G] | None:
        if outcome.status == "timeout":
            self._count(timed_out=1)
            return None
        if outcome.status == "crashed":
            self._count(crashed=1)
            return None
        result = outcome.result
        if isinstance(result, Refined):
            genome, fitness = result.genome, result.fitness
        else:
            fitness = result
        if outcome.status != "ok" or not isinstance(fitness, Fitness) or not fitness.usable:
            self._count(failed=1)
            return None
        if self.config.novelty and fitness.signature is not None:
            if fitness.signature in self.state.signatures:
                self._count(novelty_rejected=1)
                return None
            self.state.signatures.add(fitness.signature)
        individual = Individual(genome, fitness, self.state.next_uid, generation, island)
        self.state.next_uid += 1
        self.state.archive.offer(individual)
        if self._offer_front(individual):
            self._emit(ParetoPointFound(generation, individual))
        return individual

    def _offer_front(self, individual: Individual[G]) -> bool:
        objectives = individual.fitness.objectives
        front = self.state.front
        if any(
            m.fitness.objectives == objectives or dominates(m.fitness.objectives, objectives) for m in front
        ):
            return False
        self.state.front = [m for m in front if not dominates(objectives, m.fitness.objectives)] + [
            individual
        ]
        return True

    def _survive(self, island: int, candidates: list[Individual[G]]) -> None:
        if not candidates:
            self.state.islands[island] = []
            return
        objectives = numpy.array([c.fitness.objectives for c in candidates])
        keep = survivors(objectives, self.config.population)
        self.state.islands[island] = [candidates[i] for i in keep]

    def _migrate(self) -> None:
        islands = self.state.islands
        count = len(islands)
        emigrants = [members[: self.config.migration_size] for members in islands]
        for source, group in enumerate(emigrants):
            target = (source + 1) % count
            arrivals = [replace(ind, island=target) for ind in group]
            self._survive(target, islands[target] + arrivals)

    def _remember(self, key: bytes, outcome: Outcome) -> None:
        cache = self.state.cache
        cache[key] = outcome
        while len(cache) > self.config.cache_size:
            del cache[next(iter(cache))]

    # ---- bookkeeping ----------------------------------------------------------------

    def _count(self, **increments: float) -> None:
        self.state.stats = replace(
            self.state.stats,
            **{name: getattr(self.state.stats, name) + value for name, value in increments.items()},
        )

    def _update_wall(self) -> None:
        self.state.stats = replace(
            self.state.stats, wall_time=self._wall_before + time.time() - self._started
        )

    def _stats(self) -> EngineStats:
        state = self.state
        return replace(
            state.stats,
            generations=max(state.generation, 0),
            rejected_by_reason=tuple(sorted(state.reasons.items())),
        )

    def _emit(self, event: EngineEvent) -> None:
        if self.observer is not None:
            self.observer(event)

    def _write_checkpoint(self, data: bytes | None = None, generation: int | None = None) -> None:
        """Write the state (or `data`, a pickled earlier state of `generation`) whole, atomically."""
        path = self.config.checkpoint_path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_bytes(seal(data if data is not None else pickle.dumps(self.state, protocol=5)))
            os.replace(temporary, path)
        except BaseException:
            # an interrupt mid-write: the last whole checkpoint stays, and no half file beside it
            temporary.unlink(missing_ok=True)
            raise
        self._unsaved = None
        self._emit(CheckpointWritten(self.state.generation if generation is None else generation, path))
