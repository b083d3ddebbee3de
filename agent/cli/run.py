"""`strop run`, `strop resume`, `strop stop`: the main job, on its own, until the budget is spent.

Progress goes to stderr (rich): experiments done of the budget, the best so far, the
last verdict. The summary table goes to stdout. The loop itself knows no screen: it
emits events, and `_Progress` renders them.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli import app
from agent.cli.experiments import _status_counts
from agent.cli.heartbeat import EVERY, Heartbeat
from agent.cli.render import clip, err, escape, out, print_json, print_table, printable, safe, styled_status
from evaluators.metric import compared

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON for scripts.")]
ExecutorFlag = Annotated[
    str | None, typer.Option("--executor", help="Where evaluations run: local (default) or ray.")
]
AddressFlag = Annotated[
    str | None, typer.Option("--address", help="The Ray head for --executor ray: auto or HOST:PORT.")
]


def _executor(kind: str | None, address: str | None) -> Any:
    """The executor the command line names (`--address` alone means ray), or None."""
    from agent.executors import ExecutorSpec

    if kind is None and address is None:
        return None
    return ExecutorSpec(kind or "ray", address)


_NOT_EVALUATED = re.compile(r"experiment (\d+) not evaluated\b")  # the loop's note for a slot left pending

_PHASES = {
    "preparing": "preparing",
    "model": "waiting for the model",
    "proposing": "proposing",
    "evaluating": "evaluating",
}
"""What an experiment in flight does, in words: a model call that takes minutes and a slow
evaluation must not read alike, nor like the time between experiments."""


@dataclass
class _Doing:
    """One experiment in flight: its search mode, what it does now (a `_PHASES` key), its turn, since when."""

    mode: str
    phase: str
    turn: int
    since: float

    def title(self, exp: int) -> str:
        mode = f" ({self.mode})" if self.mode else ""
        return f"experiment {exp}{mode}: {_PHASES[self.phase]}"

    def describe(self, exp: int, now: float) -> str:
        turn = f"turn {self.turn}, " if self.turn > 1 else ""
        return f"{self.title(exp)} ({turn}{now - self.since:.0f}s)"


class _Progress:
    """Renders loop events on stderr: one line per finished experiment, and a live bar.

    The bar exists only on a terminal and never with --json (stdout is the JSON then); off a
    terminal, or with --json, a heartbeat (`agent.cli.heartbeat`) says what is under way
    whenever nothing was printed for `heartbeat` seconds (a model call, a long evaluation, the
    final phase), so that a log never goes silent for long: each experiment in flight is
    preparing, waiting for the model (its turn), or evaluating, as the loop's events say.
    Only --quiet prints nothing.
    """

    def __init__(
        self, metric: str, quiet: bool = False, json_out: bool = False, heartbeat: float = EVERY
    ) -> None:
        import time

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from agent.deadline import process_started

        self.metric = escape(metric)  # the task's key, written into markup: `loss[/]` is a legal name
        self.quiet = quiet
        self.live = err.is_terminal and not json_out
        self.progress = Progress(
            TextColumn("[bold]{task.fields[run]}[/]"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=True,
        )
        self.bar: Any = None
        self.run_id: str | None = None  # known once the run has started: what `strop resume` needs
        self._clock = time.monotonic
        self._since = self._clock()
        self._wall, self._origin = time.time, process_started()  # the budget counts from the process start
        self._stopped = False
        self._running: dict[int, _Doing] = {}  # experiment → what it does now
        self._modes: dict[int, str] = {}  # experiment → its search mode, for its later turns
        self._finished_any = False
        self._confirming = False  # the run's end measures its contenders again (`[evaluator] confirm`)
        from agent.confirmation import CONFIRMING

        self._confirming_note = CONFIRMING
        self._beat = Heartbeat(self._doing, err.print, heartbeat)
        self._lock = self._beat.lock

    def __enter__(self) -> _Progress:
        if not self.quiet and not self.live:
            self._beat.__enter__()
        return self  # the bar starts with the run: one stopped before it would leave a blank line

    def __exit__(self, *exc: object) -> None:
        self._beat.__exit__(*exc)
        if self.bar is not None:
            self.progress.stop()

    def _print(self, text: str) -> None:
        self._beat.said()
        err.print(text)

    def _doing(self) -> str:
        """What is under way, in words (under the lock), as a dim line."""
        since_start = f"{self._wall() - self._origin:.0f}s since the command started"
        return f"[dim]  … {escape(self._under_way(self._clock()))} · {since_start}[/]"

    def _under_way(self, now: float) -> str:
        if self._running:
            return ", ".join(doing.describe(exp, now) for exp, doing in sorted(self._running.items()))
        if self._stopped:
            return f"closing (report, grading) for {now - self._since:.0f}s"
        if self._confirming:
            return f"confirming (the contenders evaluated again) for {now - self._since:.0f}s"
        if self._finished_any:
            return f"between experiments for {now - self._since:.0f}s (the next one, or the final phase on the best)"
        return f"starting for {now - self._since:.0f}s"

    def created(self, run_id: str) -> None:
        """The run exists (before the loop is set up): an interrupted start names it too, and so
        does a supervising parent should Ray end this process (`agent.cli.supervise`)."""
        from agent.cli.supervise import announce

        self.run_id = run_id
        announce(run_id)

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "RunStarted":
            self.created(event.run)  # even when quiet: an interrupted run names it
        if self.quiet:
            return
        if kind in ("ExperimentStarted", "ProposalAsked", "EvaluationStarted"):
            self._phase(event)
        elif kind == "ExperimentFinished":
            with self._lock:
                self._running.pop(event.exp, None)
                self._finished_any = True
                self._since = self._clock()
        elif kind == "RunStopped":
            with self._lock:
                self._stopped, self._since = True, self._clock()
                self._running.clear()
        elif kind == "Note" and event.text.startswith(self._confirming_note):
            with self._lock:
                self._confirming, self._since = True, self._clock()
        elif kind == "Note" and (skipped := _NOT_EVALUATED.match(event.text)):
            with self._lock:  # left pending for lack of time: it runs no more
                if self._running.pop(int(skipped[1]), None) is not None and not self._running:
                    self._finished_any, self._since = True, self._clock()
        if kind == "RunStarted":
            verb = "resumed" if event.resumed else "started"
            self._print(
                f"run [bold]{event.run}[/] {verb} · task {event.task} · proposer {event.proposer} · "
                f"search {event.strategy} · {event.budget}"
            )
            with self._lock:
                self._since = self._clock()
            if not self.live:
                return
            if self.bar is None:
                self.progress.start()
            self.bar = self.progress.add_task("starting …", total=None, run=event.run)
        elif kind == "Note":
            self._print(f"[dim]· {safe(event.text)}[/]")
        elif kind == "ExperimentStarted" and self.bar is not None:
            self.progress.update(self.bar, description=f"experiment {event.exp}: {event.mode} …")
        elif kind in ("ProposalAsked", "EvaluationStarted") and self.bar is not None:
            with self._lock:
                doing = self._running.get(event.exp)
            if doing is not None:
                self.progress.update(self.bar, description=f"{escape(doing.title(event.exp))} …")
        elif kind == "ExperimentFinished":
            self._finished(event)
        elif kind == "RunStopped":
            self._print(f"stopped: {safe(event.reason)}")

    def _phase(self, event: Any) -> None:
        """An experiment begins, asks its proposer (each turn, and again on a resume) or is evaluated.

        A later turn or a resumed experiment has no `ExperimentStarted` in this process: its
        `ProposalAsked` puts it back among those in flight, so the heartbeat names the model call.
        """
        kind = event.kind
        with self._lock:
            if kind == "ExperimentStarted":
                self._modes[event.exp] = event.mode
                phase = "preparing"
            elif kind == "ProposalAsked":
                phase = "model" if event.proposer == "llm" else "proposing"
            else:
                phase = "evaluating"
            mode = self._modes.get(event.exp, "")
            self._running[event.exp] = _Doing(mode, phase, event.turn, self._clock())

    def _finished(self, event: Any) -> None:
        value = "—" if event.metric is None else f"{event.metric:.6g}"
        best = "—" if event.best_metric is None else f"{event.best_metric:.6g} (exp {event.best_exp})"
        turn = f" turn {event.turn}" if event.turn > 1 else ""
        line = f"  {event.exp}{turn} {styled_status(event.status)} {self.metric} = {value}  [dim]{safe(clip(event.idea, 70), one_line=True)}[/]"
        if event.reason and event.status != "ok":  # it may quote the scorer's metric names
            line += f"  [dim]({safe(clip(event.reason, 90), one_line=True)})[/]"
        self._print(line)
        for decision in event.decisions:
            self._print(f"    [dim]· {safe(decision)}[/]")
        if self.bar is not None:
            self.progress.update(
                self.bar,
                completed=event.done,
                total=event.budget,
                description=f"best {self.metric} {best} · last: {event.status}",
            )


@app.command("run")
def run_command(
    task_path: Annotated[Path, typer.Argument(metavar="TASK", help="task.toml, or a folder holding one")],
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-p", min=1, max=64, help="Lanes evaluated at once.")
    ] = None,
    experiments: Annotated[
        int | None, typer.Option("--experiments", "-n", min=1, help="Experiments for this run (incl. 0).")
    ] = None,
    time_limit: Annotated[
        str | None, typer.Option("--time", "-t", help='Wall-time budget, e.g. "90s", "30m", "2h", "1h30m".')
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    json_out: JsonFlag = False,
    goal: Annotated[
        str | None, typer.Option("--goal", help="TASK is a workspace: the goal, in words.")
    ] = None,
    eval_command: Annotated[
        str | None, typer.Option("--eval", help="With --goal: the measuring command.")
    ] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="With --goal: the metric's key.")] = None,
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            help="With --goal: max or min (default: as the metric's name or the goal reads, else max).",
        ),
    ] = "",
    executor: ExecutorFlag = None,
    address: AddressFlag = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="batch: lanes wait for each other (same experiments on every executor); "
            "async: each lane goes on as soon as its evaluation ends (faster with --parallel, "
            "order depends on timing). Default: the task's [search] schedule, else batch.",
        ),
    ] = None,
    confirm: Annotated[
        int | None,
        typer.Option(
            "--confirm",
            min=0,
            max=100,
            help="At the end, evaluate the leading experiments and experiment 0 N more times each and "
            "choose the best by the mean (a noisy metric). Default: the task's [evaluator] confirm.",
        ),
    ] = None,
) -> None:
    r"""Improve the task's workspace on its own until the budget is spent.

    Experiment 0 is the workspace as it is; each further experiment is a branch
    strop/<run>/<n> proposed from a parent (the LLM proposer when \[llm] is set, else
    the offline `evolve` proposer over \[space]), checked against \[constraints] (Z3),
    evaluated in the sandbox, and recorded in git. The hidden `final` runs once on
    the best. Kill it at any time: `strop resume RUN` continues where it was.

    Example:  strop run benchmarks/tasks/digits-gbm --experiments 12
    """
    from agent.cli.supervise import run_ray_address, supervised

    supervised(["run"], lambda: run_ray_address(executor, address, None if goal else task_path))
    from agent.deadline import process_started
    from agent.home import strop_home
    from agent.loop import Overrides, start_run
    from agent.metric_words import chosen
    from agent.run_index import RunIndex
    from agent.task import load_task
    from agent.taskgen import command_line_task
    from sandbox.units import UnitError, parse_duration

    # TASK is a workspace when --goal/--eval/--metric describe the task (strop init's file, unwritten)
    direction, direction_note = chosen(direction, metric or "", goal or "")
    task = command_line_task(task_path, goal, eval_command, metric, direction, strop_home())
    if task is not None and not quiet:  # said only of a task made from the flags
        err.print(_written_note(task.path), markup=False)
        if direction_note:
            err.print(f"note: {direction_note}", markup=False)
    task = task or load_task(task_path)
    _preflight(task, quiet, address_given=address is not None)
    index = RunIndex(strop_home())
    for note in _repeat_notes(task, index) if not quiet else []:
        err.print(f"note: {printable(note, one_line=True)}", markup=False)
    try:
        seconds = parse_duration(time_limit) if time_limit else None
    except UnitError as error:
        from agent.errors import UserError

        raise UserError(f"--time: {error}") from None
    chosen = _executor(executor, address)
    if schedule not in (None, "batch", "async"):
        from agent.errors import UserError

        raise UserError(f"--schedule: {schedule!r} is not batch or async")
    overrides = Overrides(
        schedule=schedule,
        parallel=parallel,
        experiments=experiments,
        time=seconds,
        executor=chosen.to_dict() if chosen else None,
        confirm=confirm,
    )
    progress = _Progress(task.evaluator.metric, quiet, json_out)
    with _interruptible(progress), progress:
        result = start_run(
            task,
            strop_home(),
            index,
            overrides,
            sink=progress,
            started=process_started(),
            created=progress.created,
        )
    _report(result, index, json_out)
    _fail_when_nothing_scored(result)


def _written_note(path: Path) -> str:
    """Where `--goal/--eval` wrote its task file, and that it is the user's to change: a small local
    model wants a lower `[llm] max_tokens` or a longer `request_timeout`, and no flag sets those."""
    import shlex

    return (
        f"note: the task is written to {path}: edit it (e.g. [llm] max_tokens, context, request_timeout; "
        f"[budget]) and run it again with  strop run {shlex.quote(str(path))}"
    )


@contextmanager
def _interruptible(progress: _Progress) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP end the command with one line naming the run and the command
    that continues it; a SIGTERM or SIGHUP then ends the process by that signal (status -15
    for SIGTERM, as without strop's handler: the nightly runner reads it), Ctrl-C with 130.

    Typer turns a KeyboardInterrupt into a silent exit 130, so without this a user who
    pressed Ctrl-C saw nothing and had to find the run id in `strop runs`; a SIGTERM killed
    the command with no word at all, its sandboxed commands left running
    (`agent.loop.interrupts`).
    """
    from agent.loop.interrupts import end_by, received, stop_signals

    try:
        with stop_signals():
            yield
    except KeyboardInterrupt:
        run = progress.run_id
        where = (
            f"run {run} stops here; `strop resume {run}` continues it (nothing recorded is lost)"
            if run
            else "no run was started"
        )
        err.print(f"interrupted: {where}", markup=False)
        signum = received()
        if signum is not None and signum != signal.SIGINT:
            end_by(signum)
        raise typer.Exit(130) from None


