"""What a report shows, gathered once: the run, its experiments, the winning diff, the extras.

A report reads the run index (the same JSON git holds) and asks git for one thing
only, the best experiment's diff against experiment 0, so building it stays cheap
on runs of hundreds of experiments. Searches (`strop evolve …`) are runs too; for
them the Pareto front is drawn, with baselines read from the run folder's
`baselines.json` (`write_baselines`: every search's recorder keeps there the baselines
the search ran). A search that kept its own verdict (`search.json`, `write_search_summary`:
`strop evolve quant` does) is headlined by it: the config the command chose, its held-out
score and its paired margin over the strongest baseline; its points' recorded metric is a
selection score (validation, searched hundreds of times), so the highest of them is not
called the best, and `best`/`adopt` point at the chosen config (or say there is none to
adopt). A search without one has its best point compared with its strongest baseline,
never with "experiment 0", which is just the first point it found, and the comparison
says it rests on the search's own scores. MLE runs may leave
`thresholds.json` (medal thresholds by name) in the run folder; they are drawn on the
metric curve.

A run the index still calls "running" may have been killed: its runner lock
(`runs/RUN/runner.lock`, held by the one process driving it) then is free, and the
report says the run was interrupted, with the command that continues it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import NotFoundError
from agent.records import ExperimentRecord, RunRecord, best_experiment, judged_value, run_cost
from agent.run_index import RunIndex
from agent.search_summary import chosen_record, read_search_summary
from evaluators.metric import Direction
from evaluators.metrics_output import finite_number

DIFF_LIMIT = 300_000  # characters of the winning diff kept in a report (the file must stay small)
COST_AXES = ("cost", "bytes", "avg_bits", "ops", "size")  # metrics that make a Pareto front's x axis


@dataclass(frozen=True)
class Baseline:
    """A reference point drawn on a search's front (Taylor, uniform int4, …)."""

    name: str
    metrics: dict[str, float]


@dataclass
class ReportData:
    """Everything one report shows; plain data, so HTML, PNG and the UI render the same thing."""

    run: RunRecord
    records: list[ExperimentRecord]
    best: ExperimentRecord | None
    diff: str = ""
    diff_truncated: bool = False
    baselines: list[Baseline] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # "running" in the index, but no process drives it (killed or crashed)
    summary: dict[str, Any] | None = None  # a search's own final verdict (`search.json`), when it kept one

    @property
    def state(self) -> str:
        """The run's status as a person should read it: a killed run is not "running"."""
        return interrupted_note(self.run.id) if self.interrupted else self.run.status

    @property
    def metric(self) -> str:
        return self.run.metric

    @property
    def direction(self) -> Direction:
        return self.run.direction

    @property
    def is_search(self) -> bool:
        """An evolutionary search recorded point by point (no task file, every point its own root)."""
        return not self.run.task_path and all(r.parent is None for r in self.records)

    @property
    def baseline(self) -> ExperimentRecord | None:
        return next((r for r in self.records if r.id == 0), None)

    def value(self, record: ExperimentRecord) -> float | None:
        """What the record scored, as the best is judged (a confirmed one's re-measured mean)."""
        return judged_value(record, self.metric)

    def cost_axis(self) -> str | None:
        """The metric a search trades its primary metric against (the front's x axis)."""
        names = {name for r in self.records for name in r.metrics if name != self.metric}
        return next((name for name in COST_AXES if name in names), None)

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return dict(sorted(counts.items()))

    def failed_note(self) -> str:
        """Why nothing scored, in words ("" when something did); for a search that kept its verdict
        and chose no experiment of its own, why there is nothing to adopt."""
        if self.best is not None:
            return ""
        if self.summary is not None:  # a search's choice it did not record (a baseline's own config)
            return self.adopt_note()
        if not self.records:
            return "no experiment was recorded"
        counts = ", ".join(f"{n} {status}" for status, n in self.status_counts().items())
        every = "the only experiment" if len(self.records) == 1 else f"all {len(self.records)} experiments"
        return f"nothing scored: {every} failed or never finished ({counts})"

    def total_cost(self) -> tuple[int, float]:
        """Tokens and USD spent by the whole run, the calls a crash cut included (`RunRecord.unrecorded`)."""
        spent = run_cost(self.records, self.run)
        return spent.tokens, round(spent.usd, 6)

    def improvement(self) -> float | None:
        """The best experiment's gain over experiment 0; None for a search (see `strongest_baseline`)."""
        base = self.value(self.baseline) if self.baseline and not self.is_search else None
        if base is None or self.best is None:
            return None
        best = self.value(self.best)
        return None if best is None else self.direction.improvement(best, base)

    def facts(self) -> list[tuple[str, str]]:
        """The rows a search's own verdict puts first in a report ([] without one)."""
        rows = (self.summary or {}).get("facts")
        if not isinstance(rows, list):
            return []
        return [(str(row[0]), str(row[1])) for row in rows if isinstance(row, list | tuple) and len(row) == 2]

    def adopt_note(self) -> str:
        """Why a search that kept its verdict has nothing to adopt ("" when its best is its choice)."""
        if self.summary is None:
            return ""
        note = self.summary.get("adopt_note")
        if isinstance(note, str) and note:
            return note
        return "" if self.best is not None else "nothing to adopt: the search chose no config it recorded"

    def selection_note(self) -> str:
        """What a search's recorded metric is, said where it is shown ("" when it did not say)."""
        note = (self.summary or {}).get("selection")
        return note if isinstance(note, str) else ""

    def strongest_baseline(self) -> tuple[Baseline, float] | None:
        """The baseline a search's best point is fairly compared with, and the best point's gain on it.

        The strongest on the primary metric among the baselines that cost no more than the best
        point (on the front's cost axis, where both have it): a costlier baseline may well be
        better and says nothing of what the search found at its price."""
        if self.best is None or not self.is_search or self.summary is not None:
            return None  # a search's own verdict is its comparison (`facts`)
        axis = self.cost_axis()
        best_value = self.best.metrics[self.metric]
        best_cost = None if axis is None else finite_number(self.best.metrics.get(axis))
        fair = [
            (b, b.metrics[self.metric])
            for b in self.baselines
            if self.metric in b.metrics
            and (best_cost is None or axis not in b.metrics or b.metrics[axis] <= best_cost)
        ]
        if not fair:
            return None
        strongest = max(fair, key=lambda item: self.direction.improvement(item[1], best_value))
        return strongest[0], self.direction.improvement(best_value, strongest[1])


