"""Many runs' reports summed up: MLE-bench's totals, and a medal table per competition.

`strop mle run` leaves `report.json` in each working folder; `load_reports` takes report
files or folders holding them (searched recursively), and `summarise` adds them up under
MLE-bench's names for its aggregate report (total_runs, total_valid_submissions,
total_medals, …) plus the any-medal rate that the benchmark's acceptance reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError

REPORT_FILE = "report.json"
NEEDED = (
    "competition_id",
    "submission_exists",
    "valid_submission",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
)


@dataclass(frozen=True)
class CompetitionLine:
    """One competition's runs: how many, their medals, the best score."""

    competition_id: str
    runs: int
    gold: int
    silver: int
    bronze: int
    above_median: int
    valid: int
    best_score: float | None

    @property
    def any_medal(self) -> int:
        return self.gold + self.silver + self.bronze


@dataclass(frozen=True)
class Summary:
    """MLE-bench's aggregate fields, strop's any-medal rate, and the per-competition lines."""

    total_runs: int
    total_runs_with_submissions: int
    total_valid_submissions: int
    total_medals: int
    total_gold_medals: int
    total_silver_medals: int
    total_bronze_medals: int
    total_above_median: int
    any_medal_rate: float
    competitions: list[CompetitionLine] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for line, raw in zip(data["competitions"], self.competitions, strict=True):
            line["any_medal"] = raw.any_medal
        return data


def load_reports(paths: list[Path]) -> list[dict[str, Any]]:
    """Every report under `paths` (files, or folders searched for report.json); one line if one is bad."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob(REPORT_FILE)))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such report file or folder")
    if not files:
        raise UserError(f"no {REPORT_FILE} under {', '.join(str(p) for p in paths)}")
    return [_read(file) for file in files]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not a readable JSON report ({error})") from None
    missing = [key for key in NEEDED if not isinstance(data, dict) or key not in data]
    if missing:
        raise UserError(f"{path}: not an MLE report (no {missing[0]!r})")
    return data


def summarise(reports: list[dict[str, Any]]) -> Summary:
    """MLE-bench's totals over all reports, and one line per competition (sorted by id)."""

    def count(key: str, rows: list[dict[str, Any]]) -> int:
        return sum(bool(row.get(key)) for row in rows)

    by_competition: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        by_competition.setdefault(str(report["competition_id"]), []).append(report)
    lines = [_line(cid, rows) for cid, rows in sorted(by_competition.items())]
    medals = sum(line.any_medal for line in lines)
    return Summary(
        total_runs=len(reports),
        total_runs_with_submissions=count("submission_exists", reports),
        total_valid_submissions=count("valid_submission", reports),
        total_medals=medals,
        total_gold_medals=count("gold_medal", reports),
        total_silver_medals=count("silver_medal", reports),
        total_bronze_medals=count("bronze_medal", reports),
        total_above_median=count("above_median", reports),
        any_medal_rate=round(medals / len(reports), 4) if reports else 0.0,
        competitions=lines,
    )


def _line(competition_id: str, rows: list[dict[str, Any]]) -> CompetitionLine:
    scores = [row["score"] for row in rows if row.get("valid_submission") and row.get("score") is not None]
    lower = bool(rows[0].get("is_lower_better"))
    best = (min(scores) if lower else max(scores)) if scores else None
    return CompetitionLine(
        competition_id=competition_id,
        runs=len(rows),
        gold=sum(bool(r.get("gold_medal")) for r in rows),
        silver=sum(bool(r.get("silver_medal")) for r in rows),
        bronze=sum(bool(r.get("bronze_medal")) for r in rows),
        above_median=sum(bool(r.get("above_median")) for r in rows),
        valid=sum(bool(r.get("valid_submission")) for r in rows),
        best_score=best,
    )
