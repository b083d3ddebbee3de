"""The seam between the evolutionary engine and a problem: a `Domain` and its `Fitness`.

The engine knows nothing of what a genome is. A domain creates, varies, checks and
evaluates genomes; the engine selects, keeps archives, schedules evaluation in
worker processes and checkpoints. Everything that crosses a process boundary
(genomes, fitnesses, the domain object itself) must be picklable.

Contract, for domain authors:
- every objective is *minimised*; `inf` means failed;
- `evaluate` runs in a worker process and must be deterministic for a genome (seed
  any inner randomness from the genome itself), so a run is reproducible from its seed;
- `evaluate` may return a `Refined` (a fitness plus an improved genome, e.g. with
  fitted constants): the engine keeps the refined genome (Lamarckian inheritance);
- `check` runs in the engine's process before evaluation: return the genome (or a
  repaired one) to evaluate it, or a reason string to reject it unevaluated. The text
  before the first ':' of a reason is its category in the run's statistics;
- a domain may also offer `initial_genomes(rng)` (see `SeededDomain`): seeds placed in
  the first population before random genomes fill it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy

G = TypeVar("G")


@dataclass(frozen=True)
class Fitness:
    """What one evaluation says about a genome. All objectives are minimised."""

    objectives: tuple[float, ...]
    valid: bool = True
    descriptor: tuple[int, ...] = ()
    signature: bytes | None = None
    info: dict[str, float] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Valid and every objective finite: may enter populations, archive and front."""
        return self.valid and all(value == value and value != float("inf") for value in self.objectives)


@dataclass(frozen=True)
class Refined(Generic[G]):
    """An evaluation that also improved the genome (fitted constants, a repair)."""

    genome: G
    fitness: Fitness


@dataclass(frozen=True)
class Individual(Generic[G]):
    """A genome with its fitness, as the engine keeps it."""

    genome: G
    fitness: Fitness
    uid: int = 0
    generation: int = 0
    island: int = 0


class Domain(Protocol[G]):
    """A problem the engine can search. See the module docstring for the contract."""

    def random_genome(self, rng: numpy.random.Generator) -> G: ...

    def mutate(self, genome: G, rng: numpy.random.Generator) -> G: ...

    def crossover(self, a: G, b: G, rng: numpy.random.Generator) -> G: ...

    def check(self, genome: G) -> G | None | str: ...

    def evaluate(self, genome: G) -> Fitness | Refined[G]: ...


@runtime_checkable
class SeededDomain(Protocol[G]):
    """A domain that knows good starting points (skeletons, baselines)."""

    def initial_genomes(self, rng: numpy.random.Generator) -> list[G]: ...