def _preflight(task: Any, quiet: bool, address_given: bool = False) -> None:
    """What the task's files get wrong, before a run exists: an error for what would fail
    experiment 0 (a missing params file), a note on stderr for what is legal but odd."""
    from agent.llm.reach import reach_notes
    from agent.loop.graph import preflight

    notes = [*preflight(task), *_direction_notes(task)]
    for note in notes if not quiet else []:
        err.print(f"note: {printable(note, one_line=True)}", markup=False)
    for note in reach_notes(
        task, address_given
    ):  # said even with -q: where the key and data go is yours to know
        err.print(printable(note, one_line=True), markup=False)


def _repeat_notes(task: Any, index: Any) -> list[str]:
    """An earlier run of this task with the offline proposer, the same seed and the same search:
    this run proposes the same points again.

    The offline proposer draws from `[search] seed` (0 unless set), so every run of a task
    proposed the same sequence: on a deterministic metric a second run only measured the first
    one's experiments again. The default stays deterministic (a run can be repeated); the note
    names the run to continue instead, or the seed to change.
    """
    mine = _search_of(task.source)
    if mine is None or not mine[0]:
        return []
    path = task.path.resolve()
    for run in reversed(index.runs()):
        try:
            same_task = Path(run.task_path).resolve() == path
        except (OSError, RuntimeError):
            continue
        if same_task and _search_of(run.task_source) == mine:
            seed = task.spec.search.seed
            return [
                f"run {run.id} used [search] seed {seed} on this task with the offline proposer: this run "
                f"proposes the same points again; `strop resume {run.id} --experiments N` (a new total) "
                f"continues it instead, or set another [search] seed in {task.path.name}"
            ]
    return []


