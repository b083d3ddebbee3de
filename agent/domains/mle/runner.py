"""`strop mle run`'s engine: a competition becomes a task, the run loop improves it, the best is graded.

The run is an ordinary strop run (branches, notes, `strop log`, `strop resume`) of the task
that `workfolder.prepare_task` writes. Its final phase grades the chosen experiment's
`submission.csv` against the competition's answers, once: the refit's on every training row,
or, when the refit gives no verdict in time, the one its selection run wrote (`graded` in the
report says which). This module then places that score on the leaderboard
(`grading.report_for`) without opening the answers again, and writes the report to
`report.json` in the working folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.domains.mle.competition import Competition
from agent.domains.mle.final_failure import FinalFailure, csv_rows, final_failure
from agent.domains.mle.grader_check import check_grader
from agent.domains.mle.grading import SCORE_DIGITS, CompetitionReport, report_for
from agent.domains.mle.summary import REPORT_FILE
from agent.domains.mle.workfolder import Endpoint, WorkFolder, prepare_task, work_folder
from evaluators.staged import GRADED
from evaluators.verdict import Status

SELECTION_OUTPUTS = "selection run"
"""In a `graded` line: the submission graded was the selection run's, not the refit's."""

CLOSING = 2.0
"""Seconds the grader's pre-check leaves of `--time` for refusing in one line and exiting."""
THRESHOLDS_FILE = "thresholds.json"  # in the run's folder: drawn on the metric curve by `strop report`


DEFAULT_EXPERIMENTS = 12
NO_LIMIT = 0
MIN_TIME = 10.0
"""The least `--time` that leaves experiment 0 any time at all: the run keeps 2 s for closing and a
sixth of its time for the final grading, and starting (imports, writing the task folder) takes
2-3 s on a busy 2-core machine, so with 5 s experiment 0 never started. 10 s runs a small
competition's (strop-digits, 5 folds) to a graded submission; a larger one needs more, which the
report's message says when the time ran out (`_short_of_time`)."""


@dataclass(frozen=True)
class RunRequest:
    """What `strop mle run` was asked for."""

    competition: Competition
    out: Path
    seed: int = 0
    experiments: int = DEFAULT_EXPERIMENTS  # NO_LIMIT: as many as `time` allows
    time: float | None = None  # seconds for the whole run, final phase included
    parallel: int | None = None  # lanes evaluated at once (None: the task's, one)
    reuse: bool = False  # `out` may already hold this competition's task (a nightly job's folder)
    base: str | None = None  # experiment 0's parent (a warm start from an earlier run's best)
    executor: dict[str, Any] | None = None  # where evaluations run (`ExecutorSpec.to_dict()`)
    llm: Endpoint | None = None  # propose with this endpoint instead of the offline recipe search
    folds: int | None = None  # selection folds; None: `workfolder.fold_count` decides


@dataclass(frozen=True)
class RunOutcome:
    """The report (MLE-bench's fields) and the run's own facts."""

    report: CompetitionReport
    run: str
    experiments: int
    wall_seconds: float
    best_branch: str | None
    holdout_score: float | None
    holdout_rows: int | None  # how many rows chose it: with 21, one row moves accuracy by 4.8 points
    tokens: int
    cost_usd: float
    work_folder: str
    status: str = "done"  # the run's end: done, stopped (a budget) or failed
    stop_reason: str = ""
    # which submission the final grading read: the refit on every training row, or (when the refit
    # gave no verdict in time) the one the chosen experiment's selection run wrote (its record's words)
    graded: str = ""
    # the competition's grader failed on the hidden test (its one error line): exit 2, not 1
    grader_error: str = ""

    def to_json(self) -> dict[str, Any]:
        data = self.report.to_json()
        data.update({key: value for key, value in asdict(self).items() if key != "report"})
        return data


