"""`strop mle grade`: MLE-bench style competitions, graded against their leaderboard.

Parses, prints and calls `agent.domains.mle`; pandas and scikit-learn are imported inside
the command so `strop --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli import app
from agent.cli.render import err, escape, out, plural, print_json, printable, safe
from agent.cli.run import AddressFlag, ExecutorFlag

mle_app = typer.Typer(
    help=(
        "MLE-bench style competitions: a folder in openai/mle-bench's prepared layout "
        "(config.yaml, description.md, prepared/public/, prepared/private/, grade.py or a named "
        "metric, leaderboard.csv).\n\n"
        "Example:  strop mle grade submission.csv path/to/competition --json"
    ),
    no_args_is_help=True,
)
app.add_typer(mle_app, name="mle")


@mle_app.command("grade")
def grade_command(
    submission: Annotated[Path, typer.Argument(metavar="SUBMISSION", help="the submission CSV")],
    competition_dir: Annotated[
        Path, typer.Argument(metavar="COMPETITION_DIR", help="a folder in MLE-bench's prepared layout")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="The most time grade.py may take (its import and its grade call), e.g. 30s, 10m, 1h; "
            "past it: one error line, exit status 2.",
        ),
    ] = "10m",
) -> None:
    """Check a submission's format, grade it against the private answers, and place it on the leaderboard.

    The report uses MLE-bench's field names (competition_id, score, gold/silver/bronze/median
    thresholds, any_medal, gold_medal, silver_medal, bronze_medal, above_median,
    submission_exists, valid_submission, is_lower_better) plus strop's own (metric,
    leaderboard_teams, message). A submission with the wrong format is reported with
    valid_submission false and the reason; a broken competition folder, or a grader that
    raises or runs past --timeout (10m unless given), is one error line, exit status 2.

    The layout:

        config.yaml         id, name, grader: {name: accuracy | rmse | auc | …}
        description.md
        prepared/public/    train, test, sample_submission.csv
        prepared/private/   the answers (one CSV, or config's dataset.answers)
        grade.py            optional: grade(submission_df, answers_df) -> float
        leaderboard.csv     a `score` column, one row per team

    Example:  strop mle grade submission.csv path/to/competition --json
    """
    from agent.domains.mle.competition import load_competition
    from agent.domains.mle.grading import grade_submission
    from agent.errors import UserError
    from sandbox.units import UnitError, parse_duration

    try:
        seconds = parse_duration(timeout)
    except UnitError as error:
        raise UserError(f"--timeout: {error}") from None
    report = grade_submission(submission, load_competition(competition_dir), timeout=seconds)
    if json_out:
        print_json(report.to_json())
    else:
        _print_report(report.to_json())


def _print_report(report: dict[str, Any]) -> None:
    """A few lines a person reads: the score, the medal, the thresholds, and why when invalid."""
    direction = "lower" if report["is_lower_better"] else "higher"
    # the competition's id and grader name come from its config.yaml, the message from its grader:
    # shown as written, one line each, never obeyed (markup, terminal escapes)
    name, metric = safe(report["competition_id"], one_line=True), safe(report["metric"], one_line=True)
    out.print(f"[bold]{name}[/] · {metric} ({direction} is better)")
    if not report["valid_submission"]:
        out.print(f"[red]invalid submission[/]: {safe(report['message'], one_line=True)}")
    else:
        medal = next((m for m in ("gold", "silver", "bronze") if report[f"{m}_medal"]), None)
        verdict = f"[bold]{medal} medal[/]" if medal else "no medal"
        median = "above" if report["above_median"] else "not above"
        out.print(f"score {report['score']:.6g} · {verdict} · {median} the median")
    out.print(
        f"thresholds over {report['leaderboard_teams']} teams: gold {report['gold_threshold']:.6g} · "
        f"silver {report['silver_threshold']:.6g} · bronze {report['bronze_threshold']:.6g} · "
        f"median {report['median_threshold']:.6g}"
    )


@mle_app.command("run")
def run_command(
    competition_dir: Annotated[
        Path, typer.Argument(metavar="COMPETITION_DIR", help="a folder in MLE-bench's prepared layout")
    ],
    time_limit: Annotated[
        str | None, typer.Option("--time", "-t", help='Wall time for the run, e.g. "10m".')
    ] = None,
    experiments: Annotated[
        int | None,
        typer.Option(
            "--experiments",
            "-n",
            help="Experiments for the run (incl. 0). Default: 12; with --time, as many as the time allows.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the holdout split and of the search.")] = 0,
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds",
            help="Selection folds: each experiment is run and scored once per fold. Default: 5 below "
            "1000 training rows (fewer when --time is short, so that experiment 0 runs twice beside "
            "the final refit), else one 20% holdout (always one for a forecast or with --llm).",
        ),
    ] = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-p", help="Experiments evaluated at once (cores).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Working folder for the task (new or empty).")
    ] = None,
    executor: ExecutorFlag = None,
    address: AddressFlag = None,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm",
            help="Propose with the LLM at STROP_LLM_URL / STROP_LLM_MODEL (key from OPENAI_API_KEY, "
            "limits from STROP_LLM_MAX_TOKENS / STROP_LLM_CONTEXT / STROP_LLM_TIMEOUT, "
            "if set) instead of the offline recipe search.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Turn a competition into a two-stage strop task and improve a solution for it, offline.

    The working folder gets a workspace (solution.py: a scikit-learn model named in
    params.json, fitted on the public train split, writing submission.csv), a trusted
    scorer, and the public data with a seeded holdout cut from train (or, below 1000
    training rows, 5 folds: each experiment is fitted and graded once per fold). Selection
    grades held-out training rows only; the competition's private answers are read once, by the
    final grading of the chosen experiment's submission. The offline `evolve` proposer
    searches model families (gradient boosting, random forest, linear, kNN) and their
    hyper-parameters. The report has MLE-bench's fields plus the run's (run, experiments,
    wall_seconds, best_branch, holdout_score, holdout_rows, tokens, cost_usd, work_folder).
    With `--executor ray` the evaluations run on a Ray cluster (see `strop run --help`).
    With `--llm` an LLM drafts, debugs and improves solution.py (AIDE's three moves), shown
    the competition's description and a preview of the public rows, through the same two
    stages; when it writes no usable code it proposes recipe values instead. Exit status 1
    when the run produced no valid submission (the report is still printed and written).

    Example:  strop mle run path/to/competition --time 10m --seed 1 --json
    """
    from agent.cli.supervise import run_ray_address, supervised

    supervised(["mle", "run"], lambda: run_ray_address(executor, address, None))
    from agent.cli.run import _executor, _interruptible, _Progress
    from agent.deadline import process_started
    from agent.domains.mle.competition import load_competition
    from agent.domains.mle.runner import (
        DEFAULT_EXPERIMENTS,
        MIN_TIME,
        NO_LIMIT,
        RunRequest,
        run_competition,
    )
    from agent.domains.mle.workfolder import check_out, metric_key
    from agent.errors import UserError
    from agent.home import fresh_folder, strop_home
    from sandbox.units import UnitError, parse_duration

    try:
        seconds = parse_duration(time_limit) if time_limit else None
    except UnitError as error:
        raise UserError(f"--time: {error}") from None
    if seconds is not None and seconds < MIN_TIME:
        raise UserError(
            f"--time {time_limit} is too short to run experiment 0 (starting the run and the time kept "
            f"for the final grading take about 5 s before the baseline's fit); give at least {MIN_TIME:g}s"
        )
    _check_counts(experiments=experiments, parallel=parallel, folds=folds)
    endpoint = _endpoint() if llm else None
    competition = load_competition(competition_dir)
    # absolute from here on: the grader's pre-check and the scorer run in other folders (a relative
    # --out there named nothing, and the pre-check passed a grader that raises)
    folder = (out_dir or fresh_folder(strop_home() / "mle", f"{competition.id}-s{seed}")).resolve()
    check_out(folder)  # before the progress display starts, so that the error is one line
    chosen = _executor(executor, address)
    request = RunRequest(
        competition,
        folder,
        seed=seed,
        experiments=(NO_LIMIT if seconds else DEFAULT_EXPERIMENTS) if experiments is None else experiments,
        time=seconds,
        parallel=parallel,
        executor=chosen.to_dict() if chosen else None,
        llm=endpoint,
        folds=folds,
    )
    progress = _Progress(metric_key(competition), quiet, json_out)
    with _interruptible(progress), progress:
        outcome = run_competition(request, strop_home(), sink=progress, started=process_started())
    _show(outcome, json_out)


MOST_FOLDS = 20


def _check_counts(experiments: int | None, parallel: int | None, folds: int | None) -> None:
    """`-n`, `--parallel` and `--folds` in range, or one `UserError` line (Typer's own check is a box)."""
    from agent.errors import UserError

    for flag, value, least in (
        ("--experiments", experiments, 1),
        ("--parallel", parallel, 1),
        ("--folds", folds, 1),
    ):
        if value is not None and value < least:
            raise UserError(f"{flag} {value}: must be at least {least}")
    if folds is not None and folds > MOST_FOLDS:
        raise UserError(f"--folds {folds}: at most {MOST_FOLDS}")


def _show(outcome: Any, json_out: bool) -> None:
    """The report, then exit 1 when it holds no valid submission (as `strop run` does when nothing
    scored): a script must not read a run that produced nothing as success."""
    if json_out:
        print_json(outcome.to_json())
    else:
        _print_report(outcome.report.to_json())
        out.print(
            f"run {outcome.run} · {plural(outcome.experiments, 'experiment')} · {outcome.wall_seconds:.0f}s · "
            f"best {safe(outcome.best_branch or '—', one_line=True)} ({_holdout(outcome)}) · folder "
            f"{safe(outcome.work_folder, one_line=True)}"
        )
    if outcome.grader_error:  # the competition's fault, as a grader that fails in `strop mle grade`
        err.print(
            printable(f"strop: {outcome.grader_error} (the report: {outcome.work_folder}/report.json)", True),
            markup=False,
        )
        raise typer.Exit(2)
    if not outcome.report.valid_submission:
        log = f" (see `strop show {outcome.run}/0` for experiment 0's log)" if outcome.experiments else ""
        err.print(f"strop: no valid submission{log}", markup=False)
        raise typer.Exit(1)


def _holdout(outcome: Any) -> str:
    """`holdout 0.98016 on 252 rows`, or `no holdout score` when no experiment was scored."""
    if outcome.holdout_score is None:
        return "no holdout score"
    rows = f" on {outcome.holdout_rows} rows" if outcome.holdout_rows else ""
    return f"holdout {outcome.holdout_score}{rows}"


def resume_graded(
    run_id: str,
    root: Path,
    folder: Path,
    more_time: float | None,
    experiments: int | None,
    executor: Any,
    quiet: bool,
    json_out: bool,
) -> None:
    """`strop resume` of a competition run: continue it, then grade it once as `strop mle run` does.

    Without this a run stopped by a dead LLM endpoint (or killed) would end with no report.
    """
    from agent.cli.run import _interruptible, _Progress
    from agent.deadline import process_started
    from agent.domains.mle.competition import load_competition
    from agent.domains.mle.runner import resume_competition
    from agent.domains.mle.workfolder import metric_key
    from agent.home import strop_home

    competition = load_competition(root)
    progress = _Progress(metric_key(competition), quiet, json_out)
    with _interruptible(progress), progress:
        outcome = resume_competition(
            run_id,
            competition,
            folder,
            strop_home(),
            more_time=more_time,
            sink=progress,
            started=process_started(),
            experiments=experiments,
            executor=executor,
        )
    _show(outcome, json_out)


def _endpoint() -> Any:
    """`--llm`'s endpoint, from STROP_LLM_URL and STROP_LLM_MODEL, with STROP_LLM_MAX_TOKENS,
    STROP_LLM_CONTEXT and STROP_LLM_TIMEOUT when set (as `strop init` and `run --goal` read them:
    a small local model answered 4,096 tokens a call without them)."""
    from agent.domains.mle.workfolder import Endpoint
    from agent.errors import UserError
    from agent.taskgen import llm_from_environment, llm_limits_from_environment

    found = llm_from_environment()
    if found is None:
        raise UserError("--llm: set STROP_LLM_URL (an OpenAI-compatible endpoint) and STROP_LLM_MODEL")
    return Endpoint(*found, limits=tuple(llm_limits_from_environment().lines()))


@mle_app.command("report")
def report_command(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="report.json files, or folders holding them")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Sum up many runs' reports: MLE-bench's totals and a medal table per competition.

    Reads the report.json that `strop mle run` leaves in each working folder (folders are
    searched recursively, e.g. the whole of $STROP_HOME/mle). Totals use MLE-bench's
    aggregate names (total_runs, total_valid_submissions, total_medals, total_gold_medals, …)
    plus any_medal_rate.
    """
    from agent.domains.mle.summary import load_reports, summarise

    summary = summarise(load_reports(paths))
    if json_out:
        print_json(summary.to_json())
        return
    names = {
        line.competition_id: printable(line.competition_id, one_line=True) for line in summary.competitions
    }
    width = max([22, *(len(name) for name in names.values())])
    out.print(f"{'competition':{width}}  runs  gold silver bronze  any  >median  valid  best score")
    for line in summary.competitions:
        best = "—" if line.best_score is None else f"{line.best_score:.6g}"
        name = f"{names[line.competition_id]:{width}}"  # padded before escaping: markup must not change the width
        out.print(
            f"{escape(name)} {line.runs:5} {line.gold:5} {line.silver:6} "
            f"{line.bronze:6} {line.any_medal:4} {line.above_median:8} {line.valid:6}  {best}"
        )
    out.print(
        f"{plural(summary.total_runs, 'run')} · {plural(summary.total_medals, 'medal')} (any-medal rate "
        f"{summary.any_medal_rate:.0%}) · {plural(summary.total_valid_submissions, 'valid submission')}"
    )
