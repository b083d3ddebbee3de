"""The proposer seam: a request in (the parent, its verdict, context, budget), a `Candidate` out.

Every proposer (LLM, evolve, a user's own) implements `Proposer.propose`; the run
loop knows nothing else about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from agent.records import ExperimentRecord
from agent.run import Candidate
from agent.task import Task


@dataclass
class ProposalRequest:
    """Everything a proposer may use to make the next candidate."""

    task: Task
    exp_id: int
    parent: ExperimentRecord | None  # None: draft from the workspace as it is
    parent_checkout: Path  # the parent's files, checked out; read them, do not write
    history: list[ExperimentRecord] = field(default_factory=list)
    context: str = ""  # retrieved knowledge and lessons, already formatted
    budget_note: str = ""  # e.g. "experiments left: 5 of 16; turns left in this attempt: 2"
    turn: int = 1  # 1 = a fresh attempt; >1 = fixing the same attempt after its verdict
    seed: int = 0
    # What the search strategy asks for: draft | debug | improve (greedy),
    # sample | model | mutate | crossover (tournament); "" = the proposer decides.
    mode: str = ""
    partner: ExperimentRecord | None = None  # crossover: the second parent
    # turn > 1: the attempt so far (its latest commit and verdict); `parent_checkout`
    # then holds that commit's files, so edits apply on top of the previous turn.
    attempt: ExperimentRecord | None = None


@runtime_checkable
class Proposer(Protocol):
    name: str

    def propose(self, request: ProposalRequest) -> Candidate: ...
