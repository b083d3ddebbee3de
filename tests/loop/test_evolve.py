"""The offline proposer: deterministic, constraint-aware, and better than random on a smooth objective."""

from __future__ import annotations

import random

from agent.constraints import Constraints
from agent.proposers.evolve import EvolveOptimizer, Trial
from agent.search import Node, TournamentStrategy
from agent.space import Space
from agent.task import ParamSpec
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status


def space() -> Space:
    return Space(
        {
            "x": ParamSpec(type="float", low=-5, high=5),
            "n": ParamSpec(type="int", low=1, high=21),
            "mode": ParamSpec(type="choice", choices=["a", "b"]),
        }
    )


def objective(p: dict) -> float:
    return -((p["x"] - 1.5) ** 2) - ((p["n"] - 12) / 4) ** 2 + (0.5 if p["mode"] == "b" else 0)


def search(optimizer: EvolveOptimizer, budget: int, seed: int) -> list[Trial]:
    strategy, history, nodes = TournamentStrategy(), [], []
    for i in range(budget):
        pick = strategy.select(nodes, random.Random(f"{seed}:{i}"))
        parent = (
            history[pick.parent].point if pick.parent is not None and pick.parent < len(history) else None
        )
        partner = history[pick.partner].point if pick.partner is not None else None
        point = optimizer.suggest(history, i, pick.mode, parent, partner).point
        value = objective(point) if point["n"] % 2 == 0 else None
        history.append(Trial(point, value, Status.OK if value is not None else Status.BUGGY))
        nodes.append(Node(i, pick.parent, history[-1].status, MetricValue(value, Direction.MAXIMIZE)))
    return history


def test_same_seed_same_proposals() -> None:
    a = search(EvolveOptimizer(space(), Direction.MAXIMIZE, seed=4, budget=12), 12, 4)
    b = search(EvolveOptimizer(space(), Direction.MAXIMIZE, seed=4, budget=12), 12, 4)
    assert [t.point for t in a] == [t.point for t in b]


def test_constraint_aware_proposals_never_hit_the_infeasible_region() -> None:
    constraints = Constraints(space(), ["n % 2 == 0"])
    history = search(EvolveOptimizer(space(), Direction.MAXIMIZE, constraints, seed=1, budget=20), 20, 1)
    assert all(t.point["n"] % 2 == 0 for t in history)
    unaware = search(EvolveOptimizer(space(), Direction.MAXIMIZE, None, seed=1, budget=20), 20, 1)
    assert any(t.point["n"] % 2 for t in unaware)


def test_beats_random_search_on_average() -> None:
    def best(history: list[Trial]) -> float:
        return max(t.value for t in history if t.value is not None)

    constraints = Constraints(space(), ["n % 2 == 0"])
    ours, uniform = [], []
    for seed in range(4):
        ours.append(
            best(search(EvolveOptimizer(space(), Direction.MAXIMIZE, constraints, seed, 20), 20, seed))
        )
        rng = random.Random(seed)
        points = [space().sample(rng) for _ in range(20)]
        uniform.append(max(objective(p) if p["n"] % 2 == 0 else -99 for p in points))
    assert sum(ours) / 4 > sum(uniform) / 4
