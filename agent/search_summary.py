"""A search's own final verdict, kept with its run (`runs/RUN/search.json`): which config the command
chose, its held-out score and its margin over the strongest baseline.

A search records hundreds of points by a selection score (validation, searched over and over):
the highest of them is not the search's result, and a view that called it the run's best claimed
what the command itself said was not there. Every view of a search's best (the report, `strop
log`, `strop runs`, the UI, the `RUN/best` reference) asks `search_best`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.records import ExperimentRecord, RunRecord, best_experiment


def write_search_summary(home: Path, run_id: str, summary: dict[str, Any]) -> Path:
    """Keep a search's own final verdict for its report: `runs/RUN/search.json` (see
    `SearchRecorder.keep_summary` for its keys)."""
    folder = home / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "search.json"
    path.write_text(json.dumps(summary, allow_nan=False, default=str))
    return path


def read_search_summary(folder: Path) -> dict[str, Any] | None:
    """`runs/RUN/search.json`, or None when the search kept none (or it is unreadable)."""
    try:
        raw: Any = json.loads((folder / "search.json").read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def chosen_record(summary: dict[str, Any], records: list[ExperimentRecord]) -> ExperimentRecord | None:
    """The experiment a search's verdict chose (None: a config it did not record, e.g. a baseline's)."""
    chosen = summary.get("experiment")
    if not isinstance(chosen, int) or isinstance(chosen, bool):
        return None
    return next((r for r in records if r.id == chosen), None)


def search_best(home: Path, run: RunRecord, records: list[ExperimentRecord]) -> ExperimentRecord | None:
    """The experiment a view should call a run's best: for a search that kept its verdict, the config
    it chose (None when that is a baseline's own config); otherwise `best_experiment`."""
    summary = read_search_summary(home / "runs" / run.id)
    if summary is not None:
        return chosen_record(summary, records)
    return best_experiment(records, run.metric, run.direction)
