"""`strop evolve quant`: per-layer quantization configs under a size budget, against the baselines.

Parses, prints and calls `agent.domains.quantization.search`; numpy, z3, torch,
optuna and scikit-learn are imported inside the command so `strop --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import typer

from agent.cli.evolve import evolve_app
from agent.cli.heartbeat import EVERY, Heartbeat
from agent.cli.render import plural, print_table
from agent.errors import UserError

MODEL_SUFFIXES = (".npz", ".pt", ".pth", ".joblib", ".pkl")

QUANT_HELP = """Search per-layer quantization (format, bits, group size, power exponent, rounding) under an average bits-per-weight budget that counts every scale and zero point.

Formats: int_sym, int_asym (2–8 bits, per-channel or groups), power (NUPES, exponent a), mxfp4 (E2M1 + E8M0 scale per 32), nvfp4 (E2M1 + E4M3 scale per 16), fp8 (E4M3).

Z3 checks every candidate before evaluation (budget, group divisibility, the --profile's formats, integer accumulators that must not overflow); infeasible ones are repaired to the nearest feasible config, never evaluated. Selection uses the validation split; the test split is read once per chosen config.

Each new Pareto point is recorded in git as an experiment (files: its config JSON; metrics: val_acc, bytes, avg_bits): see it with `strop log <run>`.

Baselines run in the same call, with the search's own menu: uniform int 8/4/3/2, the best uniform int (sym/asym, any group, RTN or GPTQ), greedy, HAWQ-V3 (Hutchinson trace + integer program over every format, group and rounding), random and Optuna TPE (the same space and Z3 check, at most the engine's evaluations). The report names the strongest baseline and the chosen config's paired test margin over it (95% interval, exact McNemar on the images only one of them gets right; "tie" when it spans zero).

--time bounds the whole command, baselines included: the time left after set-up is split between the engine (45%), the fast baselines (15%), random and TPE (the rest); the split is printed first, and --baselines fast|none gives the engine the rest. Progress (phases, generations, each baseline) goes to stderr in every mode, --json included.

