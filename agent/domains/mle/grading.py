"""Validating and grading a submission, and the report in MLE-bench's field names.

Two steps, as in MLE-bench:

- `validate_submission` checks the format only (a CSV with the sample submission's
  columns, its ids once each, no empty prediction) and says valid or invalid, never a
  score. It reads the public sample submission alone, so it is safe to run while a
  search is going on.
- `grade_submission` validates, then opens the private answers once and scores the
  submission with the competition's `grade.py` or its built-in metric, and places the
  score on the leaderboard's medal table (`medals`).

What the submission gets wrong is `valid_submission: false` with the reason, never an
exception. A grader that fails for any other reason is the competition's fault: one
`GraderError` line (exit 2). A `grade.py` signals a bad submission by raising an
exception whose class is named `InvalidSubmissionError` (MLE-bench's name) or
`agent.domains.mle.metrics.InvalidSubmission`. A `grade.py` that calls `sys.exit` is a
grader error too, and what it prints goes to stderr, so that `--json` prints JSON alone.
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.domains.mle.competition import Competition, CompetitionError
from agent.domains.mle.medals import award, thresholds
from agent.domains.mle.metrics import InvalidSubmission, grade_frames
from agent.domains.mle.submission_format import format_problem, read_csv

if TYPE_CHECKING:
    import pandas as pd

SCORE_DIGITS = 5  # MLE-bench rounds every score to five decimals


class GraderError(CompetitionError):
    """The competition's grader failed on a well-formed submission: its fault, not the submission's."""


@dataclass(frozen=True)
class Validation:
    """The format check's verdict: valid or not, and why, in one line."""

    valid: bool
    message: str


@dataclass(frozen=True)
class CompetitionReport:
    """One graded submission: MLE-bench's fields first, then strop's own."""

    competition_id: str
    score: float | None
    gold_threshold: float
    silver_threshold: float
    bronze_threshold: float
    median_threshold: float
    any_medal: bool
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool
    submission_exists: bool
    valid_submission: bool
    is_lower_better: bool
    created_at: str
    submission_path: str
    # strop's own
    metric: str
    leaderboard_teams: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def validate_submission(path: Path, competition: Competition) -> Validation:
    """Format only, against the public sample submission: columns, ids, row count, no empty cells."""
    try:
        problem = format_problem(Path(path), competition.sample_submission, competition.id_column)
    except ValueError as error:
        raise CompetitionError(str(error)) from None
    return Validation(False, problem) if problem else Validation(True, "submission is valid")


def grade_submission(
    path: Path, competition: Competition, now: datetime | None = None, timeout: float | None = None
) -> CompetitionReport:
    """Validate, then score against the private answers (opened once), then award medals.

    `timeout`: the seconds grade.py may take (its import and its grade call), else a `GraderError`
    line; None: no limit. Enforced by a timer signal, so only in the main thread.
    """
    path = Path(path)
    exists = path.is_file() and path.suffix.lower() == ".csv"
    verdict = validate_submission(path, competition)
    score = None
    if verdict.valid:
        score, verdict = _score(path, competition, timeout)
    return report_for(competition, score, exists, verdict.message, str(path), now)


def report_for(
    competition: Competition,
    score: float | None,
    submission_exists: bool,
    message: str,
    submission_path: str,
    now: datetime | None = None,
) -> CompetitionReport:
    """Place a score (None: no valid submission) on the competition's medal table."""
    table = thresholds(competition.leaderboard, competition.lower_is_better)
    medals = award(score, table, competition.lower_is_better)
    return CompetitionReport(
        competition_id=competition.id,
        score=score,
        gold_threshold=table.gold,
        silver_threshold=table.silver,
        bronze_threshold=table.bronze,
        median_threshold=table.median,
        any_medal=medals.any,
        gold_medal=medals.gold,
        silver_medal=medals.silver,
        bronze_medal=medals.bronze,
        above_median=medals.above_median,
        submission_exists=submission_exists,
        valid_submission=score is not None,
        is_lower_better=competition.lower_is_better,
        created_at=(now or datetime.now(UTC)).isoformat(),
        submission_path=submission_path,
        metric=competition.metric_name,
        leaderboard_teams=table.teams,
        message=message,
    )


