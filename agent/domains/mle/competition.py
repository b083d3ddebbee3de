"""A competition folder in openai/mle-bench's prepared layout, read and checked in one place.

    COMPETITION/
      config.yaml            id, name, grader: {name: METRIC}, dataset: {answers, sample_submission}
      description.md         what the competitors read
      prepared/public/       train, test, sample_submission… (what candidate code may see)
      prepared/private/      the answers (read only by grading)
      grade.py               optional: grade(submission_df, answers_df) -> float
      leaderboard.csv        the teams' scores: a `score` column

Everything wrong with the folder (a missing file, a malformed config, a metric strop does
not know and no grade.py) is a `CompetitionError`: one line naming the file, exit 2.
Loading reads the config, the sample submission and the leaderboard, never the private
answers: only `grading` opens those, once per grade.

The CSV files may be `,`-, `;`-, tab- or `|`-separated, with or without a UTF-8 byte-order
mark, and compressed as Kaggle ships them (`train.csv.zip`, `.gz`, `.bz2`, `.xz`); they must be
UTF-8. The sample submission names each id once.

Dataset paths in `config.yaml` are relative to the folder; MLE-bench's own form, which
starts with the competition id (`spaceship-titanic/prepared/private/test.csv`), works too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.domains.mle.medals import Leaderboard, read_leaderboard
from agent.domains.mle.metrics import KNOWN, Metric, find_metric
from agent.domains.mle.submission_format import COMPRESSIONS, header_line, line_separator, read_csv
from agent.errors import UserError

GRADE_FILE = "grade.py"
PLAIN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class CompetitionError(UserError):
    """A competition folder strop cannot use: names the file and what is wrong with it."""


@dataclass(frozen=True)
class Competition:
    """A competition as strop uses it: paths, the metric and its direction, the leaderboard."""

    id: str
    name: str
    root: Path
    description: Path
    public: Path
    private: Path
    answers: Path
    sample_submission: Path
    metric_name: str
    metric: Metric | None  # None when grade.py grades
    grade_file: Path | None
    lower_is_better: bool
    leaderboard: Leaderboard
    id_column: str
    columns: tuple[str, ...]  # the sample submission's, in order


def load_competition(folder: Path) -> Competition:
    """Read and check a competition folder; raise `CompetitionError` with one clear line."""
    root = Path(folder)
    if not root.is_dir():
        raise CompetitionError(f"{root}: no such competition folder")
    _no_links_out(root)
    config = _read_config(root / "config.yaml")
    competition_id = _plain_id(_text(config, "id", root / "config.yaml"), root / "config.yaml")
    grader = config.get("grader")
    if not isinstance(grader, dict) or not isinstance(grader.get("name"), str) or not grader["name"].strip():
        raise CompetitionError(f"{root / 'config.yaml'}: [grader] needs a `name` (the metric), e.g. accuracy")
    grade_file = root / GRADE_FILE if (root / GRADE_FILE).is_file() else None
    metric = find_metric(grader["name"])
    if metric is None and grade_file is None:
        raise CompetitionError(
            f"{root / 'config.yaml'}: [grader] unknown metric {grader['name']!r} and no {GRADE_FILE} "
            f"(known: {', '.join(KNOWN)})"
        )
    dataset = config.get("dataset") or {}
    if not isinstance(dataset, dict):
        raise CompetitionError(f"{root / 'config.yaml'}: [dataset] must be a mapping")
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    for needed in (root / "description.md", public, private):
        _must_exist(needed)
    sample = _dataset_path(
        root,
        competition_id,
        dataset,
        "sample_submission",
        lambda: public_file(public, "sample_submission.csv"),
    )
    answers = _dataset_path(root, competition_id, dataset, "answers", lambda: _only_csv(private))
    _not_private(sample, private, answers)
    columns = _sample_columns(sample)
    leaderboard = read_leaderboard(_must_exist(root / "leaderboard.csv"))
    id_column = _id_column(config, columns, sample, public_file(public, "test.csv"), root / "config.yaml")
    _unique_ids(sample, id_column)
    return Competition(
        id=competition_id,
        name=str(config.get("name") or competition_id),
        root=root,
        description=root / "description.md",
        public=public,
        private=private,
        answers=answers,
        sample_submission=sample,
        metric_name=grader["name"],
        metric=metric,
        grade_file=grade_file,
        lower_is_better=_direction(metric, grader, leaderboard, root / "config.yaml"),
        leaderboard=leaderboard,
        id_column=id_column,
        columns=columns,
    )


def _no_links_out(root: Path) -> None:
    """Refuse a symbolic link in the folder that leads out of it.

    A competition folder is someone else's files. Its description, data and leaderboard are
    copied into what candidates and the LLM read: a `description.md` linked to
    /proc/self/environ put strop's environment, API keys and all, in every candidate's public
    folder and in the goal sent to the LLM. Links that stay inside the folder are fine.
    """
    inside = root.resolve()
    for folder, names, files in os.walk(root):  # links to folders are listed, not followed
        for name in names + files:
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve(strict=False)
            except (OSError, RuntimeError):  # a link loop
                target = path
            if not target.is_relative_to(inside):
                raise CompetitionError(
                    f"{path} is a link to {os.readlink(path)}, outside the competition folder: "
                    "copy the file in instead (strop copies a competition's files to candidates and the LLM)"
                )


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    _must_exist(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise CompetitionError(f"{path}{line}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(data, dict):
        raise CompetitionError(f"{path}: must be a YAML mapping (id, name, grader, …)")
    return data


def _text(config: dict[str, Any], key: str, path: Path) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CompetitionError(f"{path}: [{key}] is missing or not text")
    return value.strip()


def _plain_id(value: str, path: Path) -> str:
    """The id names the working folder (`$STROP_HOME/mle/<id>-s<seed>`): path parts would leave it."""
    if not PLAIN_ID.fullmatch(value):
        raise CompetitionError(
            f"{path}: [id] {value!r} must be a plain name (letters, digits, '.', '_', '-'; not starting with '.')"
        )
    return value


def _id_column(config: dict[str, Any], columns: tuple[str, ...], sample: Path, test: Path, path: Path) -> str:
    """`id_column` from the config, else the one sample-submission column that test.csv has too.

    The id is not always first (`y,rowid`); taking the first column would take a target for the
    id. Without a test.csv (a grading-only folder) the first column is the id, as in MLE-bench.
    """
    declared = config.get("id_column")
    if declared is not None:
        if not isinstance(declared, str) or declared.strip() not in columns:
            raise CompetitionError(
                f"{path}: [id_column] {declared!r} is not a column of {sample.name} {list(columns)}"
            )
        return declared.strip()
    if not test.is_file():
        return columns[0]
    shared = [column for column in columns if column in _csv_header(test)]
    if len(shared) != 1:
        found = "none" if not shared else ", ".join(shared)
        raise CompetitionError(
            f"{path}: cannot tell the id column: {sample.name} and {test.name} share {found} "
            "(name it in config.yaml as id_column)"
        )
    return shared[0]


def public_file(public: Path, name: str) -> Path:
    """`name` in the public folder, or its compressed form (`train.csv.gz`, `train.csv.zip`) when
    only that is there: Kaggle ships large files zipped, and pandas reads them as they are."""
    plain = public / name
    if plain.exists():
        return plain
    packed = [public / f"{name}{suffix}" for suffix in COMPRESSIONS if (public / f"{name}{suffix}").is_file()]
    return packed[0] if packed else plain


def _csv_header(path: Path) -> tuple[str, ...]:
    """A CSV file's column names (its first row, any separator, compressed or not), or a one-line
    `CompetitionError` naming it."""
    import csv
    import lzma
    import zipfile

    try:
        line = header_line(path, errors="strict")
    except UnicodeDecodeError as error:
        raise CompetitionError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
        ) from None
    except (OSError, EOFError, IndexError, zipfile.BadZipFile, lzma.LZMAError) as error:
        raise CompetitionError(f"{path}: cannot read its header ({error})") from None
    header = next(csv.reader([line.rstrip("\r\n")], delimiter=line_separator(line)), [])
    return tuple(column.strip() for column in header)


def _unique_ids(sample: Path, id_column: str) -> None:
    """The sample submission names each id once: with an id twice, the answers cannot be joined to
    a submission row by row, and the format check would blame every submission for the sample's
    repeat (a submission that copies the sample is refused)."""
    try:
        ids = read_csv(sample, usecols=[id_column], dtype=str)[id_column]
    except (OSError, ValueError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CompetitionError(f"{sample}: cannot read it as CSV ({reason})") from None
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise CompetitionError(
            f"{sample}: id {repeated.iloc[0]!r} appears more than once ({len(repeated)} repeated ids); "
            "a submission has one row per id"
        )


def _must_exist(path: Path) -> Path:
    if not path.exists():
        raise CompetitionError(f"{path}: missing (see the MLE-bench layout: strop mle grade --help)")
    return path


def _dataset_path(
    root: Path, competition_id: str, dataset: dict[str, Any], key: str, default: Callable[[], Path]
) -> Path:
    """A `dataset` entry, relative to the folder, or to MLE-bench's data dir (`<id>/prepared/…`)."""
    value = dataset.get(key)
    if value is None:
        return _must_exist(default())
    relative = Path(str(value))
    if relative.is_absolute() or ".." in relative.parts:
        raise CompetitionError(f"{root / 'config.yaml'}: [dataset.{key}] must be a path inside the folder")
    if relative.parts and relative.parts[0] == competition_id and not (root / relative).exists():
        relative = Path(*relative.parts[1:])
    return _must_exist(root / relative)


