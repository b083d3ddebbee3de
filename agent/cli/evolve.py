"""`strop evolve`: evolutionary searches run by the generic engine, one command per domain.

This module only parses, prints and calls. Other domains add their commands to
`evolve_app` from their own modules (`from agent.cli.evolve import evolve_app`), so it
must stay cheap to import: numpy, scipy, cma and z3 are imported inside commands.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

import typer

from agent.cli import app
from agent.cli.heartbeat import EVERY, Heartbeat
from agent.cli.render import plural
from agent.errors import UserError

# the names of agent.domains.numerics.targets.TARGETS (which imports numpy), for --help
FUNCTIONS = (
    "exp, exp2, expm1, log, log2, log10, log1p, erf, sin, cos, tan, sinh, cosh, tanh, atan, asin, cbrt"
)

evolve_app = typer.Typer(
    name="evolve",
    help=(
        "Evolutionary search with strop's engine (islands, NSGA-II, MAP-Elites archive, "
        "killable parallel evaluation, checkpoints).\n\n"
        "Example:  strop evolve numerics --fn exp2 --interval 0,1 --dtype float32 --time 2m"
    ),
    no_args_is_help=True,
)
app.add_typer(evolve_app, name="evolve")

MIN_SEARCH_SECONDS = 5.0
DEFAULT_TIME = "3m"  # the --time of a command given neither --time nor --generations
REPORT_WIDTH = 140  # the report's width when stdout is not a terminal: the front table's widest rows fit


def _interval(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2:
        raise UserError(f"--interval takes two numbers 'lo,hi', not {text!r}")
    try:
        lo, hi = (float(part) for part in parts)
    except ValueError:
        raise UserError(f"--interval takes two numbers 'lo,hi', not {text!r}") from None
    if math.isnan(lo) or math.isnan(hi):
        raise UserError(f"--interval {text}: an end is not a number; give two numbers 'lo,hi'")
    if math.isinf(lo) or math.isinf(hi):
        raise UserError(f"--interval {text}: the ends must be finite (past ±1.8e308 a number is inf)")
    if not lo < hi:
        raise UserError(f"the interval [{lo}, {hi}] is empty or reversed: give lo < hi")
    return lo, hi


def _seconds(text: str) -> float:
    from sandbox.units import UnitError, parse_duration

    try:
        seconds = parse_duration(text)
    except UnitError as error:
        raise UserError(f"--time: {error}") from None
    if seconds < MIN_SEARCH_SECONDS:
        raise UserError(
            f"--time {text} is too short to finish one generation (seeding and fitting the first "
            f"population takes a few seconds); give at least {MIN_SEARCH_SECONDS:g}s"
        )
    return seconds


def _time_limit(time_budget: str | None, generations: int | None) -> float | None:
    """The whole command's seconds: --time when given (with --generations too: both hold), none with
    only --generations (the search's own bound), else the default."""
    if time_budget is not None:
        return _seconds(time_budget)
    return None if generations is not None else _seconds(DEFAULT_TIME)


@evolve_app.command("numerics")
def numerics(
    fn: str = typer.Option(..., "--fn", help=f"Function to approximate: {FUNCTIONS}."),
    interval: str = typer.Option(..., "--interval", help="Input interval 'lo,hi' (rounded to the dtype)."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="Target format: float32 (errors in its ULPs) or float64."
    ),
    arithmetic: str | None = typer.Option(
        None,
        "--arithmetic",
        help="What the programs compute in (default: the --dtype itself). float64 with --dtype float32: "
        "float in and out, double inside, one rounding at the end, as glibc's float functions do; "
        "reaches < 1 ULP where float arithmetic cannot, at the speed of double arithmetic.",
    ),
    time_budget: str | None = typer.Option(
        None,
        "--time",
        help=f"Time for the whole command (baselines, search, verification), e.g. 90s, 10m. Default "
        f"{DEFAULT_TIME}; with --generations and no --time, no time limit.",
        show_default=False,
    ),
    seed: int = typer.Option(
        0, "--seed", help="Random seed: the same seed and generations give the same run."
    ),
    generations: int | None = typer.Option(
        None,
        "--generations",
        help="Stop the search after this many generations; with --time too, whichever comes first "
        "(--time still bounds the whole command).",
    ),
    max_cost: int = typer.Option(
        10, "--max-cost", help="Largest program cost searched (under --cost-model; constant parts are free)."
    ),
    population: int = typer.Option(24, "--population", help="Programs per island."),
    islands: int = typer.Option(2, "--islands", help="Islands (ring migration)."),
    workers: int = typer.Option(
        min(2, os.cpu_count() or 1), "--workers", help="Evaluation processes (0 = inline)."
    ),
    executor: str = typer.Option(
        "local", "--executor", help="Where candidates are evaluated: local or ray (--workers at once)."
    ),
    address: str | None = typer.Option(None, "--address", help="The Ray head for --executor ray."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the C and NumPy code of the front (default under $STROP_HOME)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (front, baselines, engine, z3) on stdout."
    ),
    cost_model: str = typer.Option(
        "measured",
        "--cost-model",
        help="measured: op weights measured on this machine (a div costs several fmas); ops: every op 1.",
    ),
    seeds: str = typer.Option(
        "all", "--seeds", help="all: start from the baselines' shapes; none: from random programs only."
    ),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="Save the search's population here as it goes, and continue from it when it exists "
        "(a warm start: give the same function, interval, dtype and shape as the run that wrote it).",
    ),
) -> None:
    """Discover cheap, accurate approximations of FN on an interval (AutoNumerics-Zero style).

    Programs are DAGs of add, sub, mul, div, fma, sqrt and constants; cost counts the ops that
    depend on x. Constants are fitted exactly by linear programming where the form allows it
    and by CMA-ES elsewhere; errors are measured in the target format's own arithmetic (or in
    double inside with --arithmetic float64) against extended-precision truth, then verified: every float32 of the interval (in C), or
    a stated sample for float64. Prints the Pareto front (cost, max ULP, max relative error)
    with each point's origin (seed, baseline-equivalent, evolved, novel) beside the strongest
    baseline at the same or lower cost (Taylor, Padé, minimax polynomials and rationals,
    factored where f has a zero); only novel points are discoveries. For float32, times the
    programs under 1 ULP against glibc, NumPy and the best baseline polynomial. Writes each
    front program as C (with a harness: `cc -O2 -ffp-contract=off prog.c -lm`) and as NumPy.
    Phases and progress go to stderr. A --time whose first generation does not fit after the
    baselines reports them with an empty front and a note, and exits 0 as a run that found
    nothing new does.

    Example:  strop evolve numerics --fn log2 --interval 1,2 --dtype float32 --time 5m --json
    """
    from agent.cli.interrupted import SearchLeftovers, interruptible
    from agent.deadline import Deadline, process_started
    from agent.domains.numerics.discovery import discover
    from agent.domains.numerics.report import FrontWritten
    from agent.domains.numerics.request import Request
    from agent.executors import ExecutorSpec
    from agent.home import strop_home
    from agent.loop.interrupts import held_interrupts

    lo, hi = _interval(interval)
    if seeds not in ("all", "none"):
        raise UserError(f"--seeds takes 'all' or 'none', not {seeds!r}")
    seconds = _time_limit(time_budget, generations)
    if out is None:
        import time

        inside = f"-in-{arithmetic}" if arithmetic and arithmetic != dtype else ""
        out = strop_home() / "evolve" / "numerics" / f"{fn}-{dtype}{inside}-{time.strftime('%Y%m%d-%H%M%S')}"
    request = Request(
        fn=fn,
        lo=lo,
        hi=hi,
        dtype=dtype,
        time_budget=seconds,
        generations=generations,
        seed=seed,
        workers=workers,
        executor=ExecutorSpec(executor, address).kind,
        address=address,
        population=population,
        islands=islands,
        max_cost=max_cost,
        out_dir=out,
        cost_model=cost_model,
        seeds=seeds == "all",
        checkpoint=checkpoint,
        arithmetic=arithmetic,
    )
    request.validate()
    recorder = _recorder(request, strop_home())
    progress = _Progress(unit="ULP" if request.format.precision <= 24 else "relative")
    leftovers = SearchLeftovers(recorder, checkpoint, "the front's C and NumPy files", out)

    def observe(event: object) -> None:
        progress.event(event)
        with held_interrupts():  # a Pareto point's commit and record, whole
            recorder(event)
        leftovers.observe(event)
        if isinstance(event, FrontWritten):
            leftovers.written = True

    with interruptible(leftovers):
        with held_interrupts():  # the run's record and its repo, whole
            recorder.start()
        try:
            # --time is the wall time the user waits: it counts from this process's start
            deadline = Deadline(None if seconds is None else process_started() + seconds)
            with progress:
                report = discover(request, observer=observe, progress=progress.say, deadline=deadline)
        except KeyboardInterrupt:
            raise  # `interruptible` closes the run as stopped and says what it keeps
        except BaseException:
            recorder.finish("failed", "the search stopped with an error")
            raise
        recorder.keep_baselines(report.to_json()["baselines"])  # for `strop report`'s front
        recorder.keep_summary(_verdict(report, recorder))  # the labels, not the grid errors, headline it
        recorder.finish("done")
        _show(report, recorder, as_json)


