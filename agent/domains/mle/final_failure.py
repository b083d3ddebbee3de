"""Why a run's final grading gave no score: the run's time, the competition's grader, or the submission.

The final phase's log (`N-final.log`) holds each stage's line `# backend=… exit=… killed_by=…
wall=…` and what it printed. The grader's pre-check (`grader_check`) ran it on held-out rows
of the public train.csv only; on the hidden test it can still fail: return NaN, raise, print
too much, or hang. That is the competition's fault, as `strop mle grade` says of a grader that
fails (exit 2), not the submission's, nor a reason to give more `--time`. The scorer says which
by its exit status (`scorer.GRADER_FAILED`, `scorer.NOT_FINITE`); a hang is told from a short
budget by the time the same scorer took on the held-out rows: a grader that ran more than
`SLOWER` times that, scaled by the rows it graded, had its time.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from agent.domains.mle.scorer import GRADER_FAILED, NOT_FINITE

SLOWER = 2.0
"""How many times its selection time (per row graded) a final scoring may run before it is a hang."""
FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True)
class Stage:
    """One stage of an evaluation's log: how it ended and the last line it printed on stderr."""

    name: str
    exit_code: int | None
    killed_by: str | None
    wall: float
    said: str


@dataclass(frozen=True)
class FinalFailure:
    """The final grading's failure in words (`: …`, to end the report's message), and whether the
    grader is to blame (then `grader` is its one error line)."""

    words: str = ""
    grader: str = ""


def final_failure(
    final_log: Path, validate_log: Path | None, where: str, rows: tuple[int, int]
) -> FinalFailure:
    """Read the final phase's log; `where` names the grader, `rows` is (held-out rows, test rows)."""
    stages = read_stages(final_log)
    scored = [stage for stage in stages if stage.name == "score"]
    if scored:
        grader = _grader_failure(scored[-1], validate_log, where, rows)
        if grader:
            return FinalFailure(f": {grader}", grader)
    stops = [stage for stage in stages if stage.killed_by == "timeout"]
    if stops and stages[-1] is stops[-1]:
        after = f"{stops[-1].wall:.3f}s"
        if _stopped_by_the_run(final_log):
            return FinalFailure(
                f": its final run was stopped by the run's time budget after {after}; a longer --time leaves it more"
            )
        return FinalFailure(f": its final run was stopped by the task's timeout after {after}")
    said = stages[-1].said if stages else ""
    return FinalFailure(f": {said[:300]}" if said else "")


def _grader_failure(stage: Stage, validate_log: Path | None, where: str, rows: tuple[int, int]) -> str:
    """The grader's error line when the final scoring failed by its fault, else ""."""
    if stage.killed_by is None and stage.exit_code in (GRADER_FAILED, NOT_FINITE):
        return f"{where}: on the hidden test {stage.said}"
    if stage.killed_by in ("output", "memory"):
        limit = "1 MiB of output" if stage.killed_by == "output" else "its memory limit"
        return f"{where}: on the hidden test the scorer running the grader went past {limit} and was killed"
    if stage.killed_by != "timeout" or validate_log is None:
        return ""
    selection = [s.wall for s in read_stages(validate_log) if s.name == "score" and s.exit_code == 0]
    if not selection:
        return ""
    held, test = rows
    expected = max(selection) * max(1.0, test / held if held else 1.0)
    if stage.wall < SLOWER * expected + 1.0:
        return ""  # it may have been cut short: the run's time is the likelier cause
    return (
        f"{where}: the grader did not finish on the hidden test within {stage.wall:.1f}s "
        f"(it graded {held} held-out rows in {max(selection):.1f}s)"
    )


def read_stages(log: Path) -> list[Stage]:
    """The stages of an evaluation log, in order (none when it cannot be read)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    stages: list[Stage] = []
    for n, line in enumerate(lines):
        if not line.startswith("# backend=") or n == 0 or "# stage " not in lines[n - 1]:
            continue
        name = lines[n - 1].rsplit("# stage ", 1)[1].strip()
        fields = dict(FIELD.findall(line))
        code = fields.get("exit", "")
        killed = fields.get("killed_by", "None")
        try:
            wall = float(fields.get("wall", "0").rstrip("s"))
        except ValueError:
            wall = 0.0
        number = int(code) if code.lstrip("-").isdigit() else None
        stages.append(Stage(name, number, None if killed == "None" else killed, wall, _said(lines[n + 1 :])))
    return stages


def _said(lines: list[str]) -> str:
    """The last line a stage printed on stderr (its log block runs to the next `$ ` line)."""
    end = next((n for n, line in enumerate(lines) if line.startswith("$ ")), len(lines))
    block = lines[:end]
    if "--- stderr ---" not in block:
        return ""
    err = [line.strip() for line in block[block.index("--- stderr ---") + 1 :] if line.strip()]
    err = [line for line in err if not line.startswith(("#", "$"))]
    return err[-1] if err else ""


def _stopped_by_the_run(log: Path) -> bool:
    try:
        return "stopped by the run's time budget" in log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file (0 when it cannot be read)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
    except (OSError, csv.Error, UnicodeDecodeError):
        return 0
