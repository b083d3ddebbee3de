"""What the engine tells its observer while it runs.

The engine knows no screen and no git: the CLI renders these events as progress, and
the run loop records `ParetoPointFound` and `CheckpointWritten` as experiments. An
observer is any callable taking one event; it runs in the engine's process, between
generations, so it must be quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.evolution.domain import Individual


@dataclass(frozen=True)
class EngineStats:
    """Counters of a run so far (they survive checkpoint and resume)."""

    evaluated: int = 0
    rejected_by_check: int = 0
    rejected_by_reason: tuple[tuple[str, int], ...] = ()
    timed_out: int = 0
    crashed: int = 0
    failed: int = 0  # evaluated but not usable (invalid or infinite objectives), or raised
    novelty_rejected: int = 0
    cache_hits: int = 0
    eval_seconds: float = 0.0  # summed over candidates (worker time)
    generations: int = 0
    wall_time: float = 0.0

    @property
    def evals_per_second(self) -> float:
        return self.evaluated / self.wall_time if self.wall_time > 0 else 0.0

    @property
    def mean_eval_seconds(self) -> float:
        return self.eval_seconds / self.evaluated if self.evaluated else 0.0


@dataclass(frozen=True)
class ParetoPointFound:
    """A new point on the global Pareto front (it may push older points off).

    `carried`: a point of the front a warm start or a resume began with, announced once when
    the run starts (found in `generation` of the saved search), so that a run's record holds its
    whole front: a nightly search whose night added no point recorded no experiment, and its
    summary said "nothing scored" while last night's front stood.
    """

    generation: int
    individual: Individual[Any]
    carried: bool = False


@dataclass(frozen=True)
class GenerationDone:
    """One generation finished (generation 0 is the initial population)."""

    generation: int
    stats: EngineStats
    front_size: int
    best: tuple[float, ...]


@dataclass(frozen=True)
class CheckpointWritten:
    """The full engine state was saved; resuming from `path` continues the same run."""

    generation: int
    path: Path


EngineEvent = ParetoPointFound | GenerationDone | CheckpointWritten