def find_run(index: RunIndex, ref: str | None) -> RunRecord:
    """A run by id or prefix, or the latest run of a search or task by its name."""
    try:
        return index.find_run(ref)
    except NotFoundError:
        named = [run for run in index.runs() if run.task == ref]
        if named:
            return named[-1]
        raise


def gather(index: RunIndex, ref: str | None, home: Path) -> ReportData:
    """Read a run's report data from the index, its run folder and (for the diff) git."""
    run = find_run(index, ref)
    records = index.experiments(run.id)
    folder = home / "runs" / run.id
    summary = read_search_summary(folder)
    if summary is not None:
        best = chosen_record(summary, records)
    else:
        best = best_experiment(records, run.metric, run.direction)
    data = ReportData(
        run=run, records=records, best=best, interrupted=is_interrupted(run, home), summary=summary
    )
    data.baselines = _read_baselines(folder / "baselines.json")
    data.thresholds = _read_thresholds(folder / "thresholds.json")
    if best is not None and not data.is_search:
        data.diff, data.diff_truncated = _best_diff(run, records, best, home)
    return data


def interrupted_note(run_id: str) -> str:
    return f"interrupted: no strop process is running it (killed or crashed); `strop resume {run_id}` continues it"


def is_interrupted(run: RunRecord, home: Path) -> bool:
    """Whether a run the index calls "running" has no process driving it.

    The driver holds `runs/RUN/runner.lock` for the whole run; a free lock means it is gone.
    The lock is taken for an instant to find out: a `strop resume` started in that instant
    is told the run is busy. A run without a lock file (a search, a run not started yet) is
    taken at its word.
    """
    lock_path = home / "runs" / run.id / "runner.lock"
    if run.status != "running" or not lock_path.is_file():
        return False
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):  # held (alive), or unreadable: say what the index says
        return False
    lock.release()
    return True


def _best_diff(
    run: RunRecord, records: list[ExperimentRecord], best: ExperimentRecord, home: Path
) -> tuple[str, bool]:
    """The best experiment's change against experiment 0 (or the run's base), capped."""
    from agent.experiments import ExperimentRepo

    zero = next((r for r in records if r.id == 0), None)
    base = zero.commit if zero is not None else run.base_commit
    try:
        text = ExperimentRepo.open(Path(run.repo), home).diff(base, best.commit)
    except Exception as error:  # a lost repo must not cost the rest of the report
        return f"(the diff is unavailable: {error})", False
    if len(text) > DIFF_LIMIT:
        return text[:DIFF_LIMIT], True
    return text, False


def write_baselines(home: Path, run_id: str, raw: Any) -> Path:
    """Keep a search's baselines for its report, as `--json` gives them (a list of named entries, or a
    dict by name): `runs/RUN/baselines.json` holds the numeric values of each, by name."""
    folder = home / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "baselines.json"
    path.write_text(json.dumps(baselines_of(raw)))
    return path


def baselines_of(raw: Any) -> list[dict[str, Any]]:
    """Named baselines with their finite numbers only (a config, a program text or inf is left out)."""
    items = raw.items() if isinstance(raw, dict) else ((_name_of(b), b) for b in raw or [])
    found = []
    for name, values in items:
        if isinstance(values, dict):
            numbers = {k: v for k, v in ((k, finite_number(v)) for k, v in values.items()) if v is not None}
            found.append({"name": str(name), "metrics": numbers})
    return found


def _name_of(item: Any) -> str:
    return str(item.get("name", "baseline")) if isinstance(item, dict) else "baseline"


def _read_baselines(path: Path) -> list[Baseline]:
    """`[{"name": …, "metrics": {…}}, …]`; a missing or unreadable file means no baselines."""
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    found = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("metrics"), dict):
            numbers = {
                k: v for k, v in ((k, finite_number(v)) for k, v in item["metrics"].items()) if v is not None
            }
            found.append(Baseline(name=str(item.get("name", "baseline")), metrics=numbers))
    return found


def _read_thresholds(path: Path) -> dict[str, float]:
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in ((k, finite_number(v)) for k, v in raw.items()) if v is not None}
