"""Search strategies: which parent the next experiment starts from, and in which mode.

`greedy` (AIDE-like tree: drafts, debug a buggy leaf, improve the best) suits LLM
work; `tournament` (a population with tournament selection, model-based sampling,
mutation and crossover) suits the offline proposer. Both are pure: nodes in,
a `Selection` out, randomness from the `random.Random` passed in.
"""

from agent.search.greedy import GreedyStrategy
from agent.search.tournament import TournamentStrategy
from agent.search.tree import Node, Selection, Strategy, make_strategy

__all__ = ["GreedyStrategy", "Node", "Selection", "Strategy", "TournamentStrategy", "make_strategy"]
