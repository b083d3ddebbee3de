"""The format check of a submission against the sample submission: valid or not, and why.

Format only, as MLE-bench's validate server reports it to competitors: the sample
submission's columns, its ids once each, its row count, no empty cell. No score and no
answers: it reads public files alone. Standard library and pandas only, importing nothing
from strop, because it is also copied beside the trusted scorer of `strop mle run`, which
runs in a sandbox where strop's own code is not installed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DELIMITERS = ",;\t|"  # in order of preference when a header has as many of two
COMPRESSIONS = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}  # by suffix, as pandas reads them


def header_line(path: Path, errors: str = "replace") -> str:
    """A CSV file's first line, through the compression its suffix names (`train.csv.gz`, `.zip`).

    `errors="strict"` raises `UnicodeDecodeError` for a header that is not UTF-8."""
    with open(path, "rb") as handle:
        return _first_line(handle, Path(path)).decode("utf-8-sig", errors=errors)


def _first_line(handle: Any, path: Path) -> bytes:
    """The first line of the open file `handle` (of `path`), decompressed, read from its start."""
    import bz2
    import gzip
    import lzma
    import zipfile

    kind = COMPRESSIONS.get(path.suffix.lower())
    if kind == "zip":
        with zipfile.ZipFile(handle) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
            with archive.open(names[0]) as member:
                return member.readline()
    opener: Any = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}.get(kind or "")
    if opener is None:
        return handle.readline()
    with opener(fileobj=handle) if kind == "gzip" else opener(handle) as unpacked:
        return unpacked.readline()


def line_separator(line: str) -> str:
    """`,` unless `;`, a tab or `|` is more common in a header line outside its quoted names."""
    line = re.sub(r'"[^"]*"', "", line)
    return max(DELIMITERS, key=line.count) if any(mark in line for mark in DELIMITERS) else ","


def delimiter(path: Path) -> str:
    """The field separator of a CSV file, from its header: `,` unless `;`, a tab or `|` is more common.

    Files exported by a spreadsheet in much of Europe are `;`-separated; read with `,` they are one
    column, and every check downstream fails with a reason that does not point at the separator.
    Quoted names are skipped, so a `,` inside `"a,b"` does not count. An unreadable file is `,`:
    reading it then says what is wrong with it.
    """
    try:
        return line_separator(header_line(path))
    except (OSError, EOFError, IndexError, ValueError, *_archive_errors()):
        return ","


def _archive_errors() -> tuple[type[Exception], ...]:
    import lzma
    import zipfile

    return (zipfile.BadZipFile, lzma.LZMAError)


def read_csv(path: Path, **options: Any) -> Any:
    """`pandas.read_csv` of `path` with its separator (`delimiter`) and compression, opening it once.

    Once: the private answers are read through this, and a run audits that it opens them once.
    An archive that is not one raises `ValueError`, as a malformed CSV does.
    """
    import pandas as pd

    path = Path(path)
    with open(path, "rb") as handle:
        try:
            separator = line_separator(_first_line(handle, path).decode("utf-8-sig", errors="replace"))
        except (EOFError, IndexError, *_archive_errors()) as error:
            raise ValueError(f"not a readable {path.suffix} archive ({error})") from None
        handle.seek(0)
        return pd.read_csv(
            handle, sep=separator, compression=COMPRESSIONS.get(path.suffix.lower()), **options
        )


def read_text_csv(path: Path) -> tuple[Any, str]:
    """Every cell as text, empty cells as "": (the frame, "") or (None, why it is unreadable)."""
    import pandas as pd

    try:
        frame = read_csv(path, dtype=str, keep_default_na=False)
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
