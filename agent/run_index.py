"""The run index: a SQLite cache of runs and experiments, rebuildable from git alone.

Read commands (`strop runs`, `strop log`) answer from here without opening git.
The index holds the JSON that git holds (a run's repo aside, written as below), so
`strop reindex` gives the same answers. Where the experiment repos are is kept in a plain registry file beside
it (`repos.txt`), which is a list of places to look, not state.

A repo strop manages lives in the home (`repos/<name>`), and is written down relative to it,
in the index and the registry alike: a home copied (`cp -a`) or moved (another folder, another
machine) reads its own repos. Written as absolute paths, a copy's `strop resume` added its
branches to the original's repo, whose index then disagreed with git. An older index's absolute
path into another home's `repos/<name>` is read as this home's `repos/<name>` when it has one,
so no command writes to a repo of another home; a repo outside the home (the user's own git
workspace, used in place) is written as an absolute path and read as written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from agent.errors import NotFoundError, RunError
from agent.records import ExperimentRecord, RunRecord, now_iso

REPOS = "repos"
"""The home's folder of the repos strop manages (`ExperimentRepo._managed` makes them there)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, task TEXT, repo TEXT, status TEXT, started TEXT, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (
    run TEXT NOT NULL, id INTEGER NOT NULL, status TEXT, data TEXT NOT NULL, PRIMARY KEY (run, id)
);
"""
SQLITE_MAX_INT = 2**63 - 1


DAMAGED_CODES = (11, 26)
"""SQLite's SQLITE_CORRUPT and SQLITE_NOTADB: the file is not a database any more (not "locked")."""


class DamagedIndex(RunError):
    """The index file is not a database: every read command failed with a bare DatabaseError,
    `strop reindex` (the documented remedy) included."""


