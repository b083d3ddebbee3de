"""What an LLM proposer is told about a competition: its description and a preview of the public data.

AIDE shows the model the task's description and a preview of each data file before it
drafts; the run loop's prompt carries only the task's goal and the workspace, so the
preview goes into the goal of an LLM run's task. Built from `public/` alone (the fit and
holdout rows, never an answer), cut to a few thousand characters: the model needs the
columns, their kinds and a few rows, not the data.
"""

from __future__ import annotations

from typing import Any

DESCRIPTION_CHARS = 2500
PREVIEW_ROWS = 5
MAX_COLUMNS = 30


def goal_with_preview(goal: str, description: str, fit: Any, targets: list[str], id_column: str) -> str:
    """`goal`, then the competition's description, the files, and a preview of the rows candidates fit on."""
    described = description.strip()
    if len(described) > DESCRIPTION_CHARS:
        described = described[:DESCRIPTION_CHARS] + " […]"
    parts = [
        goal,
        "## Competition description\n" + (described or "(none given)"),
        "## Files (read-only, in the folder named by the STROP_PUBLIC environment variable)\n"
        "fit.csv: the training rows with their targets; holdout.csv: rows to predict for selection "
        "(no targets); test.csv: the competition's test rows; sample_submission.csv: the format of "
        "a submission; mle.json: the id column, targets, task kind, metric and whether it is a "
        "forecast. solution.py reads them and writes holdout.csv and submission.csv to "
        "$STROP_OUTPUTS; the scorer grades holdout.csv on rows you never see. The chosen solution "
        "runs once more for its grade, with every training row in fit.csv.",
        "## fit.csv\n" + table_preview(fit, targets, id_column),
    ]
    return "\n\n".join(parts)


def table_preview(frame: Any, targets: list[str], id_column: str) -> str:
    """Rows and columns, each column's kind and spread, and the targets' distribution."""
    shown = list(frame.columns[:MAX_COLUMNS])
    lines = [
        f"{len(frame)} rows, {frame.shape[1]} columns; id column {id_column!r}, target {', '.join(targets)}"
    ]
    if frame.shape[1] > MAX_COLUMNS:
        lines.append(f"(first {MAX_COLUMNS} columns described)")
    lines.extend(_column_line(frame[name], name in targets) for name in shown)
    lines.append("First rows:")
    lines.append(frame[shown].head(PREVIEW_ROWS).to_csv(index=False).strip())
    return "\n".join(lines)


def _column_line(column: Any, target: bool) -> str:
    role = " (target)" if target else ""
    missing = int(column.isna().sum())
    gaps = f", {missing} missing" if missing else ""
    if column.dtype.kind in "iufb":
        return f"- {column.name}{role}: {column.dtype}, min {column.min():.4g}, max {column.max():.4g}{gaps}"
    values = column.astype(str).value_counts()
    common = ", ".join(f"{value!r} ({count})" for value, count in values.head(4).items())
    return f"- {column.name}{role}: text, {len(values)} distinct, most common {common}{gaps}"