Examples:

  strop evolve quant --model digits-mlp --budget-bits 3.0

  strop evolve quant --model digits-cnn --budget-bits 2.5 --profile edge-int16 --time 2m --json

  strop evolve quant --model my_mlp.joblib --data my_data.npz --budget-bits 4.0 --time 5m
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
        "digits-mlp",
        "--model",
        help="digits-mlp, digits-cnn, minilm (the knowledge store's embedder: writes embedder.json "
        "for `strop knowledge --embedder`), or a model file (.npz, .pt/.pth, .joblib/.pkl)",
    ),
    budget_bits: float = typer.Option(
        3.0, "--budget-bits", help="max average bits per weight, scales included"
    ),
    profile: str = typer.Option(
        "generic", "--profile", help="hardware profile: generic, int-fp, edge-int16, ocp-mx, blackwell"
    ),
    time: str | None = typer.Option(
        None, "--time", help="wall time for the whole command, baselines included, e.g. 90s or 2m"
    ),
    generations: int | None = typer.Option(
        None, "--generations", help="engine generations (default 12 without --time)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the engine and of every baseline"),
    groups: str | None = typer.Option(
        None,
        "--groups",
        help="candidate group sizes, e.g. 8,16,32 (each must divide some layer's input width and be "
        "smaller than it). Default: those of 8,16,32,64 that fit the model",
    ),
    population: int = typer.Option(16, "--population", help="population per island"),
    workers: int = typer.Option(1, "--workers", help="evaluation processes (0 = inline)"),
    executor: str = typer.Option("local", "--executor", help="where candidates are evaluated: local or ray"),
    address: str | None = typer.Option(None, "--address", help="the Ray head for --executor ray"),
    baselines: str | None = typer.Option(
        None, "--baselines", help="all (the default), fast (uniform, greedy, HAWQ-V3: no random/TPE) or none"
    ),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="same as --baselines none"),
    out_text: str | None = typer.Option(  # a str: typer made "" into Path("") = ".", the current folder
        None,
        "--out",
        help="folder for chosen_config.json and quantized_weights.npz (and embedder.json for minilm); "
        "the files of an earlier run there are replaced. Default: a new folder per run, "
        "$STROP_HOME/quant/<model>-b<bits>-s<seed>-<YYYYmmdd-HHMMSS>",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="your classification data for a model file (.npz): arrays x, y (split here 50/25/25 per "
        "class) or x_train, y_train, x_val, y_val, x_test, y_test; x is (n, features) or "
        "(n, channels, h, w), y class indices (the model's output indices; a model with one output is "
        "read as a binary logit, classes 0 and 1). Default: the bundled digits",
    ),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="save the search's population here as it goes, and continue from it when it exists "
        "(a warm start: give the same model, budget, profile and shape as the run that wrote it)",
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="load a .pt/.pth/.joblib/.pkl file with full unpickling: the file's code runs when it is "
        "loaded; only for files you made. Without it, torch files load weights only (a state dict) and "
        "scikit-learn files only the classes of a fitted MLPClassifier",
    ),
) -> None:
    from agent.deadline import Deadline
    from sandbox.units import UnitError, parse_duration

    started = _stamp()
    out = None if out_text is None else check_out(out_text)  # before the search's minutes
    if checkpoint is not None:  # a bad place failed with an internal error after the baselines
        check_checkpoint(checkpoint)
    if workers < 0:  # the engine took -1 silently; refused before the set-up's seconds
        raise UserError(f"--workers must be 0 (evaluate inline) or a number of processes, not {workers}")
    try:
        time_budget = parse_duration(time) if time else None
    except UnitError as error:
        raise UserError(str(error)) from None
    # the whole command: from the moment the process started (interpreter and imports count too)
    deadline = Deadline(None) if time_budget is None else Deadline(process_start() + time_budget)
    from agent.cli.interrupted import SearchLeftovers, interruptible
    from agent.domains.quantization.search import DEFAULT_GROUPS, SearchRequest, run_search, write_outputs
    from agent.executors import ExecutorSpec
    from agent.home import strop_home
    from agent.loop.interrupts import held_interrupts

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
        executor=ExecutorSpec(executor, address).kind,
        address=address,
        groups=DEFAULT_GROUPS if groups is None else _groups(groups),
        groups_given=groups is not None,
        baselines=_baselines(baselines, no_baselines),
        checkpoint=checkpoint,
        data=data,
        allow_pickle=allow_pickle,
    )
    recorder = _recorder(request, strop_home())
    progress = Progress()
    leftovers = SearchLeftovers(recorder, checkpoint, "the chosen config and its quantized weights", out)

    def observe(event: Any) -> None:
        progress(event)
        leftovers.observe(event)
        with held_interrupts():  # the run's start, a Pareto point's commit and record: whole
            if recorder.run is None and _is_engine_event(event):  # bad input leaves no run behind
                recorder.start()
            if recorder.run is not None:
                recorder(event)

    place: dict[str, Path] = {}  # the output folder, made once (the default one is new per run)

    def write(report: Any, domain: Any) -> None:
        folder = (
            place.get("folder")
            or out
            or new_folder(
                strop_home() / "quant", f"{Path(report.model).name}-b{budget_bits:g}-s{seed}-{started}"
            )
        )
        place["folder"] = leftovers.folder = folder
        with held_interrupts():  # whole files or none: a stop signal waits for the last one
            report.outputs = write_outputs(report, domain, folder)
            leftovers.written = True

    def chosen_ready(report: Any, domain: Any) -> None:
        """The chosen config's files, before random and TPE: a stop during them keeps the pick."""
        with contextlib.suppress(OSError):  # said, with its reason, when written again at the end
            write(report, domain)

    with interruptible(leftovers):
        try:
            with progress:
                report, domain = run_search(
                    request, observer=observe, deadline=deadline, chosen_ready=chosen_ready
                )
        except KeyboardInterrupt:
            raise  # `interruptible` closes the run as stopped and says what it keeps
        except BaseException:
            if recorder.run is not None:
                recorder.finish("failed", "the search stopped with an error")
            raise
        if recorder.run is None:
            recorder.start()
        recorder.keep_baselines({name: b.to_json() for name, b in report.baselines.items()})
        recorder.keep_summary(report.summary(_chosen_experiment(report, recorder)))
        recorder.finish("done")
        unwritten = ""
        try:
            write(report, domain)
        except OSError as error:  # the search's result is still worth its report
            folder = place.get("folder") or out
            where = f"{error.filename}: " if error.filename else ""
            unwritten = (
                f"error: nothing was written to {folder or strop_home() / 'quant'} ({where}"
                f"{error.strerror or error}): the report is all that is kept of the chosen config"
            )
        progress.line(f"done in {progress.elapsed():.1f}s")
        _show(report, recorder, as_json, unwritten)
        if unwritten:
            typer.echo(unwritten, err=True)
            _quick_exit()
            raise typer.Exit(1)
    _quick_exit()


