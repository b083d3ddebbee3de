"""What an audit of a run finds: problems, each with what to do about it, and one run's report.

Both checks of `strop audit` speak in these words: the whole-run checks (`agent.loop.audit`)
and the provenance checks (`agent.loop.provenance`); the CLI prints them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from agent.records import RunRecord


class Problem(str):
    """A problem found, in words (the string itself), and what to do about it (`hint`, may be empty).

    A `str`, so that the crash tests' `audit_run(...) == []` and their messages read as words.
    """

    hint: str

    def __new__(cls, text: str, hint: str = "") -> Problem:
        problem = super().__new__(cls, text)
        problem.hint = hint
        return problem


@dataclass(frozen=True)
class HiddenTest:
    """One reading of a run's hidden test: on which experiment, what it scored, when.

    The README promises that `strop audit` lists every scoring of the hidden test, so a reader
    can see how often the hidden answers were read and on what, not only that the record holding
    them is consistent. `when` is the time its log was last written (UTC; None: no log here).
    """

    experiment: str  # RUN/N
    value: float | None  # the run's metric; None: no score (the phase failed, or was cut short)
    when: str | None
    log: str  # the log's file name; "" when there is none
    recorded: bool = True  # False: a reading whose score no record holds (a final phase cut short)
    why: str = ""  # no score: why, as strop's verdict said (stopped by the run's time budget, …)
    finished: bool = True  # False: its log says only that it started (its process was killed mid-way)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Audit:
    """Everything `strop audit` says of one run: problems (none: the run is whole) and what was not checked."""

    run: RunRecord
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    experiments: int = 0
    logs_checked: int = 0
    hidden_tests: list[HiddenTest] = field(default_factory=list)
    """Every reading of the hidden test, in the order of the experiments (see `HiddenTest`)."""
    in_progress: bool = False
    """A strop process holds the run: nothing was checked (a run being written has pending
    experiments, lanes and locks by design, and git read mid-write can look damaged)."""

    @property
    def whole(self) -> bool:
        return not self.problems and not self.in_progress

    def to_dict(self) -> dict[str, object]:
        return {
            "run": self.run.id,
            "whole": self.whole,
            "in_progress": self.in_progress,
            "experiments": self.experiments,
            "logs_checked": self.logs_checked,
            "problems": [{"problem": str(p), "hint": p.hint} for p in self.problems],
            "unchecked": list(self.unchecked),
            "hidden_tests": [reading.to_dict() for reading in self.hidden_tests],
        }
