"""The format check of a submission against the sample submission: valid or not, and why.

Format only, as MLE-bench's validate server reports it to competitors: the sample
submission's columns, its ids once each, its row count, no empty cell. No score and no
answers: it reads public files alone. Standard library and pandas only, importing nothing
from strop, because it is also copied beside the trusted scorer of `strop mle run`, which
runs in a sandbox where strop's own code is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_text_csv(path: Path) -> tuple[Any, str]:
    """Every cell as text, empty cells as "": (the frame, "") or (None, why it is unreadable)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        return None, str(error).splitlines()[0] if str(error) else type(error).__name__
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame, ""


def format_problem(submission_path: Path, sample_path: Path, id_column: str) -> str | None:
    """Why the submission's format is wrong, in one line, or None when it is valid."""
    path = Path(submission_path)
    if not path.is_file():
        return f"submission file {path} does not exist"
    if path.suffix.lower() != ".csv":
        return "the submission must be a CSV file"
    submission, problem = read_text_csv(path)
    if submission is None:
        return f"the submission is not a readable CSV ({problem})"
    sample, problem = read_text_csv(sample_path)
    if sample is None:
        raise ValueError(f"{sample_path}: cannot read the sample submission ({problem})")
    return compare_with_sample(submission, sample, id_column)


def compare_with_sample(submission: Any, sample: Any, id_column: str) -> str | None:
    """Columns (any order), row count, ids once each and all known, no empty cell."""
    expected, found = list(sample.columns), list(submission.columns)
    if sorted(found) != sorted(expected) or len(set(found)) != len(found):
        return f"columns are {found}, expected {expected} (as in sample_submission)"
    if len(submission) != len(sample):
        return f"{len(submission)} rows, expected {len(sample)} (as in sample_submission)"
    ids = submission[id_column]
    if ids.duplicated().any():
        return f"id {ids[ids.duplicated()].iloc[0]!r} appears more than once"
    unknown = sorted(set(ids) - set(sample[id_column]))
    if unknown:
        return f"id {unknown[0]!r} is not in sample_submission"
    empty = (submission == "").any()
    if empty.any():
        return f"column {empty[empty].index[0]!r} has empty values"
    return None