def _search_of(source: str) -> tuple[bool, str] | None:
    """Whether a task file's proposer is the offline one, and what its proposals depend on
    ([proposer], [search], [space], [constraints]); None when it is no TOML."""
    import json
    import tomllib

    try:
        data = tomllib.loads(source)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    kind = data.get("proposer", {}).get("kind", "auto") if isinstance(data.get("proposer"), dict) else "auto"
    offline = kind == "evolve" or (kind == "auto" and "llm" not in data)
    tables = {key: data.get(key) for key in ("proposer", "search", "space", "constraints")}
    search = tables["search"] if isinstance(tables["search"], dict) else {}
    tables["search"] = {"seed": 0, **search}  # no [search] seed is seed 0
    return offline, json.dumps(tables, sort_keys=True, default=str)


def _direction_notes(task: Any) -> list[str]:
    """A metric whose name reads the other way than the task's `direction` (`val_loss`, maximised).

    A note, not an error: the name is a guess (`neg_loss` is rightly maximised, and a name
    may mean anything), but a run that searched the wrong way is a whole run lost.
    """
    from agent.metric_words import from_metric

    found = from_metric(task.evaluator.metric)
    declared = str(task.evaluator.direction.value)
    if found is None or found.direction == declared:
        return []
    better = "lower" if found.direction == "minimize" else "higher"
    return [
        f'{found.reason}, but the task says direction = "{declared}": if {better} is better, '
        f'set direction = "{found.direction}" in [evaluator]'
    ]


