"""`strop nightly run | install | summary`: scheduled autonomous jobs, one night at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from agent.cli import app
from agent.cli.render import err, out, print_json, printable

if TYPE_CHECKING:
    from agent.nightly.history import NightRecord

nightly_app = typer.Typer(
    name="nightly",
    help=(
        "Scheduled jobs from a jobs file (jobs.toml): task runs and evolve searches, each with a cron "
        "schedule and a budget per night; warm start from last night's best; one night at a time.\n\n"
        "A jobs file (all keys: `python -c 'import agent.nightly.jobs as j; help(j)'`):\n\n"
        "    \\[nightly]\n"
        '    window = "6h"              # how long one night may last (default 6h, at most 7d)\n'
        "    \\[jobs.digits]              # a name of letters, digits, - and _\n"
        '    task = "benchmarks/tasks/digits-gbm"   # relative to the jobs file\n'
        '    schedule = "0 2 * * *"     # cron, UTC: minute hour day month weekday\n'
        "    budget = { experiments = 20 }\n\n"
        "A job is due when its schedule fired since its last night, at most the window (30 minutes at "
        "least) ago: a fire missed by more (the machine was off), or before the job was added, waits "
        "for the next one; `--job NAME` runs a job now regardless.\n\n"
        "Then: `strop nightly run --jobs jobs.toml --job digits` to try a job now; "
        "`strop nightly list --jobs jobs.toml` to see what is due and when; "
        "`strop nightly install --jobs jobs.toml` to run what is due every 15 minutes from cron; "
        "`strop nightly summary` in the morning."
    ),
    no_args_is_help=True,
)
app.add_typer(nightly_app)

JobsOption = Annotated[
    Path, typer.Option("--jobs", envvar="STROP_JOBS", help="The jobs file (format: `strop nightly --help`).")
]


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        from agent.errors import UserError

        raise UserError(f"--now {text!r} is not an ISO date and time (e.g. 2026-12-01T02:00)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@nightly_app.command("run")
def run_command(
    jobs_path: JobsOption = Path("jobs.toml"),
    window: Annotated[
        str | None, typer.Option("--window", help="How long tonight may last, e.g. 6h (default: the file's).")
    ] = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-p", min=1, max=16, help="Jobs at once.")
    ] = None,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Run this job now, due or not (repeatable).")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", hidden=True, help="The clock, for tests (ISO, UTC).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the nights as JSON.")] = False,
) -> None:
    """Run the jobs that are due (their schedule fired since their last night), inside the window.

    A job whose last night was killed or interrupted (Ctrl-C) is resumed, not restarted. A job
    that fails does not stop the others. A job the window leaves no time to start stays due.

    Exit status: 0 when the due jobs ran (a job stopped at the window's end included), nothing was
    due, or another `strop nightly run` holds the lock (it says who; with `--job`, 75: the job you
    asked for did not run, try again when that nightly is over); 1 when a job failed, or no
    due job could start; 2 for a bad jobs file or a window too short for any job; 130 after a
    Ctrl-C (the next run resumes the jobs it stopped); a SIGTERM or SIGHUP stops the night the
    same way, then ends the process by that signal (143, 129).

    While a job runs, its progress goes to stderr (`--json` included): its own lines, named,
    or every 10 s of silence how long it has run of its time and its best so far.

    Example:  strop nightly run --jobs jobs.toml --window 6h
    """
    from agent.deadline import process_started
    from agent.errors import UserError
    from agent.home import strop_home
    from agent.loop.interrupts import stop_signals
    from agent.nightly.interrupt import NightInterrupted, interrupted_line
    from agent.nightly.jobs import check_duration, load_jobs
    from agent.nightly.lock import NightlyBusy, NightlyLock
    from agent.nightly.runner import run_night
    from sandbox.units import UnitError, parse_duration

    jobs = load_jobs(jobs_path)
    unknown = sorted(set(job or []) - set(jobs.spec.jobs))
    if unknown:
        raise UserError(f"--job {unknown[0]!r}: no such job in {jobs.path}")
    try:
        seconds = check_duration(parse_duration(window), "a window") if window else jobs.spec.nightly.window
    except (UnitError, ValueError) as error:
        raise UserError(f"--window: {error}") from None
    home = strop_home()
    try:
        with NightlyLock(home), stop_signals():  # SIGTERM and SIGHUP stop the night as Ctrl-C does
            tonight = run_night(
                jobs,
                home,
                _now(now),
                seconds,
                parallel or jobs.spec.nightly.parallel,
                only=job or None,
                say=_say,
                started=process_started(),  # the window is the wall time, start-up included
            )
    except NightlyBusy as busy:
        out.print(f"nightly: not started: {busy.holder} holds the nightly lock", markup=False)
        if job:  # the user asked for this job now, and it did not run: a script must not read success
            raise typer.Exit(BUSY_EXIT) from None
        return
    except NightInterrupted as stopped:
        err.print(_shown(interrupted_line(stopped.records, stopped.waiting, str(jobs.path))), markup=False)
        _end_interrupted()
    except KeyboardInterrupt:  # before any job started
        err.print(_shown(interrupted_line([], [], str(jobs.path))), markup=False)
        _end_interrupted()
    if json_out:
        print_json([n.to_dict() for n in tonight.records])
    else:
        _print_nights(tonight.records, tonight.waiting)
    failed = any(night.status == "failed" for night in tonight.records)
    if failed or (tonight.waiting and not tonight.records):
        raise typer.Exit(1)


BUSY_EXIT = 75  # EX_TEMPFAIL: `--job` asked for a job now, and another nightly holds the lock


def _say(text: str) -> None:
    """A nightly line on stderr; a job's own lines among them are shown, never obeyed (no control
    characters: an evaluator's words pass through a job's warnings)."""
    from agent.report.text import visible

    err.print(printable(visible(f"nightly: {text}"), one_line=True), markup=False)


def _end_interrupted() -> NoReturn:
    """An interrupted night's exit, as `strop run`'s: 130 after a Ctrl-C; after a SIGTERM or SIGHUP
    the process ends by that signal (143 or 129 in a shell), once its line is said. Before, those
    two killed the nightly at once, silent, its jobs stopped only by their parent-death signal."""
    import signal

    from agent.loop.interrupts import end_by, received

    signum = received()
    if signum is not None and signum != signal.SIGINT:
        end_by(signum)
    raise typer.Exit(130) from None


def _print_nights(nights: list[NightRecord], waiting: list[str]) -> None:
    """One line per job: how its night ended, its run and best; then the jobs left for later."""
    from agent.nightly.progress import ran_of_given
    from agent.report.text import visible

    for night in nights:
        best = "—" if night.best_metric is None else f"{night.metric} = {night.best_metric:.6g}"
        status = "interrupted (the next run resumes it)" if night.status == "running" else night.status
        ran = f" · {took}" if (took := ran_of_given(night)) else ""  # its time against its budget
        line = f"{night.job}: {status}{ran} · run {night.run or '—'} · best {best}"
        line += f" · {night.error}" if night.error else ""  # an evaluator's words: shown, never obeyed
        out.print(printable(visible(line), one_line=True), markup=False)
    for name in waiting:
        out.print(_shown(f"{name}: not started · the window closes too soon; still due"), markup=False)


@nightly_app.command("list")
def list_command(
    jobs_path: JobsOption = Path("jobs.toml"),
    now: Annotated[
        str | None, typer.Option("--now", hidden=True, help="The clock, for tests (ISO, UTC).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the jobs as JSON.")] = False,
) -> None:
    """The jobs of a jobs file: what each runs, its schedule, whether the next `run` starts it,
    when it fires next (UTC) and how its last night ended.

    Example:  strop nightly list --jobs jobs.toml
    """
    from agent.home import strop_home
    from agent.nightly.history import History
    from agent.nightly.jobs import load_jobs
    from agent.nightly.listing import job_lines

    jobs = load_jobs(jobs_path)
    history = History(strop_home())
    if history.recovered:
        _say(str(history.recovered))
    lines = job_lines(jobs, history, _now(now))
    for line in lines:
        if line.warning:  # it quotes the jobs file (a task's path, an evolve job's args): shown, never obeyed
            _say(f"warning: {line.name}: {line.warning}")
    if json_out:
        print_json([line.to_dict() for line in lines])
        return
    if not lines:
        out.print(_shown(f"{jobs.path}: no jobs"), markup=False)
    for line in lines:
        last = "no night yet"
        if line.last_night:
            last = f"last night {line.last_night}: {line.last_status}" + (
                f", best {line.last_best}" if line.last_best else ""
            )
        now_text = f" · {line.due} now" if line.due else ""
        waits = f" · not due: {line.waits}" if line.waits else ""
        out.print(
            _shown(
                f"{line.name} ({line.kind}: {line.what}) · {line.schedule}{now_text}{waits} · next "
                f"{line.next_fire} UTC · {last}"
            ),
            markup=False,
        )


def _shown(line: str) -> str:
    """A line that quotes the jobs file or a night's record (a job's name, task, args, status), as
    `nightly run` shows its lines: on one line, every control or invisible character an escape."""
    from agent.report.text import visible

    return printable(visible(line), one_line=True)


@nightly_app.command("summary")
def summary_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the summary as one HTML file.")
    ] = None,
) -> None:
    """The morning summary: per job, the last night's result and its change since the night before,
    the branch to adopt, what failed and why, and the cost.

    Example:  strop nightly summary --html summary.html
    """
    from agent.home import strop_home
    from agent.nightly.history import History
    from agent.nightly.lock import nightly_running
    from agent.nightly.summary import as_html, as_text, morning
    from agent.report import check_output, write_html

    check_output(html, option="--html")  # never over another file: it wrote HTML over the jobs file
    home = strop_home()
    recovered = History(home).recovered
    if recovered:
        err.print(f"nightly: {recovered}", markup=False)
    items = morning(home)
    if html is not None:
        write_html(html, as_html(items, home, nightly_running(home)), "--html")
        err.print(f"wrote {html}", markup=False)
    if json_out:
        print_json([item.to_dict() for item in items])
    else:
        out.print(as_text(items, nightly_running(home)), markup=False)


@nightly_app.command("install")
def install_command(
    jobs_path: JobsOption = Path("jobs.toml"),
    systemd: Annotated[
        bool, typer.Option("--systemd", help="A systemd user timer instead of a crontab line.")
    ] = False,
    uninstall: Annotated[bool, typer.Option("--uninstall", help="Remove what install wrote.")] = False,
    show: Annotated[
        bool, typer.Option("--print", help="Print what would be installed; change nothing.")
    ] = False,
) -> None:
    """Run `strop nightly run --jobs FILE` every 15 minutes from cron (default) or a systemd user timer.

    The jobs' own schedules decide what runs; the lock keeps nights from overlapping.

    Example:  strop nightly install --jobs jobs.toml --print
    """
    import shutil
    import sys

    from agent.home import strop_home
    from agent.nightly import install
    from agent.nightly.jobs import load_jobs

    home = strop_home()
    found = shutil.which("strop")
    strop = [found] if found else [sys.executable, "-m", "agent.cli"]
    if uninstall and show:  # --print changes nothing, --uninstall included
        where = install.systemd_dir() if systemd else "your crontab"
        what = (
            f"{install.UNIT}.service and {install.UNIT}.timer"
            if systemd
            else f"the line ending {install.MARK}"
        )
        out.print(f"would remove {what} from {where}", markup=False)
        return
    if uninstall:
        done = install.apply_systemd(None, install.systemd_dir()) if systemd else install.apply_crontab(None)
        out.print(done, markup=False)
        return
    jobs = load_jobs(jobs_path)  # refuse to schedule a file that does not load
    if systemd:
        units = install.systemd_units(strop, jobs.path, home)
        if show:
            for name, text in units.items():
                out.print(f"# {name}\n{text}", markup=False)
            return
        out.print(install.apply_systemd(units, install.systemd_dir()), markup=False)
        return
    line = install.cron_line(strop, jobs.path, home)
    if show:
        out.print(line, markup=False)
        return
    install.log_folder(home).mkdir(
        parents=True, exist_ok=True
    )  # the line makes it too (a home cleaned since)
    out.print(install.apply_crontab(line), markup=False)


@nightly_app.command("job", hidden=True)
def job_command(
    name: str,
    jobs_path: JobsOption = Path("jobs.toml"),
    seconds: Annotated[float, typer.Option("--seconds")] = 3600.0,
    base: Annotated[str | None, typer.Option("--base")] = None,
    resume: Annotated[str | None, typer.Option("--resume")] = None,
    folder: Annotated[Path | None, typer.Option("--folder")] = None,
) -> None:
    """One job of kind run or mle, in its own process (started by `strop nightly run`)."""
    import json

    from agent.deadline import process_started
    from agent.home import strop_home
    from agent.nightly.job import run_job, run_mle_job
    from agent.nightly.jobs import load_jobs

    jobs = load_jobs(jobs_path)  # dies with its nightly: armed at its start (`runner._dying_with_nightly`)
    if jobs.spec.jobs[name].kind == "mle":
        if folder is None:
            raise typer.BadParameter("an mle job needs --folder")
        result = run_mle_job(jobs, name, seconds, folder, base, resume, strop_home(), process_started())
    else:
        result = run_job(jobs, name, seconds, base, resume, strop_home(), started=process_started())
    typer.echo(json.dumps(result))