def _verdict(report: Any, recorder: Any) -> dict[str, Any]:
    """The search's own verdict for `strop report`, the UI and `strop log`'s best: its recorded points
    carry search-grid errors (before verification), so the lowest of them is no discovery; the
    novel point with the widest margin is the search's best, and with none there is nothing to adopt."""
    unit = "ULP" if report.metric == "max_ulp" else "relative"

    def error(entry: Any) -> float:
        return float(entry.max_ulp if report.metric == "max_ulp" else entry.max_rel_error)

    def said(entry: Any) -> str:
        return (
            f"cost {entry.cost:g}: {error(entry):.4g} {unit} on {entry.verified}, "
            f"{entry.margin:.3g}× better than {entry.baseline}"
        )

    novel = sorted(report.novel, key=lambda entry: -(entry.margin or 0.0))
    facts = [["discoveries", "; ".join(said(entry) for entry in novel) or "none"]]
    if report.provisional:
        facts.append(["unconfirmed (novel?)", "; ".join(said(entry) for entry in report.provisional)])
    best = novel[0] if novel else None
    record = (
        None if best is None else recorder.experiment_matching(lambda genome: genome.text() == best.program)
    )
    return {
        "experiment": record.id if record is not None else None,
        "headline": "" if best is None else f"novel, {said(best)}",
        "facts": facts,
        "adopt_note": ""
        if record is not None
        else "nothing to adopt as a discovery: no front point is better than every baseline at its cost "
        "on the full verification set",
        "selection": "each recorded point's metric is its search-grid error, before verification; "
        "the command's table has the verified errors and the labels",
    }


