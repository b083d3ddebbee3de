"""The elite archive: one champion per behaviour cell, MAP-Elites style.

The domain gives each fitness a `descriptor` (a tuple of small integers: cost, kind of
program, ...). The engine clips every coordinate to `bins - 1` and keeps, per cell, the
individual with the lexicographically smallest objectives (domains order objectives by
priority). The archive keeps diversity that NSGA-II's crowding alone would lose and
feeds parent selection with elites from every corner of the space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.evolution.domain import Individual


@dataclass
class Archive:
    """A MAP-Elites grid over domain descriptors."""

    bins: int = 16
    cells: dict[tuple[int, ...], Individual[Any]] = field(default_factory=dict)

    def cell_of(self, descriptor: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(min(max(int(value), 0), self.bins - 1) for value in descriptor)

    def offer(self, individual: Individual[Any]) -> bool:
        """Keep `individual` if its cell is empty or it beats the cell's champion."""
        if not individual.fitness.usable:
            return False
        cell = self.cell_of(individual.fitness.descriptor)
        champion = self.cells.get(cell)
        if champion is not None and champion.fitness.objectives <= individual.fitness.objectives:
            return False
        self.cells[cell] = individual
        return True

    def elites(self) -> list[Individual[Any]]:
        """Champions in a stable order (sorted by cell)."""
        return [self.cells[cell] for cell in sorted(self.cells)]

    def __len__(self) -> int:
        return len(self.cells)
