"""What each job of a jobs file will do next: the lines `strop nightly list` prints.

The jobs file says what may run and when; the history says what did. A user checking a
freshly written file (or a morning after) wants both side by side: whether a job is due
now (the next `strop nightly run` starts it), when it fires next, and how its last night
ended. Besides the clock, it looks at the disk only to warn of a task or competition that is
not there: the job would fail every night, and the file itself loads.
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
    warning: str = ""  # what would make the job fail (its task file is missing), "" when nothing

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
                warning=missing(jobs, name),
            )
        )
    return lines


def missing(jobs: Jobs, name: str) -> str:
    """'no such task file …' when a run job's task (or an mle job's competition) is not there."""
    spec = jobs.spec.jobs[name]
    if spec.kind == "run":
        task = jobs.task_path(name)
        task = task / "task.toml" if task.is_dir() else task
        return "" if task.is_file() else f"no such task file {task}"
    if spec.kind == "mle":
        folder = jobs.competition_path(name)
        return "" if folder.is_dir() else f"no such competition folder {folder}"
    return ""
