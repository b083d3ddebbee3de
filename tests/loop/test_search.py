"""Search strategies: greedy drafts/debugs/improves like AIDE; tournament mixes its moves."""

from __future__ import annotations

import random
from collections import Counter

from agent.search import GreedyStrategy, Node, TournamentStrategy
from evaluators.metric import Direction, MetricValue
from evaluators.verdict import Status


def node(i: int, parent: int | None, value: float | None, status: Status = Status.OK) -> Node:
    return Node(i, parent, status, MetricValue(value, Direction.MAXIMIZE))


def test_greedy_drafts_first_then_improves_the_best() -> None:
    strategy = GreedyStrategy(drafts=2, debug_prob=0.0)
    nodes = [node(0, None, 0.5)]
    assert strategy.select(nodes, random.Random(0)).mode == "draft"
    nodes += [node(1, 0, 0.7), node(2, 0, 0.6)]
    choice = strategy.select(nodes, random.Random(0))
    assert (choice.mode, choice.parent) == ("improve", 1)


def test_greedy_debugs_buggy_leaves_up_to_the_depth_limit() -> None:
    strategy = GreedyStrategy(drafts=1, debug_prob=1.0, max_debug_depth=2)
    nodes = [node(0, None, 0.5), node(1, 0, None, Status.BUGGY)]
    choice = strategy.select(nodes, random.Random(0))
    assert (choice.mode, choice.parent) == ("debug", 1)
    nodes += [node(2, 1, None, Status.BUGGY), node(3, 2, None, Status.TIMEOUT)]  # chain of 3 buggy
    assert GreedyStrategy.debug_depth(nodes, nodes[3]) == 3
    assert strategy.select(nodes, random.Random(0)).mode == "improve"


def test_greedy_counts_drafts_already_taken_in_this_batch() -> None:
    strategy = GreedyStrategy(drafts=2)
    nodes = [node(0, None, 0.5)]
    first = strategy.select(nodes, random.Random(0))
    second = strategy.select(nodes, random.Random(0), [first])
    third = strategy.select(nodes, random.Random(0), [first, second])
    assert [first.mode, second.mode, third.mode] == ["draft", "draft", "improve"]


def test_tournament_samples_then_mixes_model_mutation_and_crossover() -> None:
    strategy = TournamentStrategy(population=4, init=3)
    nodes = [node(0, None, 0.1)]
    assert strategy.select(nodes, random.Random(0)).mode == "sample"
    nodes += [node(i, 0, i / 10) for i in range(1, 8)]
    rng = random.Random(0)
    modes = Counter(strategy.select(nodes, rng).mode for _ in range(400))
    assert set(modes) == {"model", "mutate", "crossover"}
    parents = Counter(strategy.select(nodes, rng).parent for _ in range(400))
    assert not set(parents) & {1, 2, 3}  # only the population (the 4 best) breeds