def _not_private(sample: Path, private: Path, answers: Path) -> None:
    """The sample submission is copied to every candidate: it must be neither the answers (through a
    link too) nor anything in prepared/private, or a run would hand the answers out."""
    try:
        same = sample.samefile(answers)
    except OSError:
        same = False
    if same or sample.resolve().is_relative_to(private.resolve()):
        what = "is the answers" if same else "is in prepared/private"
        raise CompetitionError(
            f"{sample}: the sample submission {what}, and a run gives it to every candidate; "
            "point config.yaml [dataset.sample_submission] at a file in prepared/public"
        )


def _only_csv(private: Path) -> Path:
    """Without `dataset.answers`, the private folder's one CSV file (or compressed CSV) is the answers."""
    patterns = ["*.csv", *(f"*.csv{suffix}" for suffix in COMPRESSIONS)]
    found = (
        sorted(p for pattern in patterns for p in private.glob(pattern) if p.is_file())
        if private.is_dir()
        else []
    )
    if len(found) != 1:
        raise CompetitionError(
            f"{private}: name the answers in config.yaml [dataset.answers] "
            f"(found {len(found)} CSV files, need exactly one)"
        )
    return found[0]


def _sample_columns(sample: Path) -> tuple[str, ...]:
    columns = _csv_header(sample)
    if len(columns) < 2 or any(not column for column in columns):
        raise CompetitionError(f"{sample}: the sample submission needs an id column and a prediction column")
    return columns


def _direction(metric: Metric | None, grader: dict[str, Any], leaderboard: Leaderboard, path: Path) -> bool:
    """Lower is better: the metric's own direction, else `grader.lower_is_better`, else the leaderboard.

    MLE-bench reads the direction from the leaderboard alone (its first row is the winner);
    strop trusts a known metric first, then what the config says, and only then the order.
    """
    declared = grader.get("lower_is_better")
    if declared is not None and not isinstance(declared, bool):
        raise CompetitionError(f"{path}: [grader.lower_is_better] must be true or false")
    if metric is not None:
        if declared is not None and declared != metric.lower_is_better:
            raise CompetitionError(
                f"{path}: [grader.lower_is_better] contradicts the metric {metric.name!r} "
                f"({'lower' if metric.lower_is_better else 'higher'} is better)"
            )
        return metric.lower_is_better
    if declared is not None:
        return declared
    return leaderboard.first_is_lowest