@app.command("resume")
def resume_command(
    run_ref: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="run id or prefix; default: latest")
    ] = None,
    time_limit: Annotated[
        str | None, typer.Option("--time", "-t", help='More wall time from now, e.g. "90s", "30m".')
    ] = None,
    experiments: Annotated[
        int | None, typer.Option("--experiments", "-n", min=1, help="A new experiment total for the run.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    json_out: JsonFlag = False,
    executor: ExecutorFlag = None,
    address: AddressFlag = None,
) -> None:
    """Continue a run that was killed or interrupted, from its last checkpoint.

    Nothing is lost or done twice: an experiment committed but not evaluated is
    evaluated once; one already evaluated is not run again. With --time or
    --experiments, a run that ended on its budget continues with the new one
    (one that spent its experiments needs --experiments: more time alone runs nothing).
    A run of `strop mle run` ends graded, with its report, as that command would.

    Example:  strop resume a1d --experiments 40 --time 20m
    """
    from agent.cli.supervise import resume_ray_address, supervised

    supervised(["resume"], lambda: resume_ray_address(executor, address, run_ref))
    from agent.deadline import process_started
    from agent.domains.mle.workfolder import competition_of
    from agent.home import strop_home
    from agent.loop import resume_run
    from agent.run_index import RunIndex
    from sandbox.units import UnitError, parse_duration

    try:
        seconds = parse_duration(time_limit) if time_limit else None
    except UnitError as error:
        from agent.errors import UserError

        raise UserError(f"--time: {error}") from None
    chosen = _executor(executor, address)
    index = RunIndex(strop_home())
    record = index.find_run(run_ref)
    competition = competition_of(Path(record.task_path)) if record.task_path else None
    if competition is not None:
        from agent.cli.mle import resume_graded

        task_folder = Path(record.task_path).parent
        resume_graded(record.id, competition, task_folder, seconds, experiments, chosen, quiet, json_out)
        return
    progress = _Progress(record.metric, quiet, json_out)
    progress.created(record.id)
    with _interruptible(progress), progress:
        result = resume_run(
            record.id,
            strop_home(),
            index,
            sink=progress,
            more_time=seconds,
            experiments=experiments,
            started=process_started(),
            executor=chosen,
        )
    _report(result, index, json_out)
    _fail_when_nothing_scored(result)


@app.command("stop")
def stop_command(
    run_ref: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="run id or prefix; default: latest")
    ] = None,
) -> None:
    """Ask a running run to stop gracefully: experiments in flight finish, then `final` runs on the best.

    Example:  strop stop   (the latest run; or strop stop a1d)
    """
    from agent.home import strop_home
    from agent.loop import request_stop
    from agent.run_index import RunIndex

    run_id = request_stop(run_ref, RunIndex(strop_home()))
    out.print(f"asked run {run_id} to stop after the experiments in flight (see `strop log {run_id}`)")


