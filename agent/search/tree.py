"""The experiment tree as strategies see it: small immutable nodes, and what a strategy returns.

A `Node` is built from an `ExperimentRecord` in the loop, or from an in-memory trial
in the benchmarks, so the same strategy code serves both.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status

if TYPE_CHECKING:
    from agent.records import ExperimentRecord
    from agent.task import SearchSpec


@dataclass(frozen=True)
class Node:
    """One experiment as a strategy sees it.

    `ok` (scored) is worked out once, when the node is made: strategies filter every node
    on it at every step of a run, so as a property it was two calls a node a step.
    """

    id: int
    parent: int | None
    status: Status
    score: MetricValue
    ok: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ok", self.status is Status.OK and not self.score.is_worst)

    @property
    def failed(self) -> bool:
        return self.status in (Status.BUGGY, Status.TIMEOUT)

    @classmethod
    def of(cls, record: ExperimentRecord, metric: str, direction: Direction) -> Node:
        return cls(record.id, record.parent, record.status, record.metric(metric, direction))


@dataclass(frozen=True)
class Selection:
    """Where the next experiment starts and what kind of move it is.

    modes: draft | debug | improve (greedy); sample | model | mutate | crossover (tournament).
    """

    parent: int | None
    mode: str
    partner: int | None = None
    why: str = ""


class Strategy(Protocol):
    name: str

    def select(self, nodes: Sequence[Node], rng: random.Random, taken: Sequence[Selection] = ()) -> Selection:
        """The next move; `taken` are the moves already chosen for this batch of parallel lanes."""
        ...


def best_node(nodes: Sequence[Node]) -> Node | None:
    """The best scored node, ties to the earliest; ordered by plain numbers (`MetricValue.rank`),
    so `max` compares them without a call into `MetricValue` for each pair."""
    scored = [node for node in nodes if node.ok]
    return max(scored, key=lambda node: (node.score.rank, -node.id)) if scored else None


def make_strategy(spec: SearchSpec, proposer: str) -> Strategy:
    """`auto`: greedy for the LLM proposer, tournament for evolve."""
    from agent.search.greedy import GreedyStrategy
    from agent.search.tournament import TournamentStrategy

    name = spec.strategy
    if name == "auto":
        name = "greedy" if proposer == "llm" else "tournament"
    if name == "greedy":
        return GreedyStrategy(spec.drafts, spec.debug_prob, spec.max_debug_depth)
    return TournamentStrategy(spec.population)
