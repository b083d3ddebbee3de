"""The greedy tree (AIDE-like): draft, debug a buggy leaf, improve the best.

Experiment 0 (the workspace as it is) is the root. Until `drafts` children of the
root exist, each move is a fresh draft from the root. Then, with probability
`debug_prob`, debug a buggy leaf whose chain of buggy ancestors is at most
`max_debug_depth` long; otherwise improve the best scored node.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from agent.search.tree import Node, Selection, best_node


class GreedyStrategy:
    name = "greedy"

    def __init__(self, drafts: int = 3, debug_prob: float = 0.5, max_debug_depth: int = 3) -> None:
        self.drafts = drafts
        self.debug_prob = debug_prob
        self.max_debug_depth = max_debug_depth

    def select(self, nodes: Sequence[Node], rng: random.Random, taken: Sequence[Selection] = ()) -> Selection:
        if not nodes:
            return Selection(None, "draft", why="no experiment yet")
        root = min(nodes, key=lambda node: node.id)
        drafts = sum(1 for node in nodes if node.parent == root.id) + sum(
            1 for s in taken if s.mode == "draft"
        )
        if drafts < self.drafts:
            return Selection(root.id, "draft", why=f"draft {drafts + 1} of {self.drafts}")
        debuggable = [node for node in self.buggy_leaves(nodes) if node.id not in {s.parent for s in taken}]
        if debuggable and rng.random() < self.debug_prob:
            leaf = rng.choice(debuggable)
            depth = self.debug_depth(nodes, leaf)
            return Selection(leaf.id, "debug", why=f"debug buggy leaf {leaf.id} (depth {depth})")
        best = best_node(nodes)
        if best is None:
            return Selection(root.id, "draft", why="nothing scored yet: another draft")
        return Selection(best.id, "improve", why=f"improve the best ({best.id}, {best.score})")

    def buggy_leaves(self, nodes: Sequence[Node]) -> list[Node]:
        parents = {node.parent for node in nodes}
        return [
            node
            for node in nodes
            if node.failed
            and node.id not in parents
            and self.debug_depth(nodes, node) <= self.max_debug_depth
        ]

    @staticmethod
    def debug_depth(nodes: Sequence[Node], leaf: Node) -> int:
        """How many buggy nodes in a row end at `leaf` (1 for a buggy node with a sound parent)."""
        by_id = {node.id: node for node in nodes}
        depth, current = 0, leaf
        while current is not None and current.failed:
            depth += 1
            current = by_id.get(current.parent) if current.parent is not None else None
        return depth