def _fail_when_nothing_scored(result: Any) -> None:
    """Exit 1 when no experiment scored, experiment 0 included: a script or a CI job calling
    `strop run` must not read a broken evaluator as success. The run itself is kept and resumable."""
    if result.best is not None:
        return
    if result.records:
        why = f"see `strop show {result.run_id}/0` for experiment 0's log"
    else:  # the hint named an experiment 0 that `strop show` then said did not exist
        why = f"none ran: {result.stop_reason or 'the run ended first'}; give it more time"
    err.print(f"strop: no experiment scored ({why})", markup=False)
    raise typer.Exit(1)


def _total(records: Any, run: Any = None) -> Any:
    """The run's LLM totals, with the calls a crash cut while in flight (`RunRecord.unrecorded`)."""
    from agent.records import run_cost

    return run_cost(records, run)


def _judged(record: Any, metric: str) -> dict[str, Any] | None:
    """A record as JSON with the value the best was judged by (a confirmed one's re-measured mean:
    `metrics` keeps its first measurement, which `jq .best.metrics` read as the result)."""
    if record is None:
        return None
    from agent.records import judged_value

    return {**record.to_dict(), "judged_value": judged_value(record, metric)}


def _report(result: Any, index: Any, json_out: bool) -> None:
    run = index.find_run(result.run_id)
    metric = run.metric
    shown = escape(metric)  # table cells and titles are markup; the key is the user's text
    baseline = next((r for r in result.records if r.id == 0), None)
    best = result.best
    if json_out:
        print_json(
            {
                "run": result.run_id,
                "status": result.status,
                "stop_reason": result.stop_reason,
                "best": _judged(best, run.metric),
                "baseline": _judged(baseline, run.metric),
                "experiments": len(result.records),
                "budget_report": run.budget_report,
                "cost": _total(result.records, run).__dict__,
            }
        )
        return
    from rich.table import Table

    table = Table(
        title=f"run {result.run_id} · {run.task} · {run.direction.value} {shown}", show_header=False
    )
    table.add_column(style="bold")
    table.add_column()
    table.add_row("status", safe(f"{result.status} — {result.stop_reason}"))
    table.add_row("experiments", _status_counts(result.records))
    base_value = baseline.metrics.get(metric) if baseline and baseline.status == "ok" else None
    table.add_row("experiment 0", "—" if base_value is None else f"{shown} = {base_value:.6g}")
    if best is None:
        table.add_row("best", "nothing scored")
    else:
        from agent.confirmation import summarise

        value, of = best.metrics[metric], ""
        mean = summarise(best, metric)
        base = summarise(baseline, metric) if baseline is not None else None
        if mean.confirmed and base is not None and base.confirmed:  # judged by the means: say those
            value, base_value, of = mean.mean, base.mean, f" (mean of {mean.n} re-measurements)"
        gain = ""
        if base_value is not None:
            gain = f"  ({compared(run.direction.improvement(value, base_value), 'experiment 0')})"
        table.add_row("best", f"experiment {best.id}: {shown} = {value:.6g}{of}{gain}")
        from agent.confirmation import summary_lines

        confirmed = summary_lines(result.records, best, metric, run.direction)
        if confirmed:
            table.add_row("confirmation", safe("\n".join(confirmed)))
        if best.final_metrics:
            table.add_row("final (hidden)", f"{shown} = {best.final_metrics.get(metric, float('nan')):.6g}")
        table.add_row("idea", safe(clip(best.idea, 100), one_line=True))
        table.add_row("branch", best.branch)
        table.add_row("adopt", f"strop adopt {best.name}")
    total = _total(result.records, run)
    if total.calls:
        table.add_row("LLM", total.describe())
    if run.budget_report:
        table.add_row("budget", safe(run.budget_report))
    table.add_row("details", f"strop log {result.run_id}")
    print_table(table)