def _score(
    path: Path, competition: Competition, timeout: float | None = None
) -> tuple[float | None, Validation]:
    submission = read_csv(path, dtype={competition.id_column: str})
    submission.columns = [
        str(column).strip() for column in submission.columns
    ]  # as the format check reads them
    answers = read_answers(competition)
    where = competition.grade_file or f"metric {competition.metric_name!r}"
    with _time_limit(timeout, where):
        grader = _grader(competition)
        try:
            with _stdout_aside():  # grade.py's prints must not come before `--json`'s report
                value = grader(submission, answers)
        except (Exception, SystemExit) as error:
            if _refused(error):
                return None, Validation(False, f"the grader refused the submission: {error}")
            raise GraderError(f"{where}: the grader raised {_described(error)}") from None
    return _checked_score(value, competition), Validation(True, "submission is valid")


@contextmanager
def _stdout_aside() -> Iterator[None]:
    """grade.py's output goes to stderr, Python's `print` and the file descriptor alike: an
    `os.write(1, b'{"score": 0.99, "gold_medal": true}')` came before `--json`'s report, and a
    script reading the first JSON document on stdout took it for strop's."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class _OutOfTime(BaseException):
    """Raised into the grader by the timer: a BaseException, so grade.py's `except Exception` lets it by."""


GRACE_SECONDS = 2.0
"""How long a grader that caught the time limit's exception (a bare `except:`) has to return
before the process ends with the error line anyway."""


@contextmanager
def _time_limit(seconds: float | None, where: object) -> Iterator[None]:
    """Run the body for at most `seconds`, else one `GraderError` line (no limit outside the main
    thread, where no signal handler can be set).

    The limit raises in the grader; one that swallows it (`while True: try: … except: pass`) is
    given `GRACE_SECONDS`, then the process prints the same line and ends with status 2 (`mle
    grade` is a command of its own: nothing else of the process is lost)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    said = f"{where}: the grader did not finish within {seconds:g}s (give it more with --timeout)"
    fired = [False]

    def expired(signum: int, frame: Any) -> None:
        if fired[0]:
            sys.stderr.write(f"error: {said}\n")
            sys.stderr.flush()
            os._exit(2)
        fired[0] = True
        signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _OutOfTime:
        raise GraderError(said) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _refused(error: BaseException) -> bool:
    """The grader refused the submission (ours or MLE-bench's exception), rather than failing."""
    return isinstance(error, InvalidSubmission) or type(error).__name__ == "InvalidSubmissionError"


def _described(error: BaseException) -> str:
    """`ZeroDivisionError: division by zero`; a `sys.exit(0)` says so, as its message is only a code."""
    if isinstance(error, SystemExit):
        return f"SystemExit (it called sys.exit({error.code!r}))"
    return f"{type(error).__name__}: {error}"


def read_answers(competition: Competition) -> pd.DataFrame:
    """The one place strop opens the private answers (ids as text, as the submission's are read;
    any separator, compressed or not, opened once: see `submission_format.read_csv`)."""
    try:
        return read_csv(competition.answers, dtype={competition.id_column: str})
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CompetitionError(f"{competition.answers}: cannot read the answers ({error})") from None


def _grader(competition: Competition) -> Callable[[pd.DataFrame, pd.DataFrame], Any]:
    if competition.grade_file is not None:
        return _load_grade_function(competition.grade_file)
    metric = competition.metric
    assert metric is not None  # load_competition guarantees a metric or a grade.py

    def grade(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return grade_frames(metric, submission, answers, competition.id_column, competition.columns)

    return grade


def _load_grade_function(path: Path) -> Callable[[pd.DataFrame, pd.DataFrame], Any]:
    """Import the competition's grade.py under a private module name and return its `grade`."""
    name = f"_strop_mle_grade_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraderError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _stdout_aside():
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        raise GraderError(f"{path}: importing it raised {_described(error)}") from None
    finally:
        sys.modules.pop(name, None)
    function = getattr(module, "grade", None)
    if not callable(function):
        raise GraderError(f"{path}: defines no grade(submission_df, answers_df) function")
    return function


def _checked_score(value: Any, competition: Competition) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        score = math.nan
    if not math.isfinite(score):
        where = competition.grade_file or f"metric {competition.metric_name!r}"
        raise GraderError(f"{where}: the grader returned {value!r}, not a finite number")
    return round(score, SCORE_DIGITS)