def _show(report: Any, recorder: Any, as_json: bool) -> None:
    """The search's report on stdout: one JSON object, or tables."""
    if as_json:
        data = report.to_json()
        data["run"] = recorder.run.id if recorder.run else None
        typer.echo(json.dumps(_strict(data), default=_json_default, allow_nan=False))
    else:
        _print_report(report)
        if recorder.run is not None:
            typer.echo(f"Pareto points recorded in git as run {recorder.run.id}: strop log {recorder.run.id}")


def _recorder(request: Any, home: Path) -> Any:
    """Records each new Pareto point as an experiment (see agent.search_recorder); not yet started."""
    from agent.domains.numerics.discovery import point_renderer
    from agent.search_recorder import SearchRecorder
    from evaluators.metric import Direction

    inside = request.format.inside
    name = f"numerics-{request.fn}-{request.dtype}" + (f"-in-{inside}" if inside else "")
    recorder = SearchRecorder(
        home=home,
        name=name,
        metric="max_ulp",
        direction=Direction.MINIMIZE,
        render=point_renderer(request),
        description=f"strop evolve numerics --fn {request.fn} --interval {request.lo},{request.hi} --dtype {request.dtype}"
        + (f" --arithmetic {inside}" if inside else "")
        + f" --seed {request.seed}",
    )
    return recorder


def _json_default(value: Any) -> Any:
    return str(value)


