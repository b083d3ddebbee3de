"""Population search with tournament selection, for the offline proposer.

The population is the `population` best scored nodes. Each move is one of:
- `sample`: a fresh point (while fewer than `init` experiments have finished);
- `model`: a point from the model-based sampler (TPE over everything seen so far);
- `mutate`: a step around a parent chosen by a tournament of 3 in the population;
- `crossover`: two tournament winners mixed.
By default 70% of moves are `model`, 20% `mutate`, 10% `crossover`: at the small
budgets of tuning tasks the model-based sampler, fed with every result, is the
strongest move, and local steps around the elite refine what it found.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from agent.search.tree import Node, Selection


class TournamentStrategy:
    name = "tournament"

    def __init__(
        self, population: int = 8, init: int = 4, model_rate: float = 0.7, crossover_rate: float = 0.1
    ) -> None:
        self.population = population
        self.init = init
        self.model_rate = model_rate
        self.crossover_rate = crossover_rate

    def select(self, nodes: Sequence[Node], rng: random.Random, taken: Sequence[Selection] = ()) -> Selection:
        finished = [node for node in nodes if node.ok or node.failed]
        root = min((node.id for node in nodes), default=None)
        if len(finished) + len(taken) < self.init:
            return Selection(
                root, "sample", why=f"initial sample {len(finished) + len(taken) + 1} of {self.init}"
            )
        # the `population` best: a partial sort (sorting every node was ~5 comparisons of
        # metric values per node at 1,000 experiments, on every move)
        elite = heapq.nlargest(self.population, (node for node in nodes if node.ok), key=_rank)
        draw = rng.random()
        if not elite or draw < self.model_rate:
            return Selection(root, "model", why="model-based sample (TPE over all results)")
        parent = self.tournament(elite, rng)
        if len(elite) >= 2 and draw > 1.0 - self.crossover_rate:
            partner = self.tournament([node for node in elite if node.id != parent.id], rng)
            return Selection(
                parent.id, "crossover", partner=partner.id, why=f"crossover of {parent.id} and {partner.id}"
            )
        return Selection(parent.id, "mutate", why=f"mutate {parent.id} ({parent.score}), tournament winner")

    @staticmethod
    def tournament(elite: Sequence[Node], rng: random.Random, size: int = 3) -> Node:
        entrants = rng.sample(list(elite), min(size, len(elite)))
        return max(entrants, key=lambda node: (node.score, -node.id))


def _rank(node: Node) -> tuple[object, int]:
    return (node.score, -node.id)
