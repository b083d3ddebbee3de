"""What each job of a jobs file will do next: the lines `strop nightly list` prints.

The jobs file says what may run and when; the history says what did. A user checking a
freshly written file (or a morning after) wants both side by side: whether a job is due
now (the next `strop nightly run` starts it), when it fires next, and how its last night
ended. Pure: the parsed file, the history and the clock in, one `JobLine` per job out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from agent.nightly.history import History
from agent.nightly.jobs import Jobs, next_fire
from agent.nightly.runner import due_jobs


@dataclass(frozen=True)
class JobLine:
    name: str
    kind: str
    what: str  # the task, competition or evolve arguments
    schedule: str
    due: str  # "" (not due), "due", or "resumes its killed night"
    next_fire: str  # ISO, UTC, minutes
    last_night: str  # ISO, UTC, minutes; "" before any
    last_status: str
    last_best: str  # "metric = value", "" when none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_lines(jobs: Jobs, history: History, now: datetime) -> list[JobLine]:
    due = {d.name: d for d in due_jobs(jobs, history, now)}
    lines = []
    for name, spec in sorted(jobs.spec.jobs.items()):
        last = history.last(name)
        item = due.get(name)
        state = "" if item is None else ("resumes its killed night" if item.resume else "due")
        best = ""
        if last is not None and last.best_metric is not None:
            best = f"{last.metric} = {last.best_metric:.6g}"
        lines.append(
            JobLine(
                name=name,
                kind=spec.kind,
                what=spec.task or spec.competition or " ".join(spec.args),
                schedule=spec.schedule,
                due=state,
                next_fire=next_fire(spec.schedule, now).isoformat(timespec="minutes"),
                last_night="" if last is None else last.night,
                last_status="" if last is None else last.status,
                last_best=best,
            )
        )
    return lines