def run_competition(
    request: RunRequest, home: Path, sink: Any = None, started: float | None = None
) -> RunOutcome:
    """Prepare the task, drive the run to its end, grade the chosen experiment once."""
    import time

    if request.experiments == NO_LIMIT and request.time is None:
        raise ValueError("a competition run without an experiment limit needs a time budget")

    from agent.loop import Overrides, start_run
    from agent.run_index import RunIndex
    from agent.task import load_task

    clock = time.time()
    if request.reuse and (Path(request.out) / "task.toml").is_file():
        folder = work_folder(request.competition, request.out)
    else:
        existed = Path(request.out).exists()
        folder = prepare_task(
            request.competition,
            request.out,
            request.seed,
            request.experiments or DEFAULT_EXPERIMENTS,  # the folder's task.toml, for `strop run` on it
            llm=request.llm,
            folds=request.folds,
            time=request.time,
        )
        try:
            check_grader(request.competition, folder.root, _time_left(request, started or clock))
        except Exception:  # a refused competition (or a broken check) leaves no half-made folder
            _clear(Path(request.out), existed)
            raise
    task = load_task(folder.task_file)
    overrides = Overrides(
        experiments=request.experiments,
        time=request.time,
        parallel=request.parallel,
        executor=request.executor,
    )
    result = start_run(task, home, RunIndex(home), overrides, sink=sink, started=started, base=request.base)
    return _finish(request.competition, folder, result, time.time() - clock, home)


def _time_left(request: RunRequest, started: float) -> float | None:
    """Seconds `--time` leaves from now (None: no time budget): the grader's pre-check may take no more."""
    import time

    if request.time is None:
        return None
    return request.time - (time.time() - started) - CLOSING


def _clear(out: Path, existed: bool) -> None:
    """Undo `prepare_task`: it only writes into a folder that was new or empty."""
    import shutil

    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for entry in out.iterdir():
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def resume_competition(
    run: str,
    competition: Competition,
    out: Path,
    home: Path,
    more_time: float | None = None,
    sink: Any = None,
    started: float | None = None,
    experiments: int | None = None,
    executor: Any = None,
) -> RunOutcome:
    """Continue a killed run of `competition` in its working folder, then grade its chosen experiment.

    `executor` (an `ExecutorSpec`) replaces the run's from now on, as for `strop resume`.
    """
    import time

    from agent.loop import resume_run
    from agent.run_index import RunIndex

    clock = time.time()
    folder = work_folder(competition, out)
    result = resume_run(
        run,
        home,
        RunIndex(home),
        sink=sink,
        more_time=more_time,
        experiments=experiments,
        started=started,
        executor=executor,
    )
    return _finish(competition, folder, result, time.time() - clock, home)


def _finish(
    competition: Competition, folder: WorkFolder, result: Any, seconds: float, home: Path
) -> RunOutcome:
    """The report, in the working folder; the leaderboard's thresholds beside the run, for `strop report`."""
    outcome = _outcome(competition, folder, result, seconds, home)
    (folder.root / REPORT_FILE).write_text(json.dumps(outcome.to_json(), indent=2) + "\n", encoding="utf-8")
    report = outcome.report
    thresholds = {
        "gold": report.gold_threshold,
        "silver": report.silver_threshold,
        "bronze": report.bronze_threshold,
        "median": report.median_threshold,
    }
    run_folder = home / "runs" / result.run_id
    run_folder.mkdir(parents=True, exist_ok=True)
    (run_folder / THRESHOLDS_FILE).write_text(json.dumps(thresholds) + "\n", encoding="utf-8")
    return outcome


def _spent(result: Any, home: Path | None) -> Any:
    """The run's LLM spend: its experiments' and the calls a crash cut (`RunRecord.unrecorded`),
    as `strop log` counts it."""
    from agent.errors import NotFoundError
    from agent.records import run_cost
    from agent.run_index import RunIndex

    if home is None:  # an outcome made without a run folder (the report of a finished loop alone)
        return run_cost(result.records)
    index = RunIndex(home)
    try:
        run = index.find_run(result.run_id)
    except NotFoundError:
        run = None
    finally:
        index.close()
    return run_cost(result.records, run)


