"""`strop evolve`: evolutionary searches run by the generic engine, one command per domain.

This module only parses, prints and calls. Other domains add their commands to
`evolve_app` from their own modules (`from agent.cli.evolve import evolve_app`), so it
must stay cheap to import: numpy, scipy, cma and z3 are imported inside commands.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import typer

from agent.cli import app
from agent.errors import UserError

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


def _interval(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2:
        raise UserError(f"--interval takes two numbers 'lo,hi', not {text!r}")
    try:
        lo, hi = (float(part) for part in parts)
    except ValueError:
        raise UserError(f"--interval takes two numbers 'lo,hi', not {text!r}") from None
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


@evolve_app.command("numerics")
def numerics(
    fn: str = typer.Option(..., "--fn", help="Function to approximate: exp, exp2, log, log2, erf, sin."),
    interval: str = typer.Option(..., "--interval", help="Input interval 'lo,hi' (rounded to the dtype)."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="Target format: float32 (errors in its ULPs) or float64."
    ),
    time_budget: str = typer.Option(
        "60s", "--time", help="Search time, e.g. 90s, 10m (verification adds a little)."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Random seed: the same seed and generations give the same run."
    ),
    generations: int | None = typer.Option(
        None, "--generations", help="Stop after this many generations instead of --time."
    ),
    max_cost: int = typer.Option(
        10, "--max-cost", help="Largest program cost searched (ops depending on x)."
    ),
    population: int = typer.Option(24, "--population", help="Programs per island."),
    islands: int = typer.Option(2, "--islands", help="Islands (ring migration)."),
    workers: int = typer.Option(
        min(2, os.cpu_count() or 1), "--workers", help="Evaluation processes (0 = inline)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the C and NumPy code of the front (default under $STROP_HOME)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (front, baselines, engine, z3) on stdout."
    ),
) -> None:
    """Discover cheap, accurate approximations of FN on an interval (AutoNumerics-Zero style).

    Programs are DAGs of add, sub, mul, div, fma, sqrt and constants; cost counts the ops that
    depend on x. Constants are fitted exactly by linear programming where the form allows it
    and by CMA-ES elsewhere; errors are measured in the target format's own arithmetic
    against extended-precision truth, then verified on millions of inputs. Prints the Pareto
    front (cost, max ULP, max relative error) beside Taylor, Padé and minimax polynomials of
    the same cost, and writes each front program as C (with a harness: build it with
    `cc -O2 -ffp-contract=off prog.c -lm` and run it to re-measure) and as NumPy code.
    """
    from agent.domains.numerics.discovery import Request, discover
    from agent.home import strop_home

    lo, hi = _interval(interval)
    seconds = None if generations is not None else _seconds(time_budget)
    if out is None:
        import time

        out = strop_home() / "evolve" / "numerics" / f"{fn}-{dtype}-{time.strftime('%Y%m%d-%H%M%S')}"
    request = Request(
        fn=fn,
        lo=lo,
        hi=hi,
        dtype=dtype,
        time_budget=seconds,
        generations=generations,
        seed=seed,
        workers=workers,
        population=population,
        islands=islands,
        max_cost=max_cost,
        out_dir=out,
    )
    request.validate()
    recorder = _recorder(request, strop_home())
    progress = _progress_observer(quiet=as_json)

    def observe(event: object) -> None:
        progress(event)
        recorder(event)

    try:
        report = discover(request, observer=observe)
    except BaseException:
        recorder.finish("failed", "the search stopped with an error")
        raise
    recorder.finish("done")
    if as_json:
        data = report.to_json()
        data["run"] = recorder.run.id if recorder.run else None
        typer.echo(json.dumps(data, default=_json_default))
    else:
        _print_report(report)
        if recorder.run is not None:
            typer.echo(f"Pareto points recorded in git as run {recorder.run.id}: strop log {recorder.run.id}")


def _recorder(request: Any, home: Path) -> Any:
    """Records each new Pareto point as an experiment (see agent.search_recorder)."""
    from agent.domains.numerics.discovery import point_renderer
    from agent.search_recorder import SearchRecorder
    from evaluators.metric import Direction

    name = f"numerics-{request.fn}-{request.dtype}"
    recorder = SearchRecorder(
        home=home,
        name=name,
        metric="max_ulp",
        direction=Direction.MINIMIZE,
        render=point_renderer(request),
        description=f"strop evolve numerics --fn {request.fn} --interval {request.lo},{request.hi} --dtype {request.dtype} --seed {request.seed}",
    )
    recorder.start()
    return recorder


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value)


def _progress_observer(quiet: bool):
    from rich.console import Console

    from agent.evolution import GenerationDone

    console = Console(stderr=True)

    def observe(event: object) -> None:
        if isinstance(event, GenerationDone):
            stats = event.stats
            best = f"{10 ** event.best[0]:.3g} ULP" if event.best else "-"
            console.print(
                f"generation {event.generation}: {stats.evaluated} evaluated "
                f"({stats.evals_per_second:.1f}/s), front {event.front_size}, most accurate {best}",
                highlight=False,
            )

    return observe


def _print_report(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"{report.fn} on [{report.lo}, {report.hi}], {report.dtype}: Pareto front vs baselines"
    )
    for column in ("cost", "max ULP", "max rel error", "best baseline (same cost)", "its max ULP", "ratio"):
        table.add_column(column, justify="right")
    for entry in report.front:
        baseline = report.best_baseline(entry.cost)
        ratio = baseline.max_ulp / entry.max_ulp if baseline and entry.max_ulp > 0 else math.nan
        table.add_row(
            str(entry.cost),
            f"{entry.max_ulp:.4g}",
            f"{entry.max_rel_error:.3e}",
            baseline.name if baseline else "-",
            f"{baseline.max_ulp:.4g}" if baseline else "-",
            f"{ratio:.3g}×" if baseline else "-",
        )
    console.print(table)
    stats = report.stats
    console.print(
        f"{stats.evaluated} programs evaluated in {stats.wall_time:.0f}s ({stats.evals_per_second:.1f}/s), "
        f"{stats.generations} generations; verified on {report.verification_points} inputs.",
        highlight=False,
    )
    console.print(
        f"Z3: {report.z3.rejected} rejected before evaluation (denominator vanishes or negative root; "
        f"≈{report.eval_seconds_saved:.1f}s of evaluation saved), {report.z3.safe} proven safe, "
        f"{report.z3.unknown} not proven.",
        highlight=False,
    )
    if report.out_dir:
        console.print(f"C and NumPy code of the front: {report.out_dir}", highlight=False)