def check_checkpoint(checkpoint: Path) -> None:
    """Refuse a --checkpoint that cannot be written, as one line (exit 2), before the search runs.

    A folder, a path under a file, or an unwritable place (/proc) failed with an internal error
    after the baselines, leaving its `.identity.json` beside it. Nothing is left behind here.
    """
    import os
    import tempfile

    if str(checkpoint) in ("", "."):
        raise UserError("--checkpoint needs a file path, e.g. --checkpoint quant.ckpt")
    if checkpoint.is_dir():
        raise UserError(f"--checkpoint {checkpoint} is a folder: name a file (new, or one a run wrote)")
    probe = checkpoint.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"--checkpoint {checkpoint}: {probe} is a file, not a folder")
    try:  # access() says yes to root on /proc: try it, and leave nothing behind
        handle, made = tempfile.mkstemp(prefix=".strop-checkpoint-check-", dir=probe)
        os.close(handle)
        os.unlink(made)
    except OSError as error:
        raise UserError(
            f"--checkpoint {checkpoint}: cannot write in {probe}: {error.strerror or error}"
        ) from None


def check_out(text: str | Path) -> Path:
    """Refuse an --out that cannot take the outputs, as one line (exit 2), before the search runs;
    the folder as a `Path`.

    A folder is needed: an existing file, a path under a file, or a place that cannot be written
    (a read-only folder, /proc) failed with `FileExistsError` after the whole search, printing nothing.
    """
    import os
    import tempfile

    if str(text).strip() == "":  # Path("") is ".": an empty --out wrote into the current folder
        raise UserError("--out needs a folder, e.g. --out quant-out")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder: name a folder (new or existing)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"--out {out}: {probe} is a file, not a folder")
    try:  # access() says yes to root on /proc: try it, and leave nothing behind
        made = tempfile.mkdtemp(prefix=".strop-out-check-", dir=probe)
        os.rmdir(made)
    except OSError as error:
        raise UserError(f"--out {out}: cannot write in {probe}: {error.strerror or error}") from None
    return out


def _chosen_experiment(report: Any, recorder: Any) -> int | None:
    """The experiment that recorded the chosen config (None: one the search never had on its front)."""
    from agent.domains.quantization.formats import LayerGene

    genome = tuple(LayerGene.from_json(g) for g in report.chosen.config or [])
    record = recorder.experiment_of(genome)
    return None if record is None else record.id


def _stamp() -> str:
    """This run's start as the default output folder's suffix (as `evolve numerics` names its own)."""
    import time as clock

    return clock.strftime("%Y%m%d-%H%M%S")


def new_folder(parent: Path, name: str) -> Path:
    """`home.fresh_folder`, made now: a run with the same model, budget and seed wrote over an
    earlier run's chosen_config.json and quantized_weights.npz without notice."""
    from agent.home import fresh_folder

    folder = fresh_folder(parent, name)
    folder.mkdir(parents=True)
    return folder


