"""The nightly history: one record per job per night, in `$STROP_HOME/nightly/history.json`.

Only the holder of the nightly lock writes it (atomically: a temporary file, then a
rename), so readers (the summary, the web UI) always see a whole file. A night's
record is written when the job starts (status `running`) and again when it ends,
so a night that was killed shows as `running` with no process behind it, and the
next night resumes its run instead of starting a new one.

Each save keeps the version before it as `history.json.bak`. A history that cannot
be read (damaged on disk, edited by hand) is never overwritten: the backup is used
when it reads, saying so (`History.recovered`), else `HistoryUnreadable` (exit 2)
names the file and the way out.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError

SCHEMA = 1


class HistoryUnreadable(UserError):
    """The history file and its backup are both unreadable: one line naming them and the fix."""


@dataclass
class NightRecord:
    """One job on one night: what ran, how it ended, what it found, what it cost."""

    job: str
    night: str  # the scheduled time this night answers (ISO, UTC, minutes)
    kind: str
    started: str
    status: str = "running"  # running | done | failed | stopped
    finished: str | None = None
    run: str | None = None
    resumed: bool = False
    base: str | None = None  # the commit experiment 0 started from (warm start), if any
    identity: str = ""  # what the job ran (see `runner.job_identity`); warm starts need the same
    metric: str = ""
    direction: str = ""
    best: int | None = None
    best_metric: float | None = None
    previous_metric: float | None = None  # the best of the previous night of this job
    previous_night: str = ""  # that night ("" in histories written before it was kept)
    previous_of: str = ""  # "metric direction" of `previous_metric`: another metric is not compared
    task_changed: bool = (
        False  # the previous night ran another task (`identity`): not compared, no warm start
    )
    head: str = ""  # the user's branch commit as the night started (run jobs): a warm start needs it unmoved
    start_note: str = ""  # why the night did not warm-start as asked (`agent.nightly.warm`), "" otherwise
    branch: str = ""
    commit: str = ""
    cost_usd: float = 0.0
    tokens: int = 0
    experiments: int = 0
    error: str = ""
    note: str = ""
    seconds: float | None = None  # how long the job ran, in the nightly that ended (or stopped) it
    given: float | None = None  # the time that nightly gave it: its budget.time, cut to the window
    schema: int = SCHEMA

    @property
    def gain(self) -> float | None:
        """Improvement over the previous night (positive = better), in the metric's units."""
        if (
            self.best_metric is None
            or self.previous_metric is None
            or self.metric_changed
            or self.task_changed
        ):
            return None
        if self.direction == "minimize":
            return self.previous_metric - self.best_metric
        return self.best_metric - self.previous_metric

    @property
    def metric_changed(self) -> bool:
        """Whether the previous night's best measured another metric or direction (the task changed):
        its value then means something else, and is not compared ("worse by -118.99")."""
        return (
            bool(self.previous_of and self.metric) and self.previous_of != f"{self.metric} {self.direction}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NightRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class History:
    """The nights of every job, oldest first."""

    home: Path
    records: list[NightRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = self.home / "nightly" / "history.json"
        self.backup = self.path.with_name("history.json.bak")
        self.recovered = ""  # what was recovered from the backup, in words, if anything
        if not self.path.exists():
            return
        try:
            self.records = _read(self.path)
        except ValueError as error:
            try:
                self.records = _read(self.backup)
            except ValueError:
                raise HistoryUnreadable(
                    f"{self.path} is unreadable ({error}) and so is its backup; move it aside to start "
                    "a new history (every job is then due), or restore it"
                ) from None
            self.recovered = f"{self.path} is unreadable ({error}); using its backup {self.backup.name}"

    def nights(self, job: str | None = None) -> list[NightRecord]:
        return [r for r in self.records if job is None or r.job == job]

    def last(self, job: str) -> NightRecord | None:
        mine = self.nights(job)
        return mine[-1] if mine else None

    def last_good(self, job: str) -> NightRecord | None:
        """The latest night of `job` that found something (the warm start's source)."""
        return next((r for r in reversed(self.nights(job)) if r.commit and r.best_metric is not None), None)

    def put(self, record: NightRecord) -> None:
        """Add or replace (same job, night and start) a record, and save at once.

        The start is part of the key: a killed night closed because its job changed is kept
        next to the night that replaced it, even when both answer the same schedule time.
        """
        key = (record.job, record.night, record.started)
        for i, existing in enumerate(self.records):
            if (existing.job, existing.night, existing.started) == key:
                self.records[i] = record
                break
        else:
            self.records.append(record)
        self.save()

    def save(self) -> None:
        """Write atomically; the version replaced becomes the backup (when it reads: a damaged
        file must not overwrite a good backup)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        payload = {"schema": SCHEMA, "nights": [r.to_dict() for r in self.records]}
        temporary.write_text(json.dumps(payload, indent=1))
        if self.path.is_file() and self.recovered:  # keep the damaged file for a look, not the backup
            os.replace(self.path, self.path.with_name("history.json.broken"))
        elif self.path.is_file():
            link = self.path.with_name("history.json.bak.tmp")
            link.unlink(missing_ok=True)
            os.link(self.path, link)
            os.replace(link, self.backup)
        os.replace(temporary, self.path)
        self.recovered = ""


def _read(path: Path) -> list[NightRecord]:
    """The records in `path`; ValueError, in words, when it is not a nightly history."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8") or "{}")
        return [NightRecord.from_dict(item) for item in raw.get("nights", [])]
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{type(error).__name__}: {str(error)[:120]}") from None
