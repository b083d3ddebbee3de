"""A metric value's place in the order is worked out once, when it is made, never per comparison.

Each step of a run finds the best over every experiment (`max`, `heapq.nlargest`), and each
comparison of two `MetricValue`s worked out both keys again (two `_key`, two `is_worst` calls):
689,110 `_key` calls in a run of 300 experiments, 101,018 in one of 100. Counted here, not timed.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from agent.home import strop_home
from agent.loop import start_run
from agent.records import best_experiment
from agent.run_index import RunIndex
from agent.search.tournament import TournamentStrategy
from agent.search.tree import Node, best_node
from agent.task import load_task
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status

from .conftest import make_task

ODD = [None, math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, 1.0, -2.5, 3.25, 3.25, 1e300, -1e300]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count each `MetricValue` made and each key and worst-test worked out."""
    calls: Counter[str] = Counter()
    key, worst, init = MetricValue._key, MetricValue.is_worst.fget, MetricValue.__init__
    assert worst is not None

    def counted_key(self: MetricValue) -> float:
        calls["_key"] += 1
        return key(self)

    def counted_worst(self: MetricValue) -> bool:
        calls["is_worst"] += 1
        return worst(self)

    def counted_init(self: MetricValue, *args: object, **kwargs: object) -> None:
        calls["made"] += 1
        init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(MetricValue, "_key", counted_key)
    monkeypatch.setattr(MetricValue, "is_worst", property(counted_worst))
    monkeypatch.setattr(MetricValue, "__init__", counted_init)
    return calls


def nodes_of(values: list[float | None], direction: Direction) -> list[Node]:
    return [
        Node(i, None, Status.OK if i % 7 else Status.BUGGY, MetricValue(v, direction))
        for i, v in enumerate(values)
    ]


def test_choosing_among_many_nodes_works_out_no_key(counted: Counter[str]) -> None:
    rng = random.Random(0)
    nodes = nodes_of([rng.uniform(-1, 1) for _ in range(300)], Direction.MINIMIZE)
    counted.clear()
    strategy = TournamentStrategy(population=8)
    for step in range(50):
        best_node(nodes)
        strategy.select(nodes, random.Random(step))
    assert counted["_key"] == 0, counted
    assert counted["is_worst"] <= 50, counted  # writing a chosen parent's score into its `why`, no more


def test_a_run_works_out_each_key_once(tmp_path: Path, counted: Counter[str]) -> None:
    """A real run of the loop: a key per value made, however many experiments are compared."""
    task = load_task(make_task(tmp_path / "t", experiments=24))
    result = start_run(task, strop_home(), RunIndex(strop_home()))
    assert result.status == "done" and len(result.records) == 24
    assert counted["made"] > 24 * 10  # every step reads every experiment's score again
    assert counted["_key"] == counted["made"], counted


@pytest.mark.parametrize("direction", list(Direction))
def test_the_best_is_the_same_as_by_the_written_rule(direction: Direction) -> None:
    """Ordered by `rank`, the best is still: the highest (or lowest) finite score, ties to the earliest."""
    rng = random.Random(1)
    for _ in range(200):
        values = [rng.choice(ODD) for _ in range(rng.randint(1, 12))]
        nodes = nodes_of(values, direction)
        scored = [n for n in nodes if n.status is Status.OK and n.score.value is not None]
        scored = [n for n in scored if math.isfinite(n.score.value)]  # type: ignore[arg-type]
        sign = 1 if direction is Direction.MAXIMIZE else -1
        expected = max(scored, key=lambda n: (sign * n.score.value, -n.id), default=None)  # type: ignore[operator]
        assert best_node(nodes) == expected
        if expected is not None:
            assert best_node(nodes).id == expected.id  # type: ignore[union-attr]
    worst = MetricValue(None, direction)
    assert worst == MetricValue(math.nan, direction) < MetricValue(-1e300, direction)
    assert MetricValue(0.0, direction) == MetricValue(-0.0, direction)
    assert hash(MetricValue(0.0, direction)) == hash(MetricValue(-0.0, direction))


def test_a_runs_best_is_unchanged_by_ranks(tmp_path: Path) -> None:
    """`best_experiment` over a real run's records: the highest score, the earliest among equals."""
    task = load_task(make_task(tmp_path / "t", experiments=8))
    result = start_run(task, strop_home(), RunIndex(strop_home()))
    scored = [r for r in result.records if r.status is Status.OK]
    top = max(r.metrics["score"] for r in scored)
    expected = min((r for r in scored if r.metrics["score"] == top), key=lambda r: r.id)
    assert best_experiment(result.records, "score", Direction.MAXIMIZE) == expected
    assert result.best is not None and result.best.id == expected.id