def _show(report: Any, recorder: Any, as_json: bool, unwritten: str = "") -> None:
    """The search's report on stdout: one JSON object, or tables."""
    from rich.console import Console

    run_id = recorder.run.id if recorder.run else None
    if as_json:
        extra = {"outputs_error": unwritten} if unwritten else {}
        typer.echo(json.dumps({**report.to_json(), "run": run_id, **extra}))
    else:
        _print_report(report, Console())
        if run_id is not None:
            typer.echo(f"Pareto points recorded in git as run {run_id}: strop log {run_id}")


def _quick_exit() -> None:
    """Spare the interpreter's last garbage collections over torch's objects at exit.

    Measured on the shared 2-core machine (load 12): a process that imported torch took
    4.3–5.3 s to exit, 1.3–1.6 s after `gc.freeze()`; that time counts against `--time`.
    Everything is written and flushed by now; freezing only skips the final sweeps.
    """
    import gc

    gc.freeze()


def _baselines(given: str | None, none: bool) -> str:
    """--baselines, or "none" for --no-baselines; both, disagreeing, are refused (one was lost)."""
    if none and given not in (None, "none"):
        raise UserError(f"--no-baselines and --baselines {given} disagree: give one of them")
    return "none" if none else (given or "all")


def process_start() -> float:
    """When this process started (epoch seconds): `--time` is the wall time the user waits, so the
    1–3 s of interpreter start-up and imports count against it too (`agent.deadline`'s clock, from
    /proc/uptime: btime, whole seconds, put the start up to 1 s early)."""
    from agent.deadline import process_started

    return process_started()


def _is_engine_event(event: Any) -> bool:
    from agent.evolution.events import CheckpointWritten, GenerationDone, ParetoPointFound

    return isinstance(event, GenerationDone | ParetoPointFound | CheckpointWritten)