class RunIndex:
    def __init__(self, home: Path, rebuild: bool = False) -> None:
        """`rebuild`: a damaged index file is moved aside and a new one made (`strop reindex`)."""
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "index.sqlite"
        self.registry = home / "repos.txt"
        self.moved_aside: Path | None = None
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as error:
            if (getattr(error, "sqlite_errorcode", 0) & 0xFF) not in DAMAGED_CODES:
                raise
            if not rebuild:
                raise DamagedIndex(
                    f"the run index {self.path} is damaged ({error}); `strop reindex` moves it aside and "
                    "rebuilds it from git"
                ) from None
            self.moved_aside = self._move_aside()
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        """Keep the damaged file (and its journal) beside, under a name of its own; the place it was."""
        aside = self.path.with_name(f"index.damaged-{now_iso().replace(':', '')}.sqlite")
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            journal = self.path.with_name(self.path.name + suffix)
            if journal.exists():
                journal.rename(aside.with_name(aside.name + suffix))
        return aside

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- registry
    def register_repo(self, path: Path) -> None:
        """Add the repo to the registry (relative to the home when in it), once."""
        if repo_place(self.home, path) not in self.known_repos():
            with self.registry.open("a") as handle:
                handle.write(f"{stored_place(self.home, path)}\n")

    def forget_repo(self, path: Path) -> None:
        """Take a repo off the registry (`strop rm` removed it): written aside, then renamed over."""
        place = repo_place(self.home, path)
        if not self.registry.exists():
            return
        lines = self.registry.read_text().splitlines()
        kept = [line for line in lines if line.strip() and repo_place(self.home, line) != place]
        partial = self.registry.with_name(f"{self.registry.name}.partial")
        partial.write_text("".join(f"{line}\n" for line in kept))
        partial.replace(self.registry)

    def known_repos(self) -> list[Path]:
        """Each registered repo where it is now (`repo_place`), once, in the order registered."""
        if not self.registry.exists():
            return []
        lines = [line for line in self.registry.read_text().splitlines() if line.strip()]
        return list(dict.fromkeys(repo_place(self.home, line) for line in lines))

    # ------------------------------------------------------------------ writes
    def put_run(self, run: RunRecord) -> None:
        """Index the run, its repo written as `stored_place` says (read back by `_run`)."""
        data = run.to_dict()
        data["repo"] = stored_place(self.home, run.repo)
        self.db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            (run.id, run.task, data["repo"], run.status, run.started, json.dumps(data, sort_keys=True)),
        )

    def put_experiment(self, record: ExperimentRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO experiments VALUES (?, ?, ?, ?)",
            (record.run, record.id, record.status.value, json.dumps(record.to_dict(), sort_keys=True)),
        )

    def forget_run(self, run_id: str) -> None:
        """Drop a run and its experiments: one that failed to start, which git no longer holds."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            self.db.execute("DELETE FROM experiments WHERE run = ?", (run_id,))

    def replace_all(self, runs: Iterable[RunRecord], experiments: Iterable[ExperimentRecord]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM runs")
            self.db.execute("DELETE FROM experiments")
            for run in runs:
                self.put_run(run)
            for record in experiments:
                self.put_experiment(record)

    # ------------------------------------------------------------------- reads
    def runs(self) -> list[RunRecord]:
        rows = self.db.execute("SELECT data FROM runs ORDER BY started, id").fetchall()
        return [self._run(row[0]) for row in rows]

    def run_ids(self) -> set[str]:
        """The ids of every run indexed (no record decoded)."""
        return {row[0] for row in self.db.execute("SELECT id FROM runs").fetchall()}

    def find_run(self, ref: str | None) -> RunRecord:
        """A run by id or unique id prefix; None or "latest" means the newest run."""
        if ref in (None, "", "latest", "last"):
            row = self.db.execute("SELECT data FROM runs ORDER BY started DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise NotFoundError(
                    "there are no runs yet: start one with `strop eval TASK` or `strop run TASK`"
                )
            return self._run(row[0])
        rows = self.db.execute(
            "SELECT data FROM runs WHERE id LIKE ? ESCAPE '\\'", (_like_prefix(ref),)
        ).fetchall()
        if not rows:
            raise NotFoundError(
                f"no run {ref!r} (see `strop runs`; run `strop reindex` if the index was lost)"
            )
        if len(rows) > 1:
            ids = sorted(json.loads(row[0]).get("id", "?") for row in rows)
            shown = ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")
            raise NotFoundError(
                f"run prefix {ref!r} is ambiguous: {len(rows)} runs match ({shown}); give more of it"
            )
        return self._run(rows[0][0])

    def _run(self, data: str) -> RunRecord:
        """An indexed run, its repo where it is in this home now (`repo_place`)."""
        run = RunRecord.from_dict(json.loads(data))
        return replace(run, repo=str(repo_place(self.home, run.repo)))

    def experiments(self, run_id: str) -> list[ExperimentRecord]:
        rows = self.db.execute("SELECT data FROM experiments WHERE run = ? ORDER BY id", (run_id,)).fetchall()
        return [ExperimentRecord.from_dict(json.loads(row[0])) for row in rows]

    def find_experiment(self, ref: str) -> tuple[RunRecord, ExperimentRecord]:
        """`RUN/N`, `strop/RUN/N` or `N` (in the latest run); `best` for N names the run's best."""
        text = ref.removeprefix("strop/")
        run_ref, _, exp = text.rpartition("/")
        if exp == "best":
            return self._best_of(self.find_run(run_ref or None))
        number = experiment_number(exp)
        if number is None:
            raise NotFoundError(
                f"{ref!r} is not an experiment: use RUN/N (e.g. {run_ref or 'abc123'}/0), RUN/best or N"
            )
        run = self.find_run(run_ref or None)
        row = None
        if number <= SQLITE_MAX_INT:  # larger ids cannot be stored, so no such experiment exists
            row = self.db.execute(
                "SELECT data FROM experiments WHERE run = ? AND id = ?", (run.id, number)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"run {run.id} has no experiment {exp}")
        return run, ExperimentRecord.from_dict(json.loads(row[0]))

    def _best_of(self, run: RunRecord) -> tuple[RunRecord, ExperimentRecord]:
        from agent.search_summary import search_best

        best = search_best(self.home, run, self.experiments(run.id))
        if best is None:
            raise NotFoundError(
                f"run {run.id} has no scored experiment yet, or its search chose none of its own, so no best"
            )
        return run, best


def repo_place(home: Path, stored: str | Path) -> Path:
    """Where a repo written down as `stored` is, for this home.

    Relative: in the home. Absolute into another home's `repos/<name>` (an index or registry
    written before repos were kept relative, then copied or moved): this home's `repos/<name>`
    when it has one, since the other home's copy is not this home's to write. Otherwise as written.
    """
    path = Path(stored)
    if not path.is_absolute():
        return home / path
    if path.is_relative_to(home) or path.parent.name != REPOS:
        return path
    ours = home / REPOS / path.name
    return ours if (ours / ".git").exists() else path


def stored_place(home: Path, path: str | Path) -> str:
    """How a repo is written down: relative to the home when it is in it, else absolute."""
    place = repo_place(home, path)
    return place.relative_to(home).as_posix() if place.is_relative_to(home) else str(place)


def experiment_number(text: str) -> int | None:
    """An experiment id written as plain ASCII digits, else None.

    `int()` alone would also take "1_0", "+1", " 1" and non-ASCII digits, so one
    experiment would answer to many spellings of its number. Numbers too long to
    store come back as SQLITE_MAX_INT + 1 (no experiment has it) without parsing
    thousands of digits.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else SQLITE_MAX_INT + 1


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
