"""`strop evolve quant`: per-layer quantization configs under a size budget, against the baselines.

Parses, prints and calls `agent.domains.quantization.search`; numpy, z3, torch,
optuna and scikit-learn are imported inside the command so `strop --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agent.cli.evolve import evolve_app
from agent.errors import UserError

MODEL_SUFFIXES = (".npz", ".pt", ".pth", ".joblib", ".pkl")

QUANT_HELP = """Search per-layer quantization (format, bits, group size, power exponent, rounding) under an average bits-per-weight budget that counts every scale and zero point.

Formats: int_sym, int_asym (2–8 bits, per-channel or groups), power (NUPES, exponent a), mxfp4 (E2M1 + E8M0 scale per 32), nvfp4 (E2M1 + E4M3 scale per 16), fp8 (E4M3).

Z3 checks every candidate before evaluation (budget, group divisibility, the --profile's formats, integer accumulators that must not overflow); infeasible ones are repaired to the nearest feasible config, never evaluated. Selection uses the validation split; the test split is read once per chosen config.

Each new Pareto point is recorded in git as an experiment (files: its config JSON; metrics: val_acc, bytes, avg_bits): see it with `strop log <run>`.

Baselines run in the same call: uniform int 8/4/3/2, greedy, HAWQ-V3 (Hutchinson trace + integer program), random and Optuna TPE at the same number of evaluations.

Examples:

  strop evolve quant --model digits-mlp --budget-bits 3.0

  strop evolve quant --model digits-cnn --budget-bits 2.5 --profile edge-int16 --time 2m --json
"""


def _groups(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--groups takes comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise UserError(f"--groups needs positive group sizes, got {text!r}")
    return values


@evolve_app.command("quant", help=QUANT_HELP)
def quant(
    model: str = typer.Option(
        "digits-mlp", "--model", help="digits-mlp, digits-cnn, or a model file (.npz, .pt/.pth, .joblib/.pkl)"
    ),
    budget_bits: float = typer.Option(
        3.0, "--budget-bits", help="max average bits per weight, scales included"
    ),
    profile: str = typer.Option(
        "generic", "--profile", help="hardware profile: generic, edge-int16, ocp-mx, blackwell"
    ),
    time: str | None = typer.Option(None, "--time", help="engine wall-time budget, e.g. 90s or 2m"),
    generations: int | None = typer.Option(
        None, "--generations", help="engine generations (default 12 without --time)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the engine and of every baseline"),
    groups: str = typer.Option(
        "8,16,32,64", "--groups", help="candidate group sizes (each must divide some layer)"
    ),
    population: int = typer.Option(16, "--population", help="population per island"),
    workers: int = typer.Option(1, "--workers", help="evaluation processes (0 = inline)"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="run the baselines too"),
    out: Path | None = typer.Option(
        None, "--out", help="folder for chosen_config.json and quantized_weights.npz"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
) -> None:
    from rich.console import Console

    from agent.domains.quantization.search import SearchRequest, run_search, write_outputs
    from agent.home import strop_home
    from sandbox.units import UnitError, parse_duration

    try:
        time_budget = parse_duration(time) if time else None
    except UnitError as error:
        raise UserError(str(error)) from None
    if generations is None and time_budget is None:
        generations = 12
    request = SearchRequest(
        model=model,
        budget_bits=budget_bits,
        profile=profile,
        seed=seed,
        time_budget=time_budget,
        generations=generations,
        population=population,
        workers=workers,
        groups=_groups(groups),
        baselines=baselines,
    )
    err = Console(stderr=True)
    recorder = _recorder(request, strop_home())
    with err.status("quantization search") as status:
        progress = _progress(status)

        def observe(event: Any) -> None:
            progress(event)
            if recorder.run is None:  # started on the first event: bad input leaves no run behind
                recorder.start()
            recorder(event)

        try:
            report, domain = run_search(
                request,
                observer=observe,
                note=lambda text: status.update(f"quantization search: {text}"),
            )
        except BaseException:
            recorder.finish("failed", "the search stopped with an error")
            raise
    recorder.finish("done")
    run_id = recorder.run.id if recorder.run else None
    folder = out or strop_home() / "quant" / f"{Path(report.model).name}-b{budget_bits:g}-s{seed}"
    report.outputs = write_outputs(report, domain, folder)
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "run": run_id}))
        return
    _print_report(report, Console())
    if run_id is not None:
        typer.echo(f"Pareto points recorded in git as run {run_id}: strop log {run_id}")


def _recorder(request: Any, home: Path) -> Any:
    """Records each new Pareto point as an experiment (see agent.search_recorder); not yet started."""
    from agent.domains.quantization.search import point_renderer
    from agent.search_recorder import SearchRecorder
    from evaluators.metric import Direction

    model = Path(request.model).stem if request.model.endswith(MODEL_SUFFIXES) else request.model
    recorder = SearchRecorder(
        home=home,
        name=f"quant-{model}-b{request.budget_bits:g}",
        metric="val_acc",
        direction=Direction.MAXIMIZE,
        render=point_renderer(request),
        description=(
            f"strop evolve quant --model {request.model} --budget-bits {request.budget_bits:g} "
            f"--profile {request.profile} --seed {request.seed}"
        ),
    )
    return recorder


def _progress(status: Any) -> Any:
    def observe(event: Any) -> None:
        from agent.evolution import GenerationDone

        if isinstance(event, GenerationDone):
            best = 1 - event.best[0] if event.best else 0.0
            status.update(
                f"quantization search: generation {event.generation}, {event.stats.evaluated} evaluated, "
                f"best val acc ≈ {best:.4f}"
            )

    return observe


def _print_report(report: Any, console: Any) -> None:
    from rich.table import Table

    front = Table(
        title=f"Pareto front: {report.model} ≤ {report.budget_bits:g} bits/weight, profile {report.profile}"
    )
    for column in ("val acc", "bytes", "avg bits", "config (per layer)"):
        front.add_column(column)
    for point in report.front:
        front.add_row(
            f"{point.val_acc:.4f}", f"{point.bytes:,.0f}", f"{point.avg_bits:.3f}", " ".join(point.config)
        )
    console.print(front)
    table = Table(title="chosen vs baselines (test read once per config)")
    for column in ("config", "val acc", "test acc", "bytes", "avg bits", "evaluations"):
        table.add_column(column)
    rows = [("fp32", report.fp32), ("strop (chosen)", report.chosen), *report.baselines.items()]
    for name, s in rows:
        table.add_row(
            name,
            f"{s.val_acc:.4f}",
            f"{s.test_acc:.4f}",
            f"{s.bytes:,.0f}",
            f"{s.avg_bits:.3f}",
            str(s.evaluations),
        )
    console.print(table)
    c = report.checks
    console.print(
        f"Z3: {c['checked']} checked, {c['repaired']} repaired, {c['rejected']} rejected "
        f"→ {c['evaluations_saved']} evaluations saved; accumulator proofs {c['accumulator_proofs']}, "
        f"overflowing genes excluded {c['accumulator_overflows']}"
    )
    console.print(
        f"chosen config: {report.outputs.get('config')}\nquantized weights: {report.outputs.get('weights')}"
    )
