"""Which experiments `strop log` draws when a run has too many to read.

A run of 2,400 experiments printed 4,800 lines. Past `limit` experiments the log draws the
line that leads to the best (where the run's result came from) and the newest ones (what
the run is doing now), each with its ancestors so the tree stays one tree; every drawn
experiment with hidden descendants says how many. Pure: records in, a plan out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

LIMIT = 60  # a screenful or two: past it, the tree is summarised
NEWEST = 30


class Node(Protocol):
    id: int
    parent: int | None


@dataclass(frozen=True)
class TreeView:
    shown: frozenset[int]
    hidden_under: dict[int | None, int] = field(default_factory=dict)  # None: directly under the root

    def hidden(self, total: int) -> int:
        return total - len(self.shown)


def tree_view(
    records: Sequence[Node], best: int | None, newest: int = NEWEST, limit: int = LIMIT
) -> TreeView:
    """Everything when the run has at most `limit` experiments; else the best's line and the newest."""
    ids = [r.id for r in records]
    if len(ids) <= limit:
        return TreeView(frozenset(ids))
    parent = {r.id: r.parent for r in records}
    wanted = sorted(ids)[-newest:] + ([best] if best is not None and best in parent else [])
    shown: set[int] = set()
    for exp in wanted:
        node: int | None = exp
        while node is not None and node not in shown and node in parent:
            shown.add(node)
            node = parent[node]
    return TreeView(frozenset(shown), _hidden_descendants(records, shown))


def _hidden_descendants(records: Sequence[Node], shown: set[int]) -> dict[int | None, int]:
    """For each shown experiment (None: the root), how many hidden experiments hang beneath it.

    A hidden experiment is counted once, under its nearest shown ancestor: every hidden
    subtree begins right under a shown node, since every shown node's ancestors are shown.
    """
    children: dict[int | None, list[int]] = defaultdict(list)
    known = {r.id for r in records}
    for r in records:
        children[r.parent if r.parent in known else None].append(r.id)
    counts: dict[int | None, int] = {}
    for anchor in [None, *sorted(shown)]:
        stack = [c for c in children[anchor] if c not in shown]
        total = 0
        while stack:
            node = stack.pop()
            total += 1
            stack.extend(children[node])
        if total:
            counts[anchor] = total
    return counts
