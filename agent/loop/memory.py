"""The loop's two calls into knowledge: `retrieve` context before proposing, `learn` after.

This is a narrow seam so the loop does not depend on how knowledge works. Until the
knowledge package offers its API (`knowledge.Memory`, `knowledge.KnowledgeStore`),
`retrieve` returns nothing and `learn` keeps nothing, and the run log says so once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.constraints import Rule
    from agent.records import ExperimentRecord
    from agent.task import Task


@dataclass
class LoopMemory:
    """What the loop may ask of knowledge; the base class answers nothing, and says so."""

    task: Task
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return False

    def describe(self) -> str:
        return "knowledge: not available yet; retrieve returns nothing and learn keeps nothing"

    def retrieve(self, parent: ExperimentRecord | None, goal: str) -> str:
        return ""

    def learn(self, record: ExperimentRecord, parent: ExperimentRecord | None, log_excerpt: str) -> None:
        return None

    def exclusions(self) -> list[Rule]:
        """Failing regions of the space, as constraint rules (none without memory)."""
        return []


def open_memory(task: Task, **_: Any) -> LoopMemory:
    """The memory the loop will use for `task` (the empty one until knowledge lands)."""
    return LoopMemory(task)