def _strict(value: Any) -> Any:
    """The report with inf and nan as the strings "inf" and "nan": `json.dumps` writes them as
    `Infinity` and `NaN`, which are not JSON (jq and JSON.parse refuse the whole report)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


class _Progress:
    """Phases and engine progress on stderr, terminal or not, --json or not, at a modest rate.

    Phase lines always print; baseline and generation lines at most one per `interval`
    seconds (the latest one wins), so a log file gets a line every few seconds, not a flood.
    While it is entered (`with progress:`), a phase that prints nothing for `heartbeat`
    seconds (an exhaustive pass, the speed loops, a slow generation) gets a line saying so.
    """

    def __init__(self, interval: float = 5.0, heartbeat: float = EVERY, unit: str = "") -> None:
        import sys
        import time

        self._unit = unit  # what the search's error is in (its objective is the error's log10)
        self._clock = time.monotonic
        self._stream = sys.stderr
        self._interval = interval
        self._last = -math.inf
        self._phase = ("starting", self._clock())  # the phase under way, and when it began
        self._beat = Heartbeat(self._doing, self._write, heartbeat)

    def __enter__(self) -> _Progress:
        self._beat.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._beat.__exit__(*exc)

    def _doing(self) -> str:
        name, since = self._phase
        return f"  … {name}: still running after {self._clock() - since:.0f}s"

    def _write(self, text: str) -> None:
        # a reader that is gone (a nightly killed outright: its SIGTERM to us comes just after
        # its pipes close) must not end the search as an error; its files and run keep the result
        with contextlib.suppress(BrokenPipeError):
            print(text, file=self._stream, flush=True)

    def _print(self, text: str) -> None:
        self._beat.said()
        self._write(text)

    def say(self, text: str) -> None:
        if text.startswith("phase:"):
            with self._beat.lock:
                name = text.removeprefix("phase:").strip().split(" (")[0]
                self._phase = ("working" if " done" in name else name, self._clock())
            self._print(text)
            self._last = self._clock()
        elif self._clock() - self._last >= self._interval:
            self._print(f"  {text}")
            self._last = self._clock()

    def event(self, event: object) -> None:
        from agent.evolution import GenerationDone

        if isinstance(event, GenerationDone):
            stats = event.stats
            best = f"best error {10 ** event.best[0]:.4g} {self._unit}".rstrip() if event.best else "-"
            self.say(
                f"generation {event.generation}: {stats.evaluated} evaluated "
                f"({stats.evals_per_second:.1f}/s), front {event.front_size}, {best}"
            )


def _verified(report: Any) -> str:
    """How many front points the verification measured: float32 verifies those under 1 ULP on the
    search grid first, the rest while the time allows, and "verified exhaustive" with none of them
    measured told a user the opposite."""
    verified = sum(entry.verified != "search grid" for entry in report.front)
    done = (
        f"{verified} of {len(report.front)} front programs verified {report.verification} on "
        f"{plural(report.verification_points, 'input')} in {report.verification_seconds:.0f}s"
    )
    if verified == len(report.front):
        return done
    why = (
        "those under 1 ULP there are verified on every float first, the others while the time allows"
        if report.verification == "exhaustive"
        else "the time ran out first"
    )
    return f'{done}; the rest keep their search-grid errors, marked "grid" ({why})'


def _measured_on(kind: str | None) -> str:
    """What an error was measured on, in a word for the table: a grid maximum reads low (log2's 4.207
    ULP on the grid is 4.763 on every float), so an error never stands without it."""
    if kind == "exhaustive":
        return "all floats"
    if kind is None or kind == "search grid":
        return "grid"
    return "sample"


def _origin(entry: Any) -> str:
    """The origin column: a float64 discovery says it rests on the sampled set (the design there)."""
    if entry.origin == "novel" and entry.verified != "exhaustive":
        return f"novel ({entry.verified})"
    return entry.origin


def _nothing_found(report: Any) -> str:
    """Why the front is empty, in words: atan on [-1e30, 1e30] drew an empty table and exit 0, with
    only a note far below that the front's points "approximate nothing"."""
    what = f"{report.fn} on [{report.lo:g}, {report.hi:g}] ({report.format.label})"
    if not report.stats.evaluated:
        return f"No front for {what}: the search did not run (see the note below)."
    useful = [b for b in report.baselines if b.max_rel_error < 1 and math.isfinite(b.max_ulp)]
    if useful:
        best = min(useful, key=lambda b: b.max_rel_error)
        baselines = f"the best baseline, {best.name} (cost {best.cost:g}), reaches {best.max_rel_error:.3g}"
    else:
        baselines = "nor does any baseline"
    return (
        f"Nothing the search found approximates {what}: every program's relative error is 1 or more "
        f"somewhere, or not finite; {baselines}. A polynomial or rational follows a function over a few "
        "orders of magnitude at most: try a narrower interval (libm reduces the argument first and "
        "approximates on a small one)."
    )