def _outcome(
    competition: Competition, folder: WorkFolder, result: Any, seconds: float, home: Path | None = None
) -> RunOutcome:
    best = result.best
    grader_error = ""
    final = best.final_metrics if best is not None else None
    graded = next((line for line in reversed(best.decisions) if line.startswith(GRADED)), "") if best else ""
    score = final.get(folder.metric_key) if final else None
    if best is None:
        message = "no experiment produced a valid submission" + _short_of_time(result)
    elif score is None:
        message = "the chosen experiment's submission was not accepted by the final grading"
        if home is not None:
            failure = _final_failure(competition, folder, best, home / "runs" / result.run_id / "logs")
            message += failure.words
            if failure.grader:
                message = (
                    f"the competition's grader failed on the chosen experiment's submission{failure.words}"
                )
                grader_error = failure.grader
    else:
        message = f"experiment {best.name} chosen on the held-out rows; graded once on the hidden test"
        if SELECTION_OUTPUTS in graded:
            message += " with its selection run's submission (fitted without the held-out rows): the refit did not finish in time"
    report = report_for(competition, score, best is not None, message, _where(best))
    spent = _spent(result, home)
    tokens, cost = spent.tokens, spent.usd
    return RunOutcome(
        report=report,
        run=result.run_id,
        experiments=len(result.records),
        wall_seconds=round(seconds, 1),
        best_branch=best.branch if best is not None else None,
        holdout_score=_rounded(best.metrics.get(folder.metric_key)) if best is not None else None,
        holdout_rows=_holdout_rows(folder),
        tokens=tokens,
        cost_usd=round(cost, 6),
        work_folder=str(folder.root),
        status=result.status,
        stop_reason=result.stop_reason,
        graded=graded,
        grader_error=grader_error,
    )


def _short_of_time(result: Any) -> str:
    """`: …` saying to give more time when the run's time budget is why nothing was scored, else "".

    Said when the run stopped on its time and an experiment was cut by it or declined to start
    for lack of it, or none began; not when experiments failed on their own. The suggestion is
    three times the time given: experiment 0 alone is never known in advance, and three times
    covers a cut first fold and the final grading's refit on small competitions.
    """
    import re

    spent = re.match(r"time budget spent: [0-9.]+s of ([0-9.]+)s", result.stop_reason or "")
    if spent is None:
        return ""
    cut = [
        record
        for record in result.records
        if record.status is Status.STOPPED
        or "are left: not started" in (record.reason or "")  # solution.py's
    ]
    if result.records and not cut:
        return ""
    why = (
        f"experiment {cut[0].id} did not finish in time ({cut[0].reason.strip().splitlines()[0][:200]})"
        if cut
        else "the time ran out before experiment 0 could start"
    )
    return f": {why}; give more --time (try --time {_tidy(3 * float(spent.group(1)))})"


def _tidy(seconds: float) -> str:
    """A duration as a person writes it, rounded up: `40s` under two minutes, else whole minutes."""
    import math

    if seconds <= 120:
        return f"{math.ceil(seconds / 10) * 10}s"
    return f"{math.ceil(seconds / 60)}m"


def _rounded(score: float | None) -> float | None:
    """A selection score as `score` is reported: five decimals, as MLE-bench rounds (a mean over
    folds is not, and read 0.9146366666666667 beside a score of 0.91464)."""
    return None if score is None else round(score, SCORE_DIGITS)


def _final_failure(competition: Competition, folder: WorkFolder, best: Any, logs: Path) -> FinalFailure:
    """Why the final phase gave no score, from its log (see `final_failure`).

    A run whose time ran out during the final phase otherwise reads as a submission the grader
    refused, and a grader that fails on the hidden test as the submission's fault or the time's.
    """
    # a record of an older strop names no final log: its one was `N-final.log`
    final = Path(best.final_log_path) if best.final_log_path else logs / f"{best.id}-final.log"
    validate = Path(best.log_path) if best.log_path else logs / f"{best.id}-validate.log"
    where = str(competition.grade_file) if competition.grade_file else f"metric {competition.metric_name!r}"
    public = folder.root / "public"
    held = next(iter(sorted(public.glob("fold-*/holdout.csv"))), public / "holdout.csv")
    rows = (csv_rows(held), csv_rows(folder.root / "public-final" / "sample_submission.csv"))
    return final_failure(final, validate, where, rows)


def _holdout_rows(folder: WorkFolder) -> int | None:
    """Rows that judged the experiments (their targets are the scorer's), over every fold: what the
    selection's noise depends on."""
    import csv

    public = folder.root / "public"
    paths = sorted(public.glob("fold-*/holdout.csv")) or [public / "holdout.csv"]
    if not all(path.is_file() for path in paths):
        return None
    rows = 0
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            rows += max(0, sum(1 for _ in csv.reader(handle)) - 1)
    return rows


def _where(best: Any) -> str:
    """The chosen submission: `submission.csv` made by the best experiment's branch."""
    return f"{best.branch}:submission.csv" if best is not None else ""