class Progress:
    """Progress lines on stderr in every mode (terminal or not, --json or not), at a modest rate.

    Phases and baselines each print when they start and end; engine generations at most
    once every `interval` seconds (and never the same generation twice). While it is entered
    (`with progress:`), a phase that prints nothing for `heartbeat` seconds (a random or TPE
    baseline given half a minute) gets a line saying it still runs. Plain text, no console
    markup: a config label must print as it is.
    """

    def __init__(self, interval: float = 3.0, heartbeat: float = EVERY) -> None:
        import time as clock

        self.clock = clock
        self.interval = interval
        self.started = process_start()
        self.last_generation = -self.interval
        self.phase: tuple[str, float] | None = None  # the phase under way, and when it began
        self._beat = Heartbeat(self._doing, self._write, heartbeat)

    def __enter__(self) -> Progress:
        self._beat.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._beat.__exit__(*exc)

    def _doing(self) -> str:
        what = (
            f"{self.phase[0]} running for {self.elapsed() - self.phase[1]:.0f}s" if self.phase else "working"
        )
        return f"... {what}"

    def elapsed(self) -> float:
        return self.clock.time() - self.started

    def _write(self, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):  # a reader that is gone is no error of the search
            typer.echo(f"[{self.elapsed():6.1f}s] {text}", err=True)

    def line(self, text: str) -> None:
        self._beat.said()
        self._write(text)

    def __call__(self, event: Any) -> None:
        from agent.domains.quantization.timeplan import PhaseDone, PhaseStarted, PlanMade
        from agent.evolution import GenerationDone

        if isinstance(event, PlanMade):
            if event.total is not None:
                shares = ", ".join(f"{name} ≤ {seconds:.0f}s" for name, seconds in event.shares)
                self.line(f"time plan for the {event.total:.0f}s left: {shares}")
        elif isinstance(event, PhaseStarted):
            with self._beat.lock:
                self.phase = (event.name, self.elapsed())
            limit = f" (≤ {event.seconds:.0f}s)" if event.seconds is not None else ""
            self.line(f"{event.name}{limit} ...")
        elif isinstance(event, PhaseDone):
            with self._beat.lock:
                self.phase = None
            self.line(
                f"{event.name} done in {event.seconds:.1f}s" + (f": {event.detail}" if event.detail else "")
            )
        elif isinstance(event, GenerationDone):
            now = self.elapsed()
            if now - self.last_generation >= self.interval:
                self.last_generation = now
                best = 1 - event.best[0] if event.best else 0.0
                self.line(
                    f"engine generation {event.generation}: {event.stats.evaluated} evaluated "
                    f"({event.stats.evals_per_second:.1f}/s), front {event.front_size}, best val acc ≈ {best:.4f}"
                )


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
            + (f" --data {request.data}" if request.data is not None else "")
        ),
    )
    return recorder


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
    print_table(front, console)
    table = Table(title="chosen vs baselines (test read once per config)")
    for column in ("config", "val acc", "test acc", "bytes", "avg bits", "evaluations", "seconds"):
        table.add_column(column)
    rows = [("fp32", report.fp32), ("strop (chosen)", report.chosen), *report.baselines.items()]
    forbidden = False
    for name, s in rows:
        forbidden = forbidden or not s.feasible
        table.add_row(
            name + ("" if s.feasible else " (not allowed by --profile)"),
            f"{s.val_acc:.4f}",
            f"{s.test_acc:.4f}",
            f"{s.bytes:,.0f}",
            f"{s.avg_bits:.3f}",
            str(s.evaluations) + (" (cut by time)" if s.cut else ""),
            f"{s.seconds:.1f}",
        )
    print_table(table, console)
    if forbidden:
        console.print(
            f"(not allowed by --profile): a reference row profile {report.profile} forbids (its formats, or "
            "an integer accumulator it would overflow); never the strongest baseline",
            highlight=False,
            markup=False,
        )
    console.print(
        "chosen config: " + ", ".join(report.chosen_labels()), highlight=False, markup=False, soft_wrap=True
    )
    if report.pick:
        console.print(
            f"{report.pick} (validation scores are selection scores: a front point above it is not "
            "better on test for that)",
            highlight=False,
            markup=False,
        )
    margin = report.margin()
    if margin is not None:
        base = report.baselines[margin["baseline"]]
        console.print(
            f"strongest baseline inside the budget: {margin['baseline']} (test {base.test_acc:.4f}); "
            f"chosen − it = {margin['value'] * 100:+.2f} points, 95% interval "
            f"[{margin['low'] * 100:+.2f}, {margin['high'] * 100:+.2f}] on the same test images: "
            f"{margin['verdict']}",
            highlight=False,
            markup=False,
        )
    console.print(_origin_line(report.chosen.origin), highlight=False, markup=False)
    if report.phases:
        phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.phases.items())
        console.print(f"time per phase: {phases}", highlight=False, markup=False)
    c = report.checks
    console.print(
        f"Z3: {c['checked']} checked, {c['repaired']} repaired, {c['rejected']} rejected "
        f"→ {plural(c['evaluations_saved'], 'evaluation')} saved; accumulator proofs {c['accumulator_proofs']}, "
        f"overflowing genes excluded {c['accumulator_overflows']}"
    )
    if report.outputs:  # whole paths, never folded mid-name (they are copied from the terminal)
        for key, what in (
            ("config", "chosen config file"),
            ("weights", "quantized weights"),
            ("embedder", "embedder"),
        ):
            if key in report.outputs:
                console.print(f"{what}: {report.outputs[key]}", highlight=False, markup=False, soft_wrap=True)


def _origin_line(origin: str) -> str:
    """Where the chosen config came from, said plainly: a baseline's own config is no discovery."""
    if origin.startswith("baseline "):
        return f"chosen config's origin: {origin}: the same config, a tie with it by construction, not a discovery"
    return f"chosen config's origin: {origin or 'search'}"
