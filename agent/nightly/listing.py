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

from agent.nightly.history import History, NightRecord
from agent.nightly.jobs import Jobs, last_fire, next_fire
from agent.nightly.runner import due_jobs, late_limit


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
    waits: str = ""  # why a job whose schedule fired is not due (its fire was missed), "" otherwise

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_lines(jobs: Jobs, history: History, now: datetime) -> list[JobLine]:
    due = {d.name: d for d in due_jobs(jobs, history, now)}
    limit = late_limit(jobs)
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
                waits="" if item is not None else missed(spec.schedule, last, now, limit),
            )
        )
    return lines


def missed(schedule: str, last: NightRecord | None, now: datetime, limit: float) -> str:
    """Why a job is not due although its schedule fired since its last night: the fire is more than
    `limit` seconds ago (`runner.late_limit`), so the job waits for the next; "" when it ran."""
    fire = last_fire(schedule, now)
    if last is not None and last.night >= fire.isoformat(timespec="minutes"):
        return ""
    hours = (now - fire).total_seconds() / 3600
    first = "a new job: " if last is None else ""
    return (
        f"{first}its {fire.isoformat(timespec='minutes')} fire was {hours:.1f}h ago, later than the "
        f"{limit / 3600:g}h a night may start late (the window); it waits for its next fire"
    )


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
    return evolve_args_problem(spec.kind, spec.args)


def evolve_args_problem(kind: str, args: list[str]) -> str:
    """What is wrong with an evolve job's `args` ("" when nothing), found by parsing them as
    `strop evolve KIND` would, without running it: a job with wrong args failed every night,
    said only at the night's end (as the bottom border of typer's error box)."""
    import typer

    from agent.cli import app

    group = typer.main.get_command(app)
    evolve = getattr(group, "commands", {}).get("evolve")
    command = getattr(evolve, "commands", {}).get(kind)
    if command is None:
        return ""
    try:
        command.make_context(f"strop evolve {kind}", [*args, "--time", "1s", "--json"])
    except typer.TyperException as error:
        format_message = getattr(error, "format_message", None)
        message = format_message() if callable(format_message) else str(error)
        return f"args {' '.join(args)!r}: {message}"
    except Exception:  # an eager option (--help, --version) ends the parse: not a problem of the job's
        return ""
    return ""
