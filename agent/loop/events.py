"""What the run loop tells the outside world, as typed events.

The loop knows no screen: it emits these to a sink (the CLI's progress display, the
run log, a test's list). Events are for people; the truth is in git and the records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.records import now_iso


@dataclass(frozen=True)
class Event:
    @property
    def kind(self) -> str:
        return type(self).__name__

    def line(self) -> str:
        return json.dumps({"event": self.kind, "at": now_iso(), **asdict(self)}, default=str)


@dataclass(frozen=True)
class RunStarted(Event):
    run: str
    task: str
    proposer: str
    strategy: str
    budget: str
    resumed: bool = False


@dataclass(frozen=True)
class Note(Event):
    """Something worth a line in the run log (a missing component, a recovery step)."""

    text: str


@dataclass(frozen=True)
class ExperimentStarted(Event):
    exp: int
    parent: int | None
    mode: str
    turn: int
    why: str = ""


@dataclass(frozen=True)
class ProposalAsked(Event):
    """The proposer is asked for experiment `exp`'s turn `turn` (every turn, and again on a resume).

    With the `llm` proposer this is a model call that may take minutes: without this event a
    turn after the first, or a resumed one, looked like the time between experiments.
    """

    exp: int
    turn: int
    proposer: str = ""


@dataclass(frozen=True)
class EvaluationStarted(Event):
    """Experiment `exp`'s turn `turn` is handed to the evaluator (the proposal is in and committed)."""

    exp: int
    turn: int


@dataclass(frozen=True)
class ExperimentFinished(Event):
    exp: int
    turn: int
    status: str
    metric: float | None
    reason: str
    idea: str
    best_exp: int | None
    best_metric: float | None
    done: int  # experiments evaluated so far (experiment 0 included)
    budget: int | None
    decisions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunStopped(Event):
    run: str
    reason: str
    best_exp: int | None
    best_metric: float | None
    final_metric: float | None = None


Sink = Callable[[Event], None]


class RunLog:
    """The run log: one JSON line per event in the run folder, then passed on to `sink`."""

    def __init__(self, path: Path, sink: Sink | None = None) -> None:
        self.path = path
        self.sink = sink

    def __call__(self, event: Event) -> None:
        with self.path.open("a") as handle:
            handle.write(event.line() + "\n")
        if self.sink is not None:
            self.sink(event)
