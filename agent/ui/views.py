"""What the web UI shows, read from the run index, git and the run folders; no web framework here.

Each function takes plain arguments and returns plain data (dataclasses and dicts)
for the templates, so the pages can be tested without a server and the app module
stays a thin list of routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import NotFoundError
from agent.records import ExperimentRecord, RunRecord
from agent.run_index import RunIndex
from agent.search_summary import search_best

LOG_TAIL = 4000  # characters of a log shown; at most LOG_TAIL_BYTES of the file are read
LOG_TAIL_BYTES = 4 * LOG_TAIL + 4096  # a UTF-8 character is at most 4 bytes; \r redraws and colours shrink
DIFF_LIMIT = 200_000
LIVE_ROWS = 100  # the live table's newest experiments; the tree below has every one


@dataclass(frozen=True)
class RunRow:
    run: RunRecord
    experiments: int
    best: ExperimentRecord | None
    interrupted: bool = False

    @property
    def state(self) -> str:
        return "interrupted" if self.interrupted else self.run.status


@dataclass(frozen=True)
class Progress:
    """The live part of a run's page: what changes while the run goes on."""

    run: RunRecord
    records: list[ExperimentRecord]
    best: ExperimentRecord | None
    counts: dict[str, int]
    interrupted: bool = False  # "running" in the index, but no process drives it (killed or crashed)

    @property
    def state(self) -> str:
        """The status to show: a killed run says so, with the command that continues it."""
        from agent.report.data import interrupted_note

        return interrupted_note(self.run.id) if self.interrupted else self.run.status

    @property
    def live(self) -> bool:
        return self.run.status == "running" and not self.interrupted

    @property
    def is_search(self) -> bool:
        """An evolve search (each point its own root, no task file): drawn as a front."""
        return not self.run.task_path and all(r.parent is None for r in self.records)

    @property
    def has_front(self) -> bool:
        """Whether the pareto plot exists (as `plots.pareto_front` decides): else its <img> would 404."""
        from agent.report.data import COST_AXES

        names = {name for r in self.records for name in r.metrics if name != self.run.metric}
        return self.is_search and any(name in names for name in COST_AXES)

    @property
    def newest(self) -> list[ExperimentRecord]:
        """The live table's rows, newest first: a long run's table re-sent whole on every change
        was ~250 bytes an experiment (0.5 MB a second at 1,400 experiments, one tab)."""
        return self.records[: -LIVE_ROWS - 1 : -1]

    @property
    def signature(self) -> tuple[Any, ...]:
        """Changes whenever something on the live part would change (the SSE stream sends only then)."""
        return (
            self.run.status,
            self.interrupted,
            self.run.stop_reason,
            tuple((r.id, r.status.value) for r in self.records),
        )


def runs(index: RunIndex) -> list[RunRow]:
    from agent.report.data import is_interrupted

    rows = []
    for run in reversed(index.runs()):
        records = index.experiments(run.id)
        best = search_best(index.home, run, records)
        rows.append(RunRow(run, len(records), best, is_interrupted(run, index.home)))
    return rows


def progress(index: RunIndex, run_id: str) -> Progress:
    from agent.report.data import is_interrupted

    run = index.find_run(run_id)
    records = index.experiments(run.id)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status.value] = counts.get(record.status.value, 0) + 1
    return Progress(
        run,
        records,
        search_best(index.home, run, records),
        dict(sorted(counts.items())),
        is_interrupted(run, index.home),
    )


def tree(records: list[ExperimentRecord]) -> dict[int | None, list[ExperimentRecord]]:
    """Children of each experiment (None: the roots), in id order."""
    ids = {r.id for r in records}
    children: dict[int | None, list[ExperimentRecord]] = {}
    for record in records:
        children.setdefault(record.parent if record.parent in ids else None, []).append(record)
    return children


def experiment(index: RunIndex, run_id: str, exp: str) -> tuple[RunRecord, ExperimentRecord]:
    """`exp` as the URL wrote it: the index decides what is an experiment number (plain digits)."""
    run, record = index.find_experiment(f"strop/{run_id}/{exp}")  # a run named "strop" stays a run
    return run, record


def parent_commit(index: RunIndex, run: RunRecord, record: ExperimentRecord) -> str:
    if record.parent is None:
        return run.base_commit
    try:
        return index.find_experiment(f"{run.id}/{record.parent}")[1].commit
    except NotFoundError:
        return run.base_commit


def diff(run: RunRecord, old: str, new: str, home: Path) -> tuple[str, bool]:
    """`git diff old new` in the run's repo, capped; a lost repo is said, not raised."""
    from agent.experiments import ExperimentRepo

    try:
        text = ExperimentRepo.open(Path(run.repo), home).diff(old, new)
    except Exception as error:  # the page still shows everything else
        return f"(the diff is unavailable: {error})", False
    return (text[:DIFF_LIMIT], True) if len(text) > DIFF_LIMIT else (text, False)


def log_tail(path: str, home: Path) -> str:
    """The end of a log as a terminal would show it (colours dropped, carriage-return redraws applied).

    Only the last LOG_TAIL_BYTES are read: a candidate's log may be gigabytes. `path` as the
    record names it, read where `home` keeps it (a moved or copied home: `log_place`).
    """
    from agent.home import log_place
    from agent.report.text import log_text, read_tail

    return log_text(read_tail(str(log_place(home, path)) if path else "", LOG_TAIL_BYTES))[-LOG_TAIL:]


def metric_text(record: ExperimentRecord, metric: str) -> str:
    from agent.records import measured_text

    return measured_text(record, metric)


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    kind: str
    schedule: str
    next_run: str
    budget: str
    warm_start: bool


def scheduled_jobs(path: Path | None) -> tuple[list[ScheduledJob], str]:
    """The jobs file's jobs with their next run (UTC), or the one-line problem reading it."""
    if path is None:
        return [], ""
    from datetime import UTC, datetime

    from agent.errors import UserError
    from agent.nightly.jobs import load_jobs, next_fire

    try:
        jobs = load_jobs(path)
    except UserError as error:
        return [], str(error)
    now = datetime.now(UTC).replace(tzinfo=None)
    listed = []
    for name, spec in jobs.spec.jobs.items():
        budget = ", ".join(
            f"{k} {v:g}{'s' if k == 'time' else ''}"
            for k, v in spec.budget.model_dump().items()
            if v is not None
        )
        listed.append(
            ScheduledJob(
                name,
                spec.kind,
                spec.schedule,
                next_fire(spec.schedule, now).isoformat(timespec="minutes"),
                budget or "the task's own",
                spec.warm_start,
            )
        )
    return listed, ""