def _print_report(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a file or a pipe has no width: rich's 80 columns cut the numbers
        console = Console(width=REPORT_WIDTH)
    unit = "ULP" if report.metric == "max_ulp" else "rel"
    table = Table(
        title=f"{report.fn} on [{report.lo}, {report.hi}], {report.format.label}: Pareto front vs the strongest "
        f"baseline at ≤ cost ({report.cost_model} cost)"
    )
    columns = (
        "cost",
        "ops",
        "max ULP",
        "max rel error",
        "on",
        "origin",
        "strongest baseline",
        f"its {unit}",
        "margin",
    )
    baseline_kind = {b.name: b.verified for b in report.baselines}
    for column in columns:  # a narrow terminal folds a number onto two lines, never cuts it to "1.7e+…"
        table.add_column(column, justify="right", overflow="fold")
    for entry in report.front:
        table.add_row(
            f"{entry.cost:g}",
            str(entry.ops),
            f"{entry.max_ulp:.4g}",
            f"{entry.max_rel_error:.3e}",
            _measured_on(entry.verified),
            _origin(entry),
            entry.baseline or "-",
            f"{entry.baseline_error:.4g} ({_measured_on(baseline_kind.get(entry.baseline))})"
            if entry.baseline_error is not None
            else "-",
            f"{entry.margin:.3g}×" if entry.margin is not None else "-",
        )
    table.caption = (
        "on: what the errors were measured on (all floats of the interval, a sample, or the search grid)"
    )
    if report.provisional:
        table.caption += "; " + (
            "novel? = better beyond 2% only on sampled or search-grid errors: unconfirmed, not counted"
        )
    if report.front:
        console.print(table)
    else:  # an empty grid of columns says nothing; say what was not found, and what to try
        console.print(_nothing_found(report), highlight=False, markup=False)
    novel = report.novel
    measured_on = "every float of the interval" if report.format.precision <= 24 else "the full sampled set"
    console.print(
        f"Discoveries (novel: better by > 2% than every baseline at ≤ cost, costs within 5% counting as equal, "
        f"both measured on {measured_on}): {len(novel)}"
        + "".join(f"; cost {e.cost:g} at {e.margin:.3g}× its baseline" for e in novel),
        highlight=False,
    )
    provisional = report.provisional
    if provisional:
        console.print(
            f"Unconfirmed (novel?, not counted: the margin rests on errors measured on less than {measured_on}, "
            "whose maximum reads low, by 1–17% on float32): "
            + "; ".join(f"cost {e.cost:g} at {e.margin:.3g}× ({e.unconfirmed})" for e in provisional),
            highlight=False,
            markup=False,
        )
    if report.speed:
        console.print("Speed, ns per value over 2^24 float32 inputs (best of 5; spread = slowest/best):")
        for timing in report.speed:
            extra = f", {timing.max_ulp:.3g} ULP, {timing.origin}" if timing.max_ulp is not None else ""
            console.print(
                f"  {timing.name}: {timing.ns:.3f} ns (spread {timing.spread:.2f}{extra})", highlight=False
            )
    stats = report.stats
    console.print(
        f"{plural(stats.evaluated, 'program')} evaluated in {stats.wall_time:.0f}s ({stats.evals_per_second:.1f}/s), "
        f"{plural(stats.generations, 'generation')}; structure cache hit rate {report.cache.hit_rate:.0%} "
        f"({plural(report.cache.hits, 'fit')} skipped); {report.duplicate_rate:.0%} of evaluated programs behaved "
        f"like an earlier one; {_verified(report)}.",
        highlight=False,
    )
    cut = f" ({report.z3.timed_out} of them cut at the check's time limit)" if report.z3.timed_out else ""
    console.print(
        f"Z3: {report.z3.rejected} rejected before evaluation (denominator vanishes or negative root; "
        f"≈{report.eval_seconds_saved:.1f}s of evaluation saved), {report.z3.safe} proven safe, "
        f"{report.z3.unknown} not proven{cut}.",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"Note: {note}", highlight=False, markup=False)
    if report.out_dir:
        console.print(f"C and NumPy code of the front: {report.out_dir}", highlight=False)
